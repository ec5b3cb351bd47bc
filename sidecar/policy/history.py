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

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar

T = TypeVar("T")


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


class _Log:
    """Append-only columns and lookups shared by a line of History values (each one a window of them).

    ``with_seen``/``with_resolved``/``with_approval`` append to the log their History was built on when
    nothing else appended since (otherwise they fork a copy), and ``pruned`` only moves a window's start,
    so an update and a query cost O(1) and O(entries of that device or container), not O(history): a
    burst of N requests no longer costs O(N²) (bench/simulate.py measures it).
    """

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.seen_by_id: dict[str, list[int]] = {}
        self.seen_by_device: dict[str, list[int]] = {}
        self.seen_sorted = True  # first_seen_ms never decreased: windows can be cut by bisection
        self.resolved: list[Resolved] = []
        self.resolved_by_id: dict[str, list[int]] = {}
        self.resolved_sorted = True
        self.approvals: list[Approval] = []
        self.approvals_by_workload: dict[str, list[int]] = {}
        self.approvals_sorted = True

    @classmethod
    def of(cls, history: History) -> _Log:
        log = cls()
        for s in history.seen:
            log.add_seen(s)
        for r in history.resolved:
            log.add_resolved(r)
        for a in history.approvals:
            log.add_approval(a)
        return log

    def add_seen(self, s: Seen) -> None:
        if self.seen and s.first_seen_ms < self.seen[-1].first_seen_ms:
            self.seen_sorted = False
        self.seen_by_id.setdefault(s.request_id, []).append(len(self.seen))
        self.seen_by_device.setdefault(s.device_id, []).append(len(self.seen))
        self.seen.append(s)

    def add_resolved(self, r: Resolved) -> None:
        if self.resolved and r.at_ms < self.resolved[-1].at_ms:
            self.resolved_sorted = False
        self.resolved_by_id.setdefault(r.request_id, []).append(len(self.resolved))
        self.resolved.append(r)

    def add_approval(self, a: Approval) -> None:
        if self.approvals and a.at_ms < self.approvals[-1].at_ms:
            self.approvals_sorted = False
        self.approvals_by_workload.setdefault(a.workload_id, []).append(len(self.approvals))
        self.approvals.append(a)


