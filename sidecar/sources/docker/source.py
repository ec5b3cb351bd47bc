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
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sidecar.errors import SourceError
from sidecar.identity.keys import PublicIdentity
from sidecar.sources.docker.api import DockerAPI, EventStream, NotFound, sort_error
from sidecar.sources.docker.archive import IdentityUnavailable, identity_path_for
from sidecar.sources.docker.cache import IdentityEntry, SourceCache, concerns_us
from sidecar.sources.docker.devnets import ProjectNetworks
from sidecar.sources.docker.events import (
    DockerEvent,
    event_filters,
    parse_event,
    pump,
    wait_streams_open,
)
from sidecar.sources.docker.identities import read_published_identity
from sidecar.sources.docker.inspect import (
    ipam_gateways,
    network_addresses,
    workload_from_summary,
)
from sidecar.sources.docker.scope import (
    DockerSourceOptions,
    ProjectScope,
    is_selected,
    list_filters,
    scope_of_this_sidecar,
)
from sidecar.sources.workloads import ChangeCallback, Workload

# The package's name, as before the split: log lines and logging configuration keep matching.
log = logging.getLogger("sidecar.sources.docker")
READ_PARALLEL = 8  # identities read at once in one refresh (each is a get_archive round trip to the engine)

_NOT_OPTED_IN = (
    "not read: the container is not opted in; it is listed only because mode dev-approve-all counts "
    "every container on the project's networks"
)


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
        self._networks = ProjectNetworks()

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
        scope = self._scope_blocking()
        with self._cache_lock:
            generation = self._cache.generation
        summaries = self._call(self._api.containers, all=True, filters=list_filters(self._options, scope))
        selected = [s for s in summaries or [] if is_selected(s.get("Labels") or {}, self._options, scope)]
        project_nets: dict[str, str] = {}
        all_nets: frozenset[str] | None = None
        others: list[Mapping[str, Any]] = []
        if self._options.dev_approve_all:
            project_nets, all_nets = self._networks.listed(self._call, self._api, scope)
            others = self._networks.containers_on(
                self._call, self._api, project_nets, {str(s["Id"]) for s in selected}
            )
        workloads = self._read_workloads(selected, project_nets)
        workloads += [self._workload(s, project_nets, False) for s in others if s.get("State") == "running"]
        result = tuple(sorted(workloads, key=lambda w: (w.name, w.id)))
        with self._cache_lock:
            self._cache.known_ids = frozenset(str(s["Id"]) for s in (*selected, *others))
            if all_nets is not None:
                self._cache.network_ids = all_nets
                self._cache.project_network_ids = frozenset(project_nets)
            if self._cache.generation == generation:  # no event arrived meanwhile: safe to reuse
                self._cache.workloads = result
                self._cache.listed_at = self._clock()
            for stale in [cid for cid in self._cache.identities if cid not in self._cache.known_ids]:
                del self._cache.identities[stale]
            for gone in [cid for cid in self._cache.container_epochs if cid not in self._cache.known_ids]:
                del self._cache.container_epochs[gone]  # a read in flight for it then is not stored: safe
        return result

    def _read_workloads(
        self, selected: list[Mapping[str, Any]], project_nets: Mapping[str, str]
    ) -> list[Workload]:
        """The opted-in containers, their identities read up to READ_PARALLEL at a time: a burst of new
        containers is not read one ``get_archive`` after another while its requests wait."""
        if len(selected) < 2:
            return [self._workload(s, project_nets, True) for s in selected]
        with ThreadPoolExecutor(min(READ_PARALLEL, len(selected)), thread_name_prefix="docker-read") as pool:
            return list(pool.map(lambda s: self._workload(s, project_nets, True), selected))

    def _workload(
        self, summary: Mapping[str, Any], project_nets: Mapping[str, str], opted_in: bool
    ) -> Workload:
        """Not ``opted_in`` (dev-approve-all only): its identity is not read."""
        _, _, network_ids = network_addresses(summary)
        ipam = {name: self._ipam_for(net_id) for name, net_id in network_ids.items()}
        identity: PublicIdentity | None = None
        error: str | None = _NOT_OPTED_IN
        if opted_in:
            identity, error = self._identity_for(summary)
        return workload_from_summary(
            summary, ipam=ipam, identity=identity, identity_error=error, project_network_ids=project_nets
        )

    def _ipam_for(self, network_id: str) -> list[str]:
        with self._cache_lock:
            if network_id in self._cache.ipam:
                return self._cache.ipam[network_id]
        try:
            network = self._call(self._api.inspect_network, network_id)
        except NotFound:
            return []  # removed between list and inspect; the endpoint's own gateway still counts
        gateways = ipam_gateways(network) if isinstance(network, Mapping) else []
        with self._cache_lock:  # a network's IPAM cannot change while it exists: cache by id
            self._cache.ipam[network_id] = gateways
        return gateways

    # --- identity -----------------------------------------------------------------------------

    def _identity_for(self, summary: Mapping[str, Any]) -> tuple[PublicIdentity | None, str | None]:
        cid = str(summary["Id"])
        if summary.get("State") != "running":
            return None, f"container is {summary.get('State') or 'not running'}; its identity is not read"
        try:
            path = identity_path_for(
                summary.get("Labels") or {},
                self._options.identity_path_label,
                self._options.default_identity_path,
            )
        except IdentityUnavailable as exc:
            return None, str(exc)
        now = self._clock()
        with self._cache_lock:
            entry = self._cache.identities.get(cid)
            token = self._cache.identity_token(cid)
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
            if self._cache.identity_token(cid) == token:  # not forgotten while it was being read
                self._cache.identities[cid] = IdentityEntry(path, identity, now)
        return identity, None

    def _read_identity(self, container_id: str, path: str) -> PublicIdentity:
        return read_published_identity(self._call, self._api, container_id, path, self._options)

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
