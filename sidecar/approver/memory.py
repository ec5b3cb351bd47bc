"""What the approver remembers about each pending request between passes, and so when it decides again.

Every trigger is a full pass over all pending requests, so without this memory each pass would re-decide,
re-audit and re-send. A request is decided again only when its inputs changed (the request, the
workloads, its paired entry, what history says about it), when its last decision was transient (rate
limit, churn, identity not readable yet) or when its RPC failed. A request approved, rejected or gone is
never decided again. The time a request was first seen starts its decision-latency clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sidecar.gateway.models import PairedDevice, PendingRequest
from sidecar.policy import Decision, History
from sidecar.sources.workloads import Workload


@dataclass
class Seen:
    """The last decision taken for a request: its inputs' fingerprint and its (action, check, reason) key."""

    fingerprint: str
    key: tuple[str, str, str]
    transient: bool
    retry: bool = False


class RequestMemory:
    """Per-request memory, keyed by requestId; ``forget_all_but`` drops requests no longer pending."""

    def __init__(self) -> None:
        self.seen: dict[str, Seen] = {}
        self.done: set[str] = set()  # approved/rejected (RPC sent) or gone: never decided again
        self.first_seen: dict[str, float] = {}  # requestId -> monotonic time first seen (latency)
        self.timed: set[str] = set()  # requestIds whose latency was observed already

    def saw(self, rid: str, at: float) -> None:
        self.first_seen.setdefault(rid, at)

    def unchanged(self, rid: str, fingerprint: str) -> bool:
        """Same inputs as last time and that decision was final: nothing to decide."""
        prev = self.seen.get(rid)
        return bool(prev and prev.fingerprint == fingerprint and not prev.transient and not prev.retry)

    def same_again(self, rid: str, fingerprint: str, decision: Decision) -> bool:
        """Same inputs and the same decision as last time (and its RPC did not fail): nothing to act on.

        Only whether it is still transient is updated, so a hold that became final stops being retried.
        """
        prev = self.seen.get(rid)
        if prev and prev.fingerprint == fingerprint and prev.key == decision.key and not prev.retry:
            prev.transient = decision.transient
            return True
        return False

    def remember(self, rid: str, fingerprint: str, decision: Decision, retry: bool) -> None:
        self.seen[rid] = Seen(fingerprint, decision.key, decision.transient, retry)

    def wants_retry(self, rid: str) -> bool:
        """Its last decision was a hold (transient) or its RPC failed: worth another pass soon."""
        state = self.seen.get(rid)
        return state is not None and (state.transient or state.retry)

    def untimed_start(self, rid: str) -> float | None:
        """When ``rid`` was first seen, the first time this is asked; None if unknown or already timed."""
        started = self.first_seen.get(rid)
        if started is None or rid in self.timed:
            return None
        self.timed.add(rid)
        return started

    def forget_all_but(self, live: set[str]) -> None:
        for table in (self.seen, self.first_seen):
            for rid in [rid for rid in table if rid not in live]:
                del table[rid]
        self.done &= live
        self.timed &= live


def fingerprint(
    request: PendingRequest, workloads_fp: str, paired: PairedDevice | None, history: History
) -> str:
    """Everything a decision about ``request`` depends on, as one digest."""
    return _digest(
        [
            request.to_json(),
            workloads_fp,
            paired.to_json() if paired else None,
            history.resolution(request.request_id),
            history.newer_request(request),
        ]
    )


_last_workloads: tuple[object, str] | None = None  # (snapshot, its digest): one entry, kept alive with it


def workloads_fingerprint(workloads: Iterable[Workload]) -> str:
    """Digest of a snapshot. The same snapshot object (the source's cache) is digested once, not per pass:
    hashing every workload on every pass made a burst's cost per request grow with the fleet."""
    global _last_workloads
    last = _last_workloads
    if last is not None and last[0] is workloads and isinstance(workloads, tuple):
        return last[1]
    digest = _digest([_workload_facts(w) for w in workloads])
    if isinstance(workloads, tuple):
        _last_workloads = (workloads, digest)
    return digest


def _workload_facts(w: Workload) -> list[Any]:
    """Everything about a workload the policy can read, in a stable order (for change detection)."""
    return [
        w.id,
        w.name,
        sorted(w.labels.items()),
        sorted(w.ips.items()),
        sorted(w.network_gateways.items()),
        sorted(w.project_networks),
        w.running,
        w.service,
        w.project,
        w.image,
        w.image_id,
        w.identity.to_json() if w.identity else None,
        w.identity_error,
    ]


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