@dataclass(frozen=True)
class History:
    started_ms: int = 0  # when the approver started: the dev-approve-all time box counts from here
    seen: tuple[Seen, ...] = ()
    resolved: tuple[Resolved, ...] = ()
    approvals: tuple[Approval, ...] = ()
    approved_total: int = 0  # every approval since start (pruning never lowers it)
    # Where this value's tuples start in the shared log (seen, resolved, approvals); built on first use.
    _log: _Log | None = field(default=None, repr=False, compare=False)
    _lo: tuple[int, int, int] = field(default=(0, 0, 0), repr=False, compare=False)

    def _view(self) -> tuple[_Log, tuple[int, int, int]]:
        if self._log is None:
            object.__setattr__(self, "_log", _Log.of(self))
            object.__setattr__(self, "_lo", (0, 0, 0))
        assert self._log is not None
        return self._log, self._lo

    def _window(self, column: int) -> tuple[int, int]:
        _, lo = self._view()
        length = (len(self.seen), len(self.resolved), len(self.approvals))[column]
        return lo[column], lo[column] + length

    def _in(self, positions: list[int] | None, column: int) -> list[int]:
        lo, hi = self._window(column)
        return [p for p in positions or () if lo <= p < hi]

    def _appendable(self, column: int) -> tuple[_Log, tuple[int, int, int]]:
        """The log to append to: this value's own when it ends where this value ends, else a copy."""
        log, lo = self._view()
        _, hi = self._window(column)
        size = (len(log.seen), len(log.resolved), len(log.approvals))[column]
        if size == hi:
            return log, lo
        return _Log.of(self), (0, 0, 0)

    # --- updates (each returns a new History) ------------------------------------------------------

    def with_seen(self, request: RequestLike, now_ms: int) -> History:
        log, _ = self._view()
        if self._in(log.seen_by_id.get(request.request_id), 0):
            return self
        entry = Seen(request.request_id, request.device_id, request.ts, now_ms)
        log, lo = self._appendable(0)
        log.add_seen(entry)
        return replace(self, seen=(*self.seen, entry), _log=log, _lo=lo)

    def with_resolved(self, request_id: str, decision: str, now_ms: int) -> History:
        if self.resolution(request_id) is not None:
            return self
        entry = Resolved(request_id, decision, now_ms)
        log, lo = self._appendable(1)
        log.add_resolved(entry)
        return replace(self, resolved=(*self.resolved, entry), _log=log, _lo=lo)

    def with_approval(self, workload_id: str, now_ms: int) -> History:
        entry = Approval(workload_id, now_ms)
        log, lo = self._appendable(2)
        log.add_approval(entry)
        return replace(
            self,
            approvals=(*self.approvals, entry),
            approved_total=self.approved_total + 1,
            _log=log,
            _lo=lo,
        )

    def pruned(self, now_ms: int, keep_ms: int) -> History:
        """Forget what is older than ``keep_ms`` (callers pass ≥ both the rate window and the TTL)."""
        cutoff = now_ms - keep_ms
        log, lo = self._view()
        if log.seen_sorted and log.resolved_sorted and log.approvals_sorted:
            # time-ordered: drop a prefix of each tuple; the log and the lookups stay shared
            cut = (
                _first_at_or_after(self.seen, cutoff, lambda s: s.first_seen_ms),
                _first_at_or_after(self.resolved, cutoff, lambda r: r.at_ms),
                _first_at_or_after(self.approvals, cutoff, lambda a: a.at_ms),
            )
            if cut == (0, 0, 0):
                return self
            return replace(
                self,
                seen=self.seen[cut[0] :],
                resolved=self.resolved[cut[1] :],
                approvals=self.approvals[cut[2] :],
                _log=log,
                _lo=(lo[0] + cut[0], lo[1] + cut[1], lo[2] + cut[2]),
            )
        return replace(
            self,
            seen=tuple(s for s in self.seen if s.first_seen_ms >= cutoff),
            resolved=tuple(r for r in self.resolved if r.at_ms >= cutoff),
            approvals=tuple(a for a in self.approvals if a.at_ms >= cutoff),
            _log=None,
            _lo=(0, 0, 0),
        )

    # --- queries -----------------------------------------------------------------------------------

    def resolution(self, request_id: str) -> str | None:
        log, _ = self._view()
        found = self._in(log.resolved_by_id.get(request_id), 1)
        return log.resolved[found[0]].decision if found else None

    def newer_request(self, request: RequestLike) -> str | None:
        """The id of a later request of the same device, if one was seen (the gateway supersedes)."""
        log, _ = self._view()
        newer = [
            s
            for s in (log.seen[p] for p in self._in(log.seen_by_device.get(request.device_id), 0))
            if s.request_id != request.request_id and s.ts > request.ts
        ]
        return max(newer, key=lambda s: s.ts).request_id if newer else None

    def request_ids_since(self, device_id: str, since_ms: int) -> frozenset[str]:
        log, _ = self._view()
        mine = (log.seen[p] for p in self._in(log.seen_by_device.get(device_id), 0))
        return frozenset(s.request_id for s in mine if s.first_seen_ms >= since_ms)

    def approvals_since(self, since_ms: int, workload_id: str | None = None) -> int:
        log, _ = self._view()
        if workload_id is not None:
            mine = self._in(log.approvals_by_workload.get(workload_id), 2)
            return sum(1 for p in mine if log.approvals[p].at_ms >= since_ms)
        if log.approvals_sorted:
            return len(self.approvals) - _first_at_or_after(self.approvals, since_ms, lambda a: a.at_ms)
        return sum(1 for a in self.approvals if a.at_ms >= since_ms)


def _first_at_or_after(entries: tuple[T, ...], cutoff: int, at: Callable[[T], int]) -> int:
    """Index of the first entry whose time is ≥ cutoff, in a time-ordered tuple."""
    return bisect.bisect_left(entries, cutoff, key=at)
