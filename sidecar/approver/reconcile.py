"""One reconcile pass: ``device.pair.list``, the workload snapshot, the pure policy per request, act, audit;
then the same for node capability surfaces (``node_pass``).

The list is the truth (fresh ``paired`` entries for repair checks, no stale event payloads), so a pass is
the same whatever triggered it. A failure deciding one request leaves it pending and does not starve the
others. A decision is audited only when it differs from the last one for that request (see ``memory``).

Decisions are taken one after another (each sees the approvals before it: rate limits and the dev cap count
an approval when it is *decided*, before its RPC, so a failed RPC only makes the limits stricter); their
RPCs go out up to ``SEND_CONCURRENCY`` at a time, so a backlog is not paced by one round trip per request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sidecar.approver.actions import Kind, Outcome, carry_out
from sidecar.approver.audit import AuditLog
from sidecar.approver.memory import RequestMemory, fingerprint, workloads_fingerprint
from sidecar.approver.node_pass import node_pass
from sidecar.approver.ports import Clock, PairingClient
from sidecar.errors import GatewayError, SourceError
from sidecar.gateway.models import PairedDevice, PendingRequest
from sidecar.metrics import Metrics
from sidecar.policy import Action, Decision, History, decide
from sidecar.policy.context import PENDING_TTL_MS
from sidecar.policy.decision import Verdict
from sidecar.settings import PolicySettings, Settings
from sidecar.sources.workloads import Workload, WorkloadSource

log = logging.getLogger("sidecar.approver")
SEND_CONCURRENCY = 8  # approve/reject RPCs in flight at once within a pass (the gateway serialises its store)


@dataclass
class PassResult:
    """One reconcile pass: how many were pending and what was recorded for each decided request."""

    pending: int = 0
    records: list[tuple[Decision, str]] = field(default_factory=list)  # (decision, outcome)

    @property
    def attention(self) -> int:
        """Requests a human should look at: rejections, observe-only verdicts, holds, failed RPCs."""
        count = 0
        for decision, outcome in self.records:
            sent_ok = outcome == "sent" and decision.action is Action.APPROVE
            nothing_to_do = decision.evidence.get("verdict") == Verdict.SKIP.value or outcome.startswith(
                "gone"
            )
            count += not (sent_ok or nothing_to_do)
        return count


class Reconciler:
    """Runs passes and keeps what passes share: the policy's history and the per-request memory."""

    def __init__(
        self,
        settings: Settings,
        policy: PolicySettings,
        *,
        source: WorkloadSource,
        audit: AuditLog,
        metrics: Metrics,
        clock: Clock,
        hold: Callable[[], None],
        gateway_version: Callable[[], str | None],
    ) -> None:
        self.settings = settings
        self.policy = policy
        self._source = source
        self._audit = audit
        self.metrics = self._metrics = metrics
        self.clock = self._clock = clock
        self.hold = self._hold = (
            hold  # asks for another pass soon (a request was held back or its RPC failed)
        )
        self._gateway_version = gateway_version
        self.history = History(started_ms=clock.now_ms())
        self.memory = RequestMemory()
        self.first_done = False
        self.last_ms: int | None = None
        self._dev_over_logged = False
        self.nodes_unsupported = False  # the gateway does not know node.pair.list (logged once)

    def saw(self, request: PendingRequest, now_ms: int) -> None:
        """A pending request was seen (listed, or announced by an event)."""
        self.memory.saw(request.request_id, self._clock.monotonic())
        self.history = self.history.with_seen(request, now_ms)

    async def run(self, client: PairingClient, stop: asyncio.Event) -> PassResult:
        result = PassResult()
        try:
            listing = await client.list_pairing()
        except GatewayError as exc:
            self._metrics.rpc_errors.labels(method="device.pair.list").inc()
            log.warning("device.pair.list failed: %s%s", exc, _store_hint(exc))
            return result
        try:
            workloads = tuple(await self._source.snapshot())
        except SourceError as exc:
            log.warning("workload snapshot failed, not deciding this pass: %s", exc)
            return result
        now = self._clock.now_ms()
        keep_ms = max(2 * PENDING_TTL_MS, self.policy.rate_window_ms)
        self.history = self.history.pruned(now, keep_ms)
        for problem in listing.problems:
            log.warning("skipping an unreadable pending/paired entry: %s", problem)
        for request in listing.pending:
            self.saw(request, now)
        result.pending = len(listing.pending)
        paired = {d.device_id: d for d in listing.paired}
        workloads_fp = workloads_fingerprint(workloads)
        async with asyncio.TaskGroup() as sends:
            slots = asyncio.Semaphore(SEND_CONCURRENCY)
            for request in sorted(listing.pending, key=lambda r: (r.ts, r.request_id)):
                if stop.is_set():
                    break
                try:
                    step = self._decide(request, workloads, workloads_fp, paired)
                except Exception:  # a bug on one request must not starve the others; nothing was sent
                    log.exception("deciding %s failed; leaving it pending", request.request_id)
                    continue
                if step is None:
                    continue
                self.reserve(step[2])
                await slots.acquire()
                sends.create_task(self._send(client, step, stop, result, slots))
        for request in listing.pending:
            if self.memory.wants_retry(request.request_id):
                self._hold()
                break
        live = {r.request_id for r in listing.pending}
        if not stop.is_set():
            live |= await node_pass(self, client, workloads, workloads_fp, paired, stop, result)
        self._metrics.pending.set(result.pending)
        self.memory.forget_all_but(live)
        self.first_done = True
        self.last_ms = self._clock.now_ms()
        self._metrics.reconciles.inc()
        self._metrics.last_reconcile.set(self.last_ms / 1000)
        return result

    def _decide(
        self,
        request: PendingRequest,
        workloads: tuple[Workload, ...],
        workloads_fp: str,
        paired: Mapping[str, PairedDevice],
    ) -> tuple[str, str, Decision] | None:
        """(requestId, fingerprint, decision), or None when there is nothing new to decide or act on."""
        rid = request.request_id
        if rid in self.memory.done:
            return None
        fp = fingerprint(request, workloads_fp, paired.get(request.device_id), self.history)
        if self.memory.unchanged(rid, fp):
            return None
        decision = decide(request, workloads, paired, self.policy, self.history, self._clock.now_ms())
        if self.memory.same_again(rid, fp, decision):
            return None
        return rid, fp, decision

    async def _send(
        self,
        client: PairingClient,
        step: tuple[str, str, Decision],
        stop: asyncio.Event,
        result: PassResult,
        slots: asyncio.Semaphore,
    ) -> None:
        rid, fp, decision = step
        try:
            outcome = await self.act(client, decision, rid, stop)
            self.memory.remember(rid, fp, decision, outcome.retry)
            self.record(decision, outcome.text, rid)
            result.records.append((decision, outcome.text))
        except Exception:  # one request's failure must not cancel the others' RPCs in this pass
            log.exception("carrying out the decision on %s failed; leaving it pending", rid)
        finally:
            slots.release()

    def reserve(self, decision: Decision) -> None:
        """Count an approval about to be sent, before its RPC: the next decisions' limits see it."""
        if decision.action is Action.APPROVE and decision.acts and self.settings.trusted:
            self.history = self.history.with_approval(
                decision.workload.id if decision.workload else "", self._clock.now_ms()
            )

    async def act(
        self,
        client: PairingClient,
        decision: Decision,
        rid: str,
        stop: asyncio.Event,
        *,
        kind: str = "device",
    ) -> Outcome:
        """``carry_out`` (the gate and the RPC), then what the loop keeps from it. Call ``reserve`` first."""
        outcome = await carry_out(
            client, decision, rid, settings=self.settings, stop=stop, metrics=self._metrics, kind=kind
        )
        if outcome.kind is Kind.NOTHING:
            self._log_ignore(decision, rid)
        if outcome.settled:
            self.memory.done.add(rid)
        if outcome.timed:
            self._observe_latency(decision, rid)
        return outcome

    def _observe_latency(self, decision: Decision, rid: str) -> None:
        started = self.memory.untimed_start(rid)
        if started is None:
            return
        action = decision.audit_action(self.settings.trusted)
        self._metrics.decision_latency.labels(action=action).observe(
            max(0.0, self._clock.monotonic() - started)
        )

    def _log_ignore(self, decision: Decision, rid: str) -> None:
        if decision.check in {"dev-window", "dev-cap"} and not self._dev_over_logged:
            self._dev_over_logged = True
            log.warning("dev-approve-all is over (%s): no more approvals", decision.reason)
        log.debug("ignore %s [%s]: %s", rid, decision.check, decision.reason)

    def record(self, decision: Decision, outcome: str, rid: str) -> None:
        trusted = self.settings.trusted
        self._metrics.decisions.labels(action=decision.audit_action(trusted), check=decision.check).inc()
        version = self._gateway_version()
        try:
            self._audit.record(
                decision,
                now_ms=self._clock.now_ms(),
                trusted=trusted,
                mode=str(self.settings.mode),
                gateway_version=version,
                outcome=outcome,
            )
        except OSError as exc:  # the decision stands; losing the audit line must be loud
            log.error("cannot write the audit record for %s: %s", rid, exc)


_STORE_FULL = ("disk is full", "read publication was replaced", "no space left", "enospc", "sqlite_full")


def _store_hint(exc: GatewayError) -> str:
    """Seen on 2026.9.6 with a full state volume: no request can even be created, so say where to look."""
    if any(marker in str(exc).lower() for marker in _STORE_FULL):
        return (
            " — the gateway cannot write its pairing store: free space on its state volume"
            " (docs/deployment.md, known limits); requests are decided again by themselves once it can"
        )
    return ""
