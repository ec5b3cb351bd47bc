"""The :class:`DockerSource`: engine access, caching and the event watch, around the pure parts.

- **Events first, a safety net always.** Caches are trusted only while the event stream is live; without
  it every :meth:`DockerSource.snapshot` re-reads. Negative identity results are never cached, because an
  agent may publish its identity a moment after its container starts.
- **The event loop never blocks.** Every SDK call runs in a worker thread; the blocking event streams run
  in their own daemon threads (:mod:`.events`) and are bridged into asyncio through a bounded queue (an
  overflow forces a full refresh instead of growing memory).
- **dev-approve-all** (``DockerSourceOptions.dev_approve_all``): besides the labelled containers, every
  running container attached to one of the project's networks (the networks labelled
  ``com.docker.compose.project=<project>``), with ``Workload.project_networks`` naming those networks.
  Their files are never read: only labelled containers publish an identity to the sidecar.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from sidecar.errors import SourceError
from sidecar.sources.docker.api import DockerAPI, EventStream, NotFound, sort_error
from sidecar.sources.docker.cache import SourceCache, concerns_us
from sidecar.sources.docker.events import (
    DockerEvent,
    event_filters,
    parse_event,
    pump,
    wait_streams_open,
)
from sidecar.sources.docker.listing import WorkloadReader
from sidecar.sources.docker.scope import (
    DockerSourceOptions,
    ProjectScope,
    is_selected,
    scope_of_this_sidecar,
)
from sidecar.sources.workloads import ChangeCallback, Workload

# The package's name, as before the split: log lines and logging configuration keep matching.
log = logging.getLogger("sidecar.sources.docker")


# --- the source -----------------------------------------------------------------------------------


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
        self._cache = SourceCache()
        self._cache_lock = threading.Lock()  # guards _cache between worker threads and the loop
        self._refresh_lock: asyncio.Lock | None = None
        self._ahead: asyncio.Task[None] | None = None  # the background re-list, while one runs
        self._connected = False
        self._watching = False
        self._reader = WorkloadReader(
            api,
            self._options,
            self._cache,
            self._cache_lock,
            call=self._call,
            clock=clock,
            watching=lambda: self._watching,
        )

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
        cached = self._fresh_cache()
        if cached is not None:
            self._refresh_ahead()
            return cached
        async with self._lock():  # concurrent callers share one refresh
            cached = self._fresh_cache()
            if cached is not None:
                return cached
            return await asyncio.to_thread(self._refresh_blocking)

    def _lock(self) -> asyncio.Lock:
        if self._refresh_lock is None:
            self._refresh_lock = asyncio.Lock()
        return self._refresh_lock

    def _refresh_ahead(self) -> None:
        """Past half its age limit the cache is re-listed in the background, so a request's pass does not
        wait for the engine's container list (the bench's p99 did, once per interval) while events keep
        the cache exact; the list stays at most ``list_max_age_s`` old as before."""
        with self._cache_lock:
            age = self._clock() - self._cache.listed_at
        busy = self._ahead is not None and not self._ahead.done()
        if busy or age < self._options.list_max_age_s / 2:
            return
        self._ahead = asyncio.get_running_loop().create_task(self._refresh_behind(), name="docker-refresh")

    async def _refresh_behind(self) -> None:
        async with self._lock():
            with self._cache_lock:
                age = self._clock() - self._cache.listed_at
            if age < self._options.list_max_age_s / 2:
                return  # another caller refreshed meanwhile
            try:
                await asyncio.to_thread(self._refresh_blocking)
            except Exception as exc:  # the next snapshot past the age limit refreshes in line and says why
                log.debug("background container re-list failed: %s", exc)

    def invalidate(self, container_id: str | None = None, *, identities: bool = True) -> None:
        """Forget cached data (one container's identity, or everything); the next snapshot re-reads.
        ``identities=False``: only the listing (addresses changed, published identities did not)."""
        with self._cache_lock:
            self._cache.generation += 1
            self._cache.workloads = None
            if identities:
                self._cache.forget_identity(container_id)

    async def watch(self, stop: Callable[[], bool], on_change: ChangeCallback) -> None:
        """Follow container and network events until ``stop()``; SourceError when the engine is lost."""
        scope = await self.resolve_scope()
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
                target=pump,
                args=(self._api, kind, filters, streams, closing, loop, post),
                name=f"docker-events-{kind}",
                daemon=True,
            )
            for kind, filters in event_filters(self._options, scope).items()
        ]
        self.invalidate()
        try:
            for thread in threads:
                thread.start()
            try:
                await wait_streams_open(queue, len(threads), self._options.ping_timeout_s, self._clock)
            except SourceError:
                self._connected = False
                raise
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
            self._scope = scope_of_this_sidecar(
                self._options,
                self._inspect_or_none,
                lambda: self._call(self._api.containers, all=True) or [],
                proc_root=self._proc_root,
                hostname=self._hostname,
            )
            log.info("docker source watches %s", self._scope.describe())
        return self._scope

    def _inspect_or_none(self, container: str) -> Mapping[str, Any] | None:
        try:
            attrs = self._call(self._api.inspect_container, container)
        except NotFound:
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
            if any(w.running and w.identity is None and self._selected(w.labels) for w in cached):
                return None  # negative results are never cached
            return cached

    def _selected(self, labels: Mapping[str, str]) -> bool:
        """Labelled and in scope: a container whose published identity the source reads."""
        scope = self._scope
        return scope is not None and is_selected(labels, self._options, scope)

    def _refresh_blocking(self) -> tuple[Workload, ...]:
        return self._reader.refresh(self._scope_blocking())

    # --- events -------------------------------------------------------------------------------

    def _apply_event(self, raw: Any) -> str | None:
        """Invalidate what an event changed; return the on_change reason, or None if it is not ours."""
        event = parse_event(raw)
        if event is None or not self._concerns_us(event):
            return None
        if event.type == "container":
            self.invalidate(event.container_id)
            return f"docker:{event.action}:{event.name}"
        # Addresses changed, not what a container publishes: re-list, keep the identities (a burst of
        # containers joining networks otherwise made every pass re-read every identity).
        self.invalidate(identities=False)
        return f"docker:network-{event.action}:{event.attrs.get('name', '?')}:{event.container_id[:12]}"

    def _concerns_us(self, event: DockerEvent) -> bool:
        with self._cache_lock:
            return concerns_us(self._cache, self._options, event, self._selected)

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
            error, self._connected = sort_error(exc)
            raise error from exc
        self._connected = True
        return result


async def _call(callback: ChangeCallback, reason: str) -> None:
    result = callback(reason)
    if inspect.isawaitable(result):
        await result
