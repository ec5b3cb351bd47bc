"""The :class:`DockerSource`: engine access, caching and the event watch, around the pure parts.

- **Events first, a safety net always.** Caches are trusted only while the event stream is live; without
  it every :meth:`DockerSource.snapshot` re-reads. Negative identity results are never cached, because an
  agent may publish its identity a moment after its container starts.
- **The event loop never blocks.** Every SDK call runs in a worker thread; the blocking event streams run
  in their own daemon threads and are bridged into asyncio with ``loop.call_soon_threadsafe`` through a
  bounded queue (an overflow forces a full refresh instead of growing memory).

Measured on docker SDK 7.x / Engine 20.10 (see docs/sidecar.md): a ``label`` filter on network events
filters by the *network's* labels, so network connect/disconnect events are taken unfiltered and matched
against the known container ids here.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sidecar.errors import SourceError
from sidecar.identity.keys import PublicIdentity
from sidecar.sources.docker.archive import (
    IdentityUnavailable,
    check_archive_stat,
    identity_path_for,
    parse_identity_archive,
    read_bounded,
)
from sidecar.sources.docker.inspect import ipam_gateways, network_addresses, workload_from_summary
from sidecar.sources.docker.scope import (
    DockerSourceOptions,
    ProjectScope,
    find_own_container,
    is_selected,
    list_filters,
    resolve_scope,
)
from sidecar.sources.workloads import ChangeCallback, Workload

# The package's name, as before the split: log lines and logging configuration keep matching.
log = logging.getLogger("sidecar.sources.docker")

_ARCHIVE_CHUNK = 16 * 1024

CONTAINER_ACTIONS = ("start", "restart", "die", "destroy", "rename")
NETWORK_ACTIONS = ("connect", "disconnect")


# --- the Docker API surface this package uses (docker.APIClient; fakes in unit tests) ----------------


class DockerAPI(Protocol):
    def containers(self, *, all: bool = ..., filters: dict[str, Any] | None = ...) -> Any: ...
    def inspect_container(self, container: str) -> Any: ...
    def inspect_network(self, net_id: str) -> Any: ...
    def get_archive(self, container: str, path: str, chunk_size: int | None = ...) -> Any: ...
    def events(self, *, filters: dict[str, Any] | None = ..., decode: Literal[True] = ...) -> Any: ...
    def ping(self) -> Any: ...


class EventStream(Protocol):
    def __iter__(self) -> Iterator[Any]: ...
    def close(self) -> None: ...


def connect(base_url: str | None = None, timeout: float = 10.0) -> DockerAPI:
    """A low-level client from DOCKER_HOST (or ``base_url``); errors name what to fix."""
    import docker  # lazy: keeps `openclaw-sidecar --help` fast

    try:
        if base_url:
            return docker.APIClient(base_url=base_url, timeout=int(timeout), version="auto")
        return docker.from_env(timeout=int(timeout)).api
    except docker.errors.DockerException as exc:
        where = base_url or os.environ.get("DOCKER_HOST") or "default socket"
        raise SourceError(
            f"cannot connect to the Docker engine ({where}): {exc}. "
            "Mount /var/run/docker.sock (read-only is enough) or a socket proxy and set DOCKER_HOST"
        ) from None


def _is_not_found(exc: BaseException) -> bool:
    return getattr(getattr(exc, "response", None), "status_code", None) == 404


def _is_api_error(exc: BaseException) -> bool:
    """An HTTP answer from the engine (the engine is there, the request failed) vs a lost connection."""
    response = getattr(exc, "response", None)
    return response is not None and getattr(response, "status_code", None) is not None


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(1 << 20)
    except OSError:
        return ""


# --- the source -----------------------------------------------------------------------------------


@dataclass
class _IdentityEntry:
    path: str
    identity: PublicIdentity
    read_at: float


@dataclass
class _Cache:
    workloads: tuple[Workload, ...] | None = None
    listed_at: float = 0.0
    identities: dict[str, _IdentityEntry] = field(default_factory=dict)
    ipam: dict[str, list[str]] = field(default_factory=dict)
    known_ids: frozenset[str] = frozenset()  # ids of the last listing (kept across invalidations)
    # Bumped by every invalidation: a refresh that started before an event must not store what it read.
    generation: int = 0


class DockerSource:
    """:class:`~sidecar.sources.workloads.WorkloadSource` backed by a Docker engine."""

    def __init__(
        self,
        api: DockerAPI,
        options: DockerSourceOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        proc_root: str = "/proc/self",
        hostname: str | None = None,
    ) -> None:
        self._api = api
        self._options = options or DockerSourceOptions()
        self._clock = clock
        self._proc_root = proc_root
        self._hostname = hostname if hostname is not None else os.environ.get("HOSTNAME")
        self._scope: ProjectScope | None = None
        self._cache = _Cache()
        self._cache_lock = threading.Lock()  # guards _cache between worker threads and the loop
        self._refresh_lock: asyncio.Lock | None = None
        self._connected = False
        self._watching = False

    # --- public -------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def scope(self) -> ProjectScope | None:
        return self._scope

    async def resolve_scope(self) -> ProjectScope:
        """Find the project to watch now (call at startup so a ConfigError stops the sidecar early)."""
        return await asyncio.to_thread(self._scope_blocking)

    async def snapshot(self) -> tuple[Workload, ...]:
        if self._refresh_lock is None:
            self._refresh_lock = asyncio.Lock()
        async with self._refresh_lock:  # concurrent callers share one refresh
            cached = self._fresh_cache()
            if cached is not None:
                return cached
            return await asyncio.to_thread(self._refresh_blocking)

    def invalidate(self, container_id: str | None = None) -> None:
        """Forget cached data (one container's identity, or everything); the next snapshot re-reads."""
        with self._cache_lock:
            self._cache.generation += 1
            self._cache.workloads = None
            if container_id is None:
                self._cache.identities.clear()
            else:
                self._cache.identities.pop(container_id, None)

    async def watch(self, stop: Callable[[], bool], on_change: ChangeCallback) -> None:
        """Follow container and network events until ``stop()``; SourceError when the engine is lost."""
        await self.resolve_scope()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=self._options.event_queue_size)
        overflow = threading.Event()
        streams: list[EventStream] = []
        closing = threading.Event()

        def post(item: tuple[str, Any]) -> None:  # runs on the loop thread
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                overflow.set()

        threads = [
            threading.Thread(
                target=self._pump,
                args=(kind, filters, streams, closing, loop, post),
                name=f"docker-events-{kind}",
                daemon=True,
            )
            for kind, filters in self._event_filters().items()
        ]
        self.invalidate()
        try:
            for thread in threads:
                thread.start()
            await self._wait_streams_open(streams, len(threads), queue)
            self._watching = True
            self._connected = True
            self.invalidate()  # anything cached before the stream was live may have missed events
            await _call(on_change, "docker:connected")
            next_ping = self._clock() + self._options.ping_interval_s
            while not stop():
                if overflow.is_set():  # events were dropped: whatever they said, re-read everything
                    overflow.clear()
                    self.invalidate()
                    await _call(on_change, "docker:events-overflow")
                if self._clock() >= next_ping:
                    await self._ping()
                    next_ping = self._clock() + self._options.ping_interval_s
                try:
                    kind, payload = await asyncio.wait_for(queue.get(), timeout=0.2)
                except TimeoutError:
                    continue
                if kind in ("error", "end"):
                    self._connected = False
                    raise SourceError(
                        f"lost the Docker event stream: {payload}; will reconnect and reconcile"
                    )
                reason = self._apply_event(payload)
                if reason is not None:
                    await _call(on_change, reason)
        finally:
            self._watching = False
            closing.set()
            for stream in list(streams):
                with contextlib.suppress(Exception):
                    stream.close()
            self.invalidate()

    # --- scope --------------------------------------------------------------------------------

    def _scope_blocking(self) -> ProjectScope:
        if self._scope is None:
            own: Mapping[str, Any] | None = None
            if not (self._options.all_projects or self._options.project):
                own = find_own_container(
                    self._inspect_or_none,
                    cgroup=_read_text(f"{self._proc_root}/cgroup"),
                    mountinfo=_read_text(f"{self._proc_root}/mountinfo"),
                    hostname=self._hostname,
                    sharing=self._sharing_network_of,
                )
            self._scope = resolve_scope(self._options, own)
            log.info("docker source watches %s", self._scope.describe())
        return self._scope

    def _sharing_network_of(self, container_id: str) -> list[str]:
        """Ids of containers that run in ``container_id``'s network namespace (network_mode container:)."""
        summaries = self._call(self._api.containers, all=True) or []
        mode = f"container:{container_id}"
        return [str(s["Id"]) for s in summaries if ((s.get("HostConfig") or {}).get("NetworkMode")) == mode]

    def _inspect_or_none(self, container: str) -> Mapping[str, Any] | None:
        try:
            attrs = self._call(self._api.inspect_container, container)
        except _NotFound:
            return None
        return attrs if isinstance(attrs, Mapping) else None

    # --- listing ------------------------------------------------------------------------------

    def _fresh_cache(self) -> tuple[Workload, ...] | None:
        """The cached list if events are flowing, it is young enough and no identity needs a retry."""
        with self._cache_lock:
            cached = self._cache.workloads
            if cached is None or not self._watching:
                return None
            if self._clock() - self._cache.listed_at > self._options.list_max_age_s:
                return None
            if any(w.running and w.identity is None for w in cached):
                return None  # negative results are never cached
            return cached

    def _refresh_blocking(self) -> tuple[Workload, ...]:
        scope = self._scope_blocking()
        with self._cache_lock:
            generation = self._cache.generation
        summaries = self._call(self._api.containers, all=True, filters=list_filters(self._options, scope))
        workloads: list[Workload] = []
        for summary in summaries or []:
            labels = summary.get("Labels") or {}
            if not is_selected(labels, self._options, scope):
                continue
            _, _, network_ids = network_addresses(summary)
            ipam = {name: self._ipam_for(net_id) for name, net_id in network_ids.items()}
            identity, error = self._identity_for(summary, generation)
            workloads.append(
                workload_from_summary(summary, ipam=ipam, identity=identity, identity_error=error)
            )
        result = tuple(sorted(workloads, key=lambda w: (w.name, w.id)))
        with self._cache_lock:
            self._cache.known_ids = frozenset(w.id for w in result)
            if self._cache.generation == generation:  # no event arrived meanwhile: safe to reuse
                self._cache.workloads = result
                self._cache.listed_at = self._clock()
            for stale in [cid for cid in self._cache.identities if cid not in self._cache.known_ids]:
                del self._cache.identities[stale]
        return result

    def _ipam_for(self, network_id: str) -> list[str]:
        with self._cache_lock:
            if network_id in self._cache.ipam:
                return self._cache.ipam[network_id]
        try:
            network = self._call(self._api.inspect_network, network_id)
        except _NotFound:
            return []  # removed between list and inspect; the endpoint's own gateway still counts
        gateways = ipam_gateways(network) if isinstance(network, Mapping) else []
        with self._cache_lock:  # a network's IPAM cannot change while it exists: cache by id
            self._cache.ipam[network_id] = gateways
        return gateways

    # --- identity -----------------------------------------------------------------------------

    def _identity_for(
        self, summary: Mapping[str, Any], generation: int
    ) -> tuple[PublicIdentity | None, str | None]:
        cid = str(summary["Id"])
        if summary.get("State") != "running":
            return None, f"container is {summary.get('State') or 'not running'}; its identity is not read"
        try:
            path = identity_path_for(summary.get("Labels") or {}, self._options)
        except IdentityUnavailable as exc:
            return None, str(exc)
        now = self._clock()
        with self._cache_lock:
            entry = self._cache.identities.get(cid)
        if (
            entry is not None
            and entry.path == path
            and self._watching
            and now - entry.read_at <= self._options.identity_max_age_s
        ):
            return entry.identity, None
        try:
            identity = self._read_identity(cid, path)
        except IdentityUnavailable as exc:
            with self._cache_lock:
                self._cache.identities.pop(cid, None)
            return None, str(exc)
        with self._cache_lock:
            if self._cache.generation == generation:
                self._cache.identities[cid] = _IdentityEntry(path, identity, now)
        return identity, None

    def _read_identity(self, container_id: str, path: str) -> PublicIdentity:
        try:
            chunks, stat = self._call(self._api.get_archive, container_id, path, chunk_size=_ARCHIVE_CHUNK)
        except _NotFound:
            raise IdentityUnavailable(
                f"{path} does not exist in the container: publish the identity there (openclaw-entrypoint "
                f"does) or point label {self._options.identity_path_label} at it"
            ) from None
        except _ApiRefused as exc:
            raise IdentityUnavailable(f"{path}: the engine refused the read ({exc})") from None
        try:
            check_archive_stat(stat, path)
            data = read_bounded(chunks)
        finally:
            with contextlib.suppress(Exception):
                chunks.close()
        return parse_identity_archive(data, path)

    # --- events -------------------------------------------------------------------------------

    def _event_filters(self) -> dict[str, dict[str, Any]]:
        scope = self._scope
        assert scope is not None
        return {
            "container": {
                "type": ["container"],
                "event": list(CONTAINER_ACTIONS),
                "label": list_filters(self._options, scope)["label"],
            },
            # A label filter here would match the *network's* labels: take all connects and filter below.
            "network": {"type": ["network"], "event": list(NETWORK_ACTIONS)},
        }

    def _pump(
        self,
        kind: str,
        filters: dict[str, Any],
        streams: list[EventStream],
        closing: threading.Event,
        loop: asyncio.AbstractEventLoop,
        post: Callable[[tuple[str, Any]], None],
    ) -> None:
        """Thread body: read one blocking event stream and hand each event to the loop."""

        def send(item: tuple[str, Any]) -> bool:
            try:
                loop.call_soon_threadsafe(post, item)
            except RuntimeError:  # loop closed: nobody is listening any more
                return False
            return True

        try:
            stream: EventStream = self._api.events(filters=filters, decode=True)
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

    async def _wait_streams_open(
        self, streams: list[EventStream], expected: int, queue: asyncio.Queue[tuple[str, Any]]
    ) -> None:
        opened = 0
        deadline = self._clock() + self._options.ping_timeout_s
        while opened < expected:
            remaining = deadline - self._clock()
            if remaining <= 0:
                self._connected = False
                raise SourceError("the Docker engine did not open an event stream in time; will retry")
            try:
                kind, payload = await asyncio.wait_for(queue.get(), timeout=remaining)
            except TimeoutError:
                continue
            if kind == "open":
                opened += 1
            elif kind in ("error", "end"):
                self._connected = False
                raise SourceError(f"cannot follow Docker events: {payload}")

    def _apply_event(self, event: Any) -> str | None:
        """Invalidate what an event changed; return the on_change reason, or None if it is not ours."""
        if not isinstance(event, Mapping):
            return None
        etype, action = event.get("Type"), str(event.get("Action", ""))
        attrs = ((event.get("Actor") or {}).get("Attributes")) or {}
        if etype == "container" and action in CONTAINER_ACTIONS:
            cid = str((event.get("Actor") or {}).get("ID") or event.get("id") or "")
            self.invalidate(cid)
            return f"docker:{action}:{attrs.get('name') or cid[:12]}"
        if etype == "network" and action in NETWORK_ACTIONS:
            cid = str(attrs.get("container", ""))
            with self._cache_lock:
                known = cid in self._cache.known_ids
            if known:  # a labelled container not listed yet is re-listed anyway (its start invalidated)
                self.invalidate()
                return f"docker:network-{action}:{attrs.get('name', '?')}:{cid[:12]}"
        return None

    async def _ping(self) -> None:
        try:
            await asyncio.wait_for(
                asyncio.to_thread(self._call, self._api.ping), self._options.ping_timeout_s
            )
        except (TimeoutError, SourceError) as exc:
            self._connected = False
            raise SourceError(
                f"the Docker engine stopped answering ({exc or 'timeout'}); will reconnect"
            ) from None

    # --- calling the SDK ----------------------------------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one SDK call, keep ``connected`` honest, and translate failures into our classes."""
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            if _is_not_found(exc):
                self._connected = True
                raise _NotFound(str(exc)) from exc
            if _is_api_error(exc):
                self._connected = True
                raise _ApiRefused(_api_message(exc)) from exc
            self._connected = False
            raise SourceError(
                f"the Docker engine is unreachable ({type(exc).__name__}: {exc}). Check that the Docker "
                "socket (or socket proxy) is mounted and DOCKER_HOST points at it"
            ) from exc
        self._connected = True
        return result


class _NotFound(Exception):
    """404 from the engine: the container, network or path does not exist (internal)."""


class _ApiRefused(SourceError):
    """The engine answered with an HTTP error other than 404."""


def _api_message(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    status = getattr(getattr(exc, "response", None), "status_code", "?")
    return f"HTTP {status}: {explanation or exc}"


async def _call(callback: ChangeCallback, reason: str) -> None:
    result = callback(reason)
    if inspect.isawaitable(result):
        await result
