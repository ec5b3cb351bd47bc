"""One index of a workload snapshot, shared by every decision against that snapshot.

A reconcile pass decides every pending request against the same snapshot. Scanning all workloads per
request (candidates, addresses, bridge gateways) made the cost of one decision grow with the fleet, and a
burst of N requests cost O(N²) (measured in bench/simulate.py). The index is built once per snapshot (and
per settings) and answers each lookup in O(1). It is a pure function of its inputs: the one-entry cache
holds the snapshot it was built from, so a hit is always the same snapshot object, never a look-alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sidecar.policy.net import normalize_ip, workload_ips
from sidecar.settings import PolicySettings
from sidecar.sources.workloads import Workload


@dataclass(frozen=True)
class SnapshotIndex:
    candidates: tuple[Workload, ...]  # labelled, running, in the project scope (strict and ip approve these)
    gateways: dict[str, str]  # bridge-gateway address (canonical) -> its network
    candidates_by_device: dict[str, list[Workload]] = field(default_factory=dict)
    candidates_by_ip: dict[str, list[Workload]] = field(default_factory=dict)
    # every workload (labelled or not), by claimed deviceId and by address, as positions in the snapshot
    all_by_device: dict[str, list[int]] = field(default_factory=dict)
    all_by_ip: dict[str, list[int]] = field(default_factory=dict)
    ips: dict[int, dict[str, str]] = field(default_factory=dict)  # id(workload) -> workload_ips(workload)

    def addresses(self, w: Workload) -> dict[str, str]:
        known = self.ips.get(id(w))
        return known if known is not None else workload_ips(w)

    def first_near_miss(self, device_id: str, ip: str | None) -> int | None:
        """Position of the first workload that publishes ``device_id`` or has address ``ip``."""
        found = [*self.all_by_device.get(device_id, ()), *(self.all_by_ip.get(ip, ()) if ip else ())]
        return min(found) if found else None


def _build(workloads: tuple[Workload, ...], settings: PolicySettings) -> SnapshotIndex:
    opt_in = settings.label_opt_in_value.strip().lower()

    def candidate(w: Workload) -> bool:
        labelled = w.labels.get(settings.label_opt_in, "").strip().lower() == opt_in
        return w.running and labelled and (settings.project is None or w.project == settings.project)

    index = SnapshotIndex(tuple(w for w in workloads if candidate(w)), {})
    for pos, w in enumerate(workloads):
        ips = workload_ips(w)
        index.ips[id(w)] = ips
        if w.claimed_device_id is not None:
            index.all_by_device.setdefault(w.claimed_device_id, []).append(pos)
        for ip in ips:
            index.all_by_ip.setdefault(ip, []).append(pos)
        for network, gateway_ip in w.network_gateways.items():
            canonical = normalize_ip(gateway_ip) if gateway_ip else None
            if canonical:
                index.gateways[canonical] = network
    for w in index.candidates:
        if w.claimed_device_id is not None:
            index.candidates_by_device.setdefault(w.claimed_device_id, []).append(w)
        for ip in index.ips[id(w)]:
            index.candidates_by_ip.setdefault(ip, []).append(w)
    return index


_last: tuple[Sequence[Workload], PolicySettings, SnapshotIndex] | None = None


def index_of(workloads: tuple[Workload, ...], settings: PolicySettings) -> SnapshotIndex:
    """The index of this snapshot under these settings (built once, reused while the snapshot is)."""
    global _last
    last = _last
    if last is not None and last[0] is workloads and last[1] == settings:
        return last[2]
    index = _build(workloads, settings)
    _last = (workloads, settings, index)
    return index
