"""What the policy remembers between decisions, as an immutable value (no clock, no I/O).

The approver owns the current :class:`History` and replaces it after each observation
(``with_seen``, ``with_resolved``, ``with_approval``); the policy only reads it. Being a value, a test
can build any history in one expression and the rate limiter needs no fakes of time: every query takes
``now_ms``.

It answers four questions: was this request already resolved, was it superseded by a newer request of
the same device, how many distinct request ids has a device opened lately (churn), and how many
approvals happened lately per container and in total (rate limits, the dev-approve-all cap).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol


class RequestLike(Protocol):
    """The parts of a pending request history needs (``sidecar.gateway.models.PendingRequest`` fits)."""

    @property
    def request_id(self) -> str: ...

    @property
    def device_id(self) -> str: ...

    @property
    def ts(self) -> int: ...


@dataclass(frozen=True)
class Seen:
    request_id: str
    device_id: str
    ts: int  # the gateway's creation time of the request
    first_seen_ms: int  # when this sidecar first saw it


@dataclass(frozen=True)
class Resolved:
    request_id: str
    decision: str  # approved | rejected (as the gateway reported it)
    at_ms: int


@dataclass(frozen=True)
class Approval:
    workload_id: str
    at_ms: int


@dataclass(frozen=True)
class History:
    started_ms: int = 0  # when the approver started: the dev-approve-all time box counts from here
    seen: tuple[Seen, ...] = ()
    resolved: tuple[Resolved, ...] = ()
    approvals: tuple[Approval, ...] = ()
    approved_total: int = 0  # every approval since start (pruning never lowers it)

    # --- updates (each returns a new History) ------------------------------------------------------

    def with_seen(self, request: RequestLike, now_ms: int) -> History:
        if any(s.request_id == request.request_id for s in self.seen):
            return self
        entry = Seen(request.request_id, request.device_id, request.ts, now_ms)
        return replace(self, seen=(*self.seen, entry))

    def with_resolved(self, request_id: str, decision: str, now_ms: int) -> History:
        if self.resolution(request_id) is not None:
            return self
        return replace(self, resolved=(*self.resolved, Resolved(request_id, decision, now_ms)))

    def with_approval(self, workload_id: str, now_ms: int) -> History:
        return replace(
            self,
            approvals=(*self.approvals, Approval(workload_id, now_ms)),
            approved_total=self.approved_total + 1,
        )

    def pruned(self, now_ms: int, keep_ms: int) -> History:
        """Forget what is older than ``keep_ms`` (callers pass ≥ both the rate window and the TTL)."""
        cutoff = now_ms - keep_ms
        return replace(
            self,
            seen=tuple(s for s in self.seen if s.first_seen_ms >= cutoff),
            resolved=tuple(r for r in self.resolved if r.at_ms >= cutoff),
            approvals=tuple(a for a in self.approvals if a.at_ms >= cutoff),
        )

    # --- queries -----------------------------------------------------------------------------------

    def resolution(self, request_id: str) -> str | None:
        return next((r.decision for r in self.resolved if r.request_id == request_id), None)

    def newer_request(self, request: RequestLike) -> str | None:
        """The id of a later request of the same device, if one was seen (the gateway supersedes)."""
        newer = [
            s
            for s in self.seen
            if s.device_id == request.device_id and s.request_id != request.request_id and s.ts > request.ts
        ]
        return max(newer, key=lambda s: s.ts).request_id if newer else None

    def request_ids_since(self, device_id: str, since_ms: int) -> frozenset[str]:
        return frozenset(
            s.request_id for s in self.seen if s.device_id == device_id and s.first_seen_ms >= since_ms
        )

    def approvals_since(self, since_ms: int, workload_id: str | None = None) -> int:
        return sum(
            1
            for a in self.approvals
            if a.at_ms >= since_ms and (workload_id is None or a.workload_id == workload_id)
        )
