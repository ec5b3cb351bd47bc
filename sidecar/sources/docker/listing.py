"""Listing the Docker source's workloads: the containers in scope, their addresses and published identities.

Why its own module: this is the blocking half of :class:`~sidecar.sources.docker.source.DockerSource`
(worker threads only), and the part a burst of new containers stresses: identities are read up to
``READ_PARALLEL`` at a time, a verified identity is reused while events are live, a negative result
never is, and nothing read before an event arrived is stored (the cache's generation and identity
tokens). The source owns the cache and its lock; this module reads and fills it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sidecar.identity.keys import PublicIdentity
from sidecar.sources.docker.api import DockerAPI, NotFound
from sidecar.sources.docker.archive import IdentityUnavailable, identity_path_for
from sidecar.sources.docker.cache import IdentityEntry, SourceCache
from sidecar.sources.docker.devnets import ProjectNetworks
from sidecar.sources.docker.identities import read_published_identity
from sidecar.sources.docker.inspect import ipam_gateways, network_addresses, workload_from_summary
from sidecar.sources.docker.scope import DockerSourceOptions, ProjectScope, is_selected, list_filters
from sidecar.sources.workloads import Workload

READ_PARALLEL = 8  # identities read at once in one refresh (each is a get_archive round trip to the engine)

_NOT_OPTED_IN = (
    "not read: the container is not opted in; it is listed only because mode dev-approve-all counts "
    "every container on the project's networks"
)


class WorkloadReader:
    """Reads workloads from the engine into the source's cache (call from worker threads only)."""

    def __init__(
        self,
        api: DockerAPI,
        options: DockerSourceOptions,
        cache: SourceCache,
        cache_lock: threading.Lock,
        *,
        call: Callable[..., Any],
        clock: Callable[[], float],
        watching: Callable[[], bool],
    ) -> None:
        self._api = api
        self._options = options
        self._cache = cache
        self._cache_lock = cache_lock
        self._call = call  # the source's SDK call: keeps `connected` honest, translates errors
        self._clock = clock
        self._watching = watching  # cached identities are reused only while the event stream is live
        self._networks = ProjectNetworks()

    def refresh(self, scope: ProjectScope) -> tuple[Workload, ...]:
        """List the workloads in ``scope`` and store them, unless an event arrived meanwhile."""
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
            and self._watching()
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
