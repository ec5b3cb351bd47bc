"""Docker events: which streams to open, the thread that reads each one, and what an event says.

The engine's event streams block, so each is read by its own daemon thread (:func:`pump`) and handed to
the asyncio loop with ``loop.call_soon_threadsafe``; :class:`~sidecar.sources.docker.source.DockerSource`
decides what an event changed.

Measured on docker SDK 7.x / Engine 20.10 (see docs/sidecar.md): a ``label`` filter on network events
filters by the *network's* labels, and a network event carries only the network's id, its name and the
container's id. So network connect/disconnect events are taken unfiltered and matched here against the
known container and network ids. In mode dev-approve-all unlabelled containers count too, so container
events are taken without the label filter as well and filtered in code.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sidecar.errors import SourceError
from sidecar.sources.docker.api import DockerAPI, EventStream
from sidecar.sources.docker.scope import DockerSourceOptions, ProjectScope, list_filters

CONTAINER_ACTIONS = ("start", "restart", "die", "destroy", "rename")
NETWORK_ACTIONS = ("connect", "disconnect")

Post = Callable[[tuple[str, Any]], None]


def event_filters(options: DockerSourceOptions, scope: ProjectScope) -> dict[str, dict[str, Any]]:
    """The engine-side filters of the two streams, by stream kind."""
    container: dict[str, Any] = {"type": ["container"], "event": list(CONTAINER_ACTIONS)}
    if not options.dev_approve_all:  # dev-approve-all also follows unlabelled containers
        container["label"] = list_filters(options, scope)["label"]
    return {
        "container": container,
        # A label filter here would match the *network's* labels: take all connects and filter in code.
        "network": {"type": ["network"], "event": list(NETWORK_ACTIONS)},
    }


@dataclass(frozen=True)
class DockerEvent:
    """The parts of an engine event the source uses."""

    type: str  # "container" | "network"
    action: str
    container_id: str
    network_id: str  # network events only
    attrs: Mapping[str, str]  # container events: its labels plus name and image; network: name, container

    @property
    def name(self) -> str:
        return str(self.attrs.get("name") or self.container_id[:12])


def parse_event(event: Any) -> DockerEvent | None:
    """A container or network event the source follows, or None for anything else."""
    if not isinstance(event, Mapping):
        return None
    etype, action = event.get("Type"), str(event.get("Action", ""))
    actor = event.get("Actor") or {}
    attrs = {str(k): str(v) for k, v in (actor.get("Attributes") or {}).items()}
    if etype == "container" and action in CONTAINER_ACTIONS:
        cid = str(actor.get("ID") or event.get("id") or "")
        return DockerEvent("container", action, cid, "", attrs)
    if etype == "network" and action in NETWORK_ACTIONS:
        return DockerEvent("network", action, attrs.get("container", ""), str(actor.get("ID") or ""), attrs)
    return None


def pump(
    api: DockerAPI,
    kind: str,
    filters: dict[str, Any],
    streams: list[EventStream],
    closing: threading.Event,
    loop: asyncio.AbstractEventLoop,
    post: Post,
) -> None:
    """Thread body: read one blocking event stream and hand each event to the loop.

    Posts ``("open", kind)`` once the stream is open, ``("event", e)`` per event, and ``("end", why)`` or
    ``("error", why)`` when the stream stops without ``closing`` being set.
    """

    def send(item: tuple[str, Any]) -> bool:
        try:
            loop.call_soon_threadsafe(post, item)
        except RuntimeError:  # loop closed: nobody is listening any more
            return False
        return True

    try:
        stream: EventStream = api.events(filters=filters, decode=True)
        streams.append(stream)
        if closing.is_set():
            stream.close()
            return
        send(("open", kind))
        for event in stream:
            if closing.is_set() or not send(("event", event)):
                return
        if not closing.is_set():
            send(("end", f"the {kind} event stream ended (engine restarted or connection closed)"))
    except Exception as exc:  # any failure of the stream ends the watch; the caller reconnects
        if not closing.is_set():
            send(("error", f"{kind} events: {type(exc).__name__}: {exc}"))


async def wait_streams_open(
    queue: asyncio.Queue[tuple[str, Any]], expected: int, timeout_s: float, clock: Callable[[], float]
) -> None:
    """Wait for ``expected`` ``open`` messages; SourceError on an error, an end or the timeout."""
    opened = 0
    deadline = clock() + timeout_s
    while opened < expected:
        remaining = deadline - clock()
        if remaining <= 0:
            raise SourceError("the Docker engine did not open an event stream in time; will retry")
        try:
            kind, payload = await asyncio.wait_for(queue.get(), timeout=remaining)
        except TimeoutError:
            continue
        if kind == "open":
            opened += 1
        elif kind in ("error", "end"):
            raise SourceError(f"cannot follow Docker events: {payload}")
