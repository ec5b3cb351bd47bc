"""The :class:`KubernetesSource`: opted-in pods of the configured namespaces, by list + watch.

- **List, then watch from the list's resourceVersion**, with bookmarks (the API's "nothing for you, but
  you are at version N" events) so a quiet watch can resume without a relist. A watch that ends at its
  server-side timeout resumes from the last version seen; **410 Gone** (the version is too old) lists again.
- **connected** is true only while every namespace's watch is live. Any other failure sets it false and
  raises :class:`~sidecar.errors.SourceError`: the approver's watch loop backs off (1 s … 30 s) and calls
  :meth:`watch` again, which relists. Readiness (``/readyz``) shows the flag.
- **snapshot** is served from the watched cache while the watch is live, and from a fresh list otherwise,
  so a decision never rests on a cache nobody keeps current.
- Enrolled keys (:mod:`.enrollment`) join the pods by UID; an enrollment calls :meth:`notify`, which
  wakes the approver exactly like a pod event.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sidecar.errors import SourceError
from sidecar.identity.keys import PublicIdentity
from sidecar.sources.kubernetes.api import Gone, KubeAPI
from sidecar.sources.kubernetes.pods import PodInfo, is_opted_in, pod_info, workload_for
from sidecar.sources.workloads import ChangeCallback, Workload

log = logging.getLogger("sidecar.sources.kubernetes")


@dataclass(frozen=True)
class KubernetesSourceOptions:
    namespaces: tuple[str, ...]
    label_opt_in: str = "openclaw.pairing.auto-approve"
    label_opt_in_value: str = "true"
    label_roles: str = "openclaw.pairing.roles"
    label_scopes: str = "openclaw.pairing.scopes"
    label_node_commands: str = "openclaw.pairing.node-commands"
    watch_timeout_s: int = 290

    @property
    def selector(self) -> str:
        return f"{self.label_opt_in}={self.label_opt_in_value}"


EnrolledLookup = Callable[[str], PublicIdentity | None]  # pod UID -> its enrolled key


class KubernetesSource:
    """:class:`~sidecar.sources.workloads.WorkloadSource` backed by the Kubernetes API."""

    def __init__(
        self, api: KubeAPI, options: KubernetesSourceOptions, *, enrolled: EnrolledLookup | None = None
    ) -> None:
        self._api = api
        self._options = options
        self._enrolled = enrolled or (lambda uid: None)
        self._pods: dict[str, dict[str, PodInfo]] = {ns: {} for ns in options.namespaces}  # ns -> uid -> pod
        self._live: set[str] = set()  # namespaces whose watch is live
        self._cached: tuple[Workload, ...] | None = None
        self._wake: asyncio.Queue[str] | None = None
        self.relists = 0  # for tests and metrics: how often a full list was needed

    @property
    def connected(self) -> bool:
        return bool(self._options.namespaces) and self._live == set(self._options.namespaces)

    @property
    def options(self) -> KubernetesSourceOptions:
        return self._options

    def pod_by_uid(self, uid: str) -> PodInfo | None:
        for pods in self._pods.values():
            if uid in pods:
                return pods[uid]
        return None

    def known_uids(self) -> frozenset[str]:
        return frozenset(uid for pods in self._pods.values() for uid in pods)

    def notify(self, reason: str) -> None:
        """Something outside the API changed what a pod stands for (an enrollment): re-decide."""
        self._cached = None
        if self._wake is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._wake.put_nowait(reason)

    async def snapshot(self) -> tuple[Workload, ...]:
        if not self.connected:  # nobody keeps the cache current: read the API now
            for ns in self._options.namespaces:
                await self._relist(ns)
        if self._cached is None:
            self._cached = self._build()
        return self._cached

    def _build(self) -> tuple[Workload, ...]:
        o = self._options
        out = [
            workload_for(
                info,
                label_roles=o.label_roles,
                label_scopes=o.label_scopes,
                label_node_commands=o.label_node_commands,
                enrolled=self._enrolled(uid),
            )
            for pods in self._pods.values()
            for uid, info in pods.items()
            if info.running
        ]
        return tuple(sorted(out, key=lambda w: (w.name, w.id)))

    async def _relist(self, namespace: str) -> str:
        items, version = await self._api.list_pods(namespace, self._options.selector)
        fresh = {}
        for raw in items:
            info = pod_info(raw)
            if info.uid and is_opted_in(
                info.labels, self._options.label_opt_in, self._options.label_opt_in_value
            ):
                fresh[info.uid] = info
        self._pods[namespace] = fresh
        self._cached = None
        self.relists += 1
        return version

    # --- watch ----------------------------------------------------------------------------------------

    async def watch(self, stop: Callable[[], bool], on_change: ChangeCallback) -> None:
        """Follow every namespace until ``stop()``; SourceError when the API is lost."""
        self._wake = asyncio.Queue(maxsize=1000)
        tasks = [
            asyncio.create_task(self._follow(ns, on_change), name=f"kubernetes-watch-{ns}")
            for ns in self._options.namespaces
        ]
        wake = asyncio.create_task(self._forward_wakes(on_change), name="kubernetes-enrollments")
        try:
            while not stop():
                done = [t for t in tasks if t.done()]
                if done:
                    exc = done[0].exception()
                    raise exc if isinstance(exc, SourceError) else SourceError(f"pod watch ended: {exc}")
                await asyncio.sleep(0.2)
        finally:
            self._live.clear()
            for task in (*tasks, wake):
                task.cancel()
            await asyncio.gather(*tasks, wake, return_exceptions=True)
            self._wake = None

    async def _forward_wakes(self, on_change: ChangeCallback) -> None:
        assert self._wake is not None
        while True:
            await _call(on_change, await self._wake.get())

    async def _follow(self, namespace: str, on_change: ChangeCallback) -> None:
        try:
            version = await self._relist(namespace)
            await _call(on_change, f"kubernetes:listed:{namespace}")
            while True:
                self._live.add(namespace)
                try:
                    version = await self._watch_once(namespace, version, on_change)
                except Gone:
                    log.info(
                        "pod watch in %s: resourceVersion %s expired (410); listing again", namespace, version
                    )
                    self._live.discard(namespace)
                    version = await self._relist(namespace)
                    await _call(on_change, f"kubernetes:relisted:{namespace}")
        except SourceError:
            self._live.discard(namespace)
            raise
        except Exception as exc:  # anything unexpected is a lost watch, never a silent one
            self._live.discard(namespace)
            raise SourceError(f"pod watch in {namespace} failed: {type(exc).__name__}: {exc}") from exc

    async def _watch_once(self, namespace: str, version: str, on_change: ChangeCallback) -> str:
        """One watch request; returns the last resourceVersion seen when the server ends it."""
        o = self._options
        async for kind, obj in self._api.watch_pods(namespace, o.selector, version, o.watch_timeout_s):
            meta = obj.get("metadata") or {}
            version = str(meta.get("resourceVersion") or version)
            if kind == "BOOKMARK":
                continue
            info = pod_info(obj)
            if not info.uid:
                continue
            pods = self._pods.setdefault(namespace, {})
            before = pods.get(info.uid)
            if kind == "DELETED" or not is_opted_in(info.labels, o.label_opt_in, o.label_opt_in_value):
                if pods.pop(info.uid, None) is None:
                    continue
            else:
                pods[info.uid] = info
                if before is not None and _same_for_policy(before, info):
                    continue
            self._cached = None
            await _call(on_change, f"kubernetes:{kind.lower()}:{info.key}")
        return version


def _same_for_policy(a: PodInfo, b: PodInfo) -> bool:
    """A status update that changes nothing the policy reads (most pod updates) wakes nobody."""
    return (a.labels, a.annotations, a.running, a.ips, a.host_network) == (
        b.labels,
        b.annotations,
        b.running,
        b.ips,
        b.host_network,
    )


async def _call(callback: ChangeCallback, reason: str) -> None:
    result = callback(reason)
    if inspect.isawaitable(result):
        await result
