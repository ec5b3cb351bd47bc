"""The approver loop: gateway events + workload changes + periodic reconcile → decide → act → audit.

Wiring (done by ``sidecar/cli/run.py``; tests pass fakes for every collaborator)::

    approver = Approver(
        settings,                                   # sidecar.settings.Settings (trusted flag included)
        session_factory=lambda on_connect, on_event, on_disconnect: GatewaySession(
            client_factory, on_connect=on_connect, on_event=on_event, on_disconnect=on_disconnect),
        source=docker_source,                       # a sidecar.sources.workloads.WorkloadSource
        audit=AuditLog(settings.audit_log),
        metrics=Metrics(),
        project=(await docker_source.resolve_scope()).project,  # resolves `project: auto`
    )
    await approver.run(stop_event)      # `run`; returns within ~5 s of stop_event.set()
    await approver.once()               # `once`: one reconcile pass → count of requests needing attention
    await approver.explain(request_id)  # `explain`: the Decision, nothing sent, nothing audited
    approver.state                      # for /healthz (loop_alive) and /readyz (connected, first reconcile)

How it behaves, and why:

- **Every trigger is a full reconcile.** A ``device.pair.requested`` event, a workload change, a
  (re)connect of the gateway or the source, and every ``reconcile_interval`` all ask the single worker for a
  pass: ``device.pair.list`` then the workload snapshot then the pure policy per pending request. Events
  only make it fast; the list is the truth (fresh ``paired`` for repair checks, no stale event payloads),
  and triggers that arrive during a pass coalesce into one more pass. A pass that held a request back
  (identity not readable yet, rate limit) or whose RPC failed is repeated within ``HOLD_RETRY_S``.
- **Fail closed.** Without the trusted flag no approve/reject RPC is ever sent; the audit says
  ``would-approve``/``would-reject``. Once ``stop`` is set no RPC is sent either — it is checked right
  before each one.
- **De-duplication.** A request is decided again only when its inputs (the request, the workloads, its
  paired entry, what history says about it) changed, or when its last decision was transient (rate limit,
  churn, identity not readable yet) or its RPC failed. A decision is audited only when it differs from the
  last one audited for that request. A request that is approved/rejected is never decided again.
- **"unknown requestId".** When approve/reject fails with a gateway error, one re-list tells whether the
  request is gone (superseded, expired, resolved elsewhere: recorded as ``gone``) or still there (an error,
  retried on the next pass) — no matching on error text.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sidecar.audit import AuditLog
from sidecar.errors import GatewayError, GatewayRequestError, GatewayUnreachable, PairingError, SourceError
from sidecar.gateway.models import GatewayEvent, HelloOk, PairedDevice, PairingList, PendingRequest
from sidecar.metrics import Metrics
from sidecar.policy import Action, Decision, History, decide
from sidecar.policy.context import PENDING_TTL_MS
from sidecar.policy.decision import Verdict
from sidecar.settings import Mode, Settings
from sidecar.sources.workloads import Workload, WorkloadSource

log = logging.getLogger("sidecar.approver")
T = TypeVar("T")
_PAST = {Action.APPROVE: "approved", Action.REJECT: "rejected", Action.IGNORE: "ignored"}

SHUTDOWN_GRACE_S = 4.0  # stop within 5 s: tasks get this long, then they are cancelled
TICK_S = 1.0  # heartbeat and connectivity sampling period
HOLD_RETRY_S = 5.0  # a pass that held something back (identity unreadable, rate limit) is repeated this soon
NOT_PENDING = "not-pending"


class PairingClient(Protocol):
    """The slice of ``sidecar.gateway.client.GatewayClient`` the approver uses."""

    @property
    def hello(self) -> HelloOk | None: ...

    async def list_pairing(self) -> PairingList: ...

    async def approve(self, request_id: str) -> dict[str, Any]: ...

    async def reject(self, request_id: str) -> dict[str, Any]: ...


class Session(Protocol):
    """The slice of ``sidecar.gateway.session.GatewaySession`` the approver uses."""

    async def run(self, stop: asyncio.Event) -> None: ...


OnConnect = Callable[[PairingClient, bool], Awaitable[None]]
OnEvent = Callable[[GatewayEvent], Awaitable[None]]
OnDisconnect = Callable[..., Awaitable[None]]
SessionFactory = Callable[[OnConnect, OnEvent, OnDisconnect], Session]


class Clock(Protocol):
    def now_ms(self) -> int: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass(frozen=True)
class ApproverState:
    """What health checks read. ``loop_alive`` is the worker's last heartbeat (``clock.monotonic()``)."""

    loop_alive: float | None
    gateway_connected: bool
    source_connected: bool
    first_reconcile_done: bool
    last_reconcile_ms: int | None
    stopping: bool

    def alive(self, now: float, max_silence_s: float) -> bool:
        return self.loop_alive is not None and now - self.loop_alive <= max_silence_s

    @property
    def ready(self) -> bool:
        return self.gateway_connected and self.source_connected and self.first_reconcile_done


@dataclass
class _Seen:
    fingerprint: str
    key: tuple[str, str, str]
    transient: bool
    retry: bool = False


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


class Approver:
    def __init__(
        self,
        settings: Settings,
        *,
        session_factory: SessionFactory,
        source: WorkloadSource,
        audit: AuditLog,
        metrics: Metrics,
        clock: Clock | None = None,
        project: str | None = None,
        tick_s: float = TICK_S,
        shutdown_grace_s: float = SHUTDOWN_GRACE_S,
    ) -> None:
        self.settings = settings
        self.policy = settings.policy.for_own_project(project)
        self._session_factory = session_factory
        self._source = source
        self._audit = audit
        self._metrics = metrics
        self._clock = clock or SystemClock()
        self._tick_s = tick_s
        self._grace_s = shutdown_grace_s
        self._history = History(started_ms=self._clock.now_ms())
        self._client: PairingClient | None = None
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._seen: dict[str, _Seen] = {}
        self._done: set[str] = set()  # approved/rejected (RPC sent) or gone: never decided again
        self._first_seen: dict[str, float] = {}  # requestId -> monotonic time first seen (latency)
        self._timed: set[str] = set()  # requestIds whose latency was observed already
        self._heartbeat: float | None = None
        self._first_reconcile = False
        self._last_reconcile_ms: int | None = None
        self._source_was_connected = False
        self._dev_over_logged = False
        self._retry_at: float | None = None  # monotonic time of the next pass, when something is held
        metrics.trusted.set(1 if settings.trusted else 0)

    # --- state -----------------------------------------------------------------------------------

    @property
    def state(self) -> ApproverState:
        return ApproverState(
            loop_alive=self._heartbeat,
            gateway_connected=self._client is not None,
            source_connected=bool(self._source.connected),
            first_reconcile_done=self._first_reconcile,
            last_reconcile_ms=self._last_reconcile_ms,
            stopping=self._stop.is_set(),
        )

    @property
    def history(self) -> History:
        return self._history

    def trigger(self, reason: str) -> None:
        """Ask the worker for a full reconcile pass (coalesced)."""
        log.debug("reconcile requested: %s", reason)
        self._wake.set()

    # --- run -------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; returns within ~5 s of it. A crashed part stops the whole loop."""
        self._stop = stop
        self._history = History(started_ms=self._clock.now_ms())
        self._source_was_connected = bool(self._source.connected)
        if self.settings.mode is Mode.DEV_APPROVE_ALL:
            log.warning(
                "mode dev-approve-all: approving ANY pending request from the project networks for %d s "
                "(at most %d approvals). Development only.",
                self.policy.dev_window_ms // 1000,
                self.policy.dev_max_approvals,
            )
        if not self.settings.trusted:
            log.warning(
                "OPENCLAW_TRUSTED_ENV is not set: observing only, no request will be approved or rejected"
            )
        session = self._session_factory(self._on_connect, self._on_event, self._on_disconnect)
        tasks = [
            asyncio.create_task(session.run(stop), name="gateway-session"),
            asyncio.create_task(self._watch_source(stop), name="workload-source"),
            asyncio.create_task(self._worker(stop), name="approver-worker"),
            asyncio.create_task(self._ticker(stop), name="approver-ticker"),
        ]
        stopper = asyncio.create_task(stop.wait(), name="approver-stop")
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        ended = next((t for t in done if t is not stopper), None) if not stop.is_set() else None
        stop.set()  # whatever happened, no RPC from now on
        _, still = await asyncio.wait(tasks, timeout=self._grace_s)
        for task in still:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*still, return_exceptions=True)
        stopper.cancel()
        self._client = None
        self._metrics.gateway_connected.set(0)
        if ended is not None:  # a part ended on its own before stop: never run half an approver
            exc = ended.exception() if not ended.cancelled() else None
            raise exc or PairingError(f"{ended.get_name()} ended unexpectedly; stopping the approver")

    async def _worker(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._heartbeat = self._clock.monotonic()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._tick_s):
                    await self._wake.wait()
            if self._wake.is_set() and not stop.is_set():
                self._wake.clear()
                client = self._client
                if client is not None:
                    await self._reconcile(client, stop)

    async def _ticker(self, stop: asyncio.Event) -> None:
        interval = self.settings.reconcile_interval_s
        next_at = self._clock.monotonic() + interval
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(self._tick_s, interval)):
                    await stop.wait()
            connected = bool(self._source.connected)
            self._metrics.docker_connected.set(1 if connected else 0)
            if connected and not self._source_was_connected:
                self.trigger("workload source connected")
            self._source_was_connected = connected
            now = self._clock.monotonic()
            if now >= next_at:
                next_at = now + interval
                self.trigger("reconcile interval")
            elif self._retry_at is not None and now >= self._retry_at:
                self._retry_at = None
                self.trigger("re-check held requests")

    async def _watch_source(self, stop: asyncio.Event) -> None:
        backoff = 1.0
        while not stop.is_set():
            try:
                await self._source.watch(stop.is_set, self._on_source_change)
                backoff = 1.0
            except SourceError as exc:
                log.warning("workload source lost: %s (retrying in %.0f s)", exc, backoff)
            if stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await stop.wait()
            backoff = min(backoff * 2, 30.0)
            self.trigger("workload source watch restarted")

    # --- callbacks -------------------------------------------------------------------------------

    async def _on_connect(self, client: PairingClient, reconnected: bool) -> None:
        self._client = client
        self._metrics.gateway_connected.set(1)
        version = client.hello.server_version if client.hello else "?"
        log.info("gateway %s (OpenClaw %s)", "reconnected" if reconnected else "connected", version)
        self.trigger("gateway reconnected" if reconnected else "gateway connected")

    async def _on_disconnect(self, *args: object) -> None:
        self._client = None
        self._metrics.gateway_connected.set(0)
        log.warning("gateway disconnected%s", f": {args[0]}" if args and args[0] else "")

    async def _on_source_change(self, reason: str) -> None:
        self.trigger(f"workloads changed: {reason}")

    async def _on_event(self, event: GatewayEvent) -> None:
        now = self._clock.now_ms()
        if event.event == "device.pair.requested":
            try:
                request = event.pending_request()
            except PairingError as exc:
                log.warning("unreadable device.pair.requested event (%s); reconciling", exc)
            else:
                self._first_seen.setdefault(request.request_id, self._clock.monotonic())
                self._history = self._history.with_seen(request, now)
            self.trigger("device.pair.requested")
        elif event.event == "device.pair.resolved":
            try:
                resolved = event.resolved()
            except PairingError as exc:
                log.warning("unreadable device.pair.resolved event: %s", exc)
                return
            self._history = self._history.with_resolved(resolved.request_id, resolved.decision, now)

    # --- one pass --------------------------------------------------------------------------------

    async def _reconcile(self, client: PairingClient, stop: asyncio.Event) -> PassResult:
        result = PassResult()
        try:
            listing = await client.list_pairing()
        except GatewayError as exc:
            self._metrics.rpc_errors.labels(method="device.pair.list").inc()
            log.warning("device.pair.list failed: %s", exc)
            return result
        try:
            workloads = tuple(await self._source.snapshot())
        except SourceError as exc:
            log.warning("workload snapshot failed, not deciding this pass: %s", exc)
            return result
        now = self._clock.now_ms()
        keep_ms = max(2 * PENDING_TTL_MS, self.policy.rate_window_ms)
        self._history = self._history.pruned(now, keep_ms)
        for problem in listing.problems:
            log.warning("skipping an unreadable pending/paired entry: %s", problem)
        for request in listing.pending:
            self._history = self._history.with_seen(request, now)
            self._first_seen.setdefault(request.request_id, self._clock.monotonic())
        self._metrics.pending.set(len(listing.pending))
        result.pending = len(listing.pending)
        paired = {d.device_id: d for d in listing.paired}
        workloads_fp = _digest([_workload_facts(w) for w in workloads])
        for request in sorted(listing.pending, key=lambda r: (r.ts, r.request_id)):
            if stop.is_set():
                break
            try:
                record = await self._handle(client, request, workloads, workloads_fp, paired, stop)
            except Exception:  # a bug on one request must not starve the others; nothing was sent for it
                log.exception("deciding %s failed; leaving it pending", request.request_id)
                continue
            if record is not None:
                result.records.append(record)
            state = self._seen.get(request.request_id)
            if state is not None and (state.transient or state.retry) and self._retry_at is None:
                self._retry_at = self._clock.monotonic() + min(
                    HOLD_RETRY_S, self.settings.reconcile_interval_s
                )
        live = {r.request_id for r in listing.pending}
        for table in (self._seen, self._first_seen):
            for rid in [rid for rid in table if rid not in live]:
                del table[rid]
        self._done &= live
        self._timed &= live
        self._first_reconcile = True
        self._last_reconcile_ms = self._clock.now_ms()
        self._metrics.reconciles.inc()
        self._metrics.last_reconcile.set(self._last_reconcile_ms / 1000)
        return result

    def _fingerprint(self, request: PendingRequest, workloads_fp: str, paired: PairedDevice | None) -> str:
        h = self._history
        return _digest(
            [
                request.to_json(),
                workloads_fp,
                paired.to_json() if paired else None,
                h.resolution(request.request_id),
                h.newer_request(request),
            ]
        )

    async def _handle(
        self,
        client: PairingClient,
        request: PendingRequest,
        workloads: tuple[Workload, ...],
        workloads_fp: str,
        paired: Mapping[str, PairedDevice],
        stop: asyncio.Event,
    ) -> tuple[Decision, str] | None:
        rid = request.request_id
        if rid in self._done:
            return None
        fp = self._fingerprint(request, workloads_fp, paired.get(request.device_id))
        prev = self._seen.get(rid)
        if prev and prev.fingerprint == fp and not prev.transient and not prev.retry:
            return None
        now = self._clock.now_ms()
        decision = decide(request, workloads, paired, self.policy, self._history, now)
        if prev and prev.fingerprint == fp and prev.key == decision.key and not prev.retry:
            prev.transient = decision.transient
            return None
        outcome, retry = await self._act(client, decision, rid, stop)
        self._seen[rid] = _Seen(fp, decision.key, decision.transient, retry)
        self._record(decision, outcome, rid)
        return decision, outcome

    async def _act(
        self, client: PairingClient, decision: Decision, rid: str, stop: asyncio.Event
    ) -> tuple[str, bool]:
        """Carry a decision out. Returns (outcome for the audit, whether to retry on the next pass)."""
        if not decision.acts:
            self._log_ignore(decision, rid)
            return "none", False
        if not self.settings.trusted:  # observe: re-decided only when inputs change; counts no approval
            self._observe_latency(decision, rid)
            log.info("%s %s: %s", decision.audit_action(False), rid, decision.reason)
            return "observe-only: OPENCLAW_TRUSTED_ENV is not set", False
        if stop.is_set():  # checked immediately before the RPC: never act after shutdown starts
            return "not-sent: shutting down", True
        method = "device.pair.approve" if decision.action is Action.APPROVE else "device.pair.reject"
        try:
            if decision.action is Action.APPROVE:
                await client.approve(rid)
            else:
                await client.reject(rid)
        except GatewayRequestError as exc:
            if await self._still_pending(client, rid) is False:
                self._done.add(rid)
                log.info("%s %s: request no longer pending (superseded, expired or resolved)", method, rid)
                return "gone: no longer pending (superseded, expired or resolved)", False
            self._metrics.rpc_errors.labels(method=method).inc()
            log.error("%s %s failed: %s", method, rid, exc)
            return f"error: {type(exc).__name__}: {exc}", True
        except GatewayError as exc:
            self._metrics.rpc_errors.labels(method=method).inc()
            log.error("%s %s failed: %s", method, rid, exc)
            return f"error: {type(exc).__name__}: {exc}", True
        self._done.add(rid)
        self._observe_latency(decision, rid)
        who = decision.workload.name if decision.workload else "?"
        if decision.action is Action.APPROVE:
            self._history = self._history.with_approval(
                decision.workload.id if decision.workload else "", self._clock.now_ms()
            )
        if self.settings.mode is Mode.DEV_APPROVE_ALL and decision.action is Action.APPROVE:
            log.warning("dev-approve-all APPROVED %s from container %s without identity checks", rid, who)
        else:
            log.info("%s %s (container %s): %s", _PAST[decision.action], rid, who, decision.reason)
        return "sent", False

    def _observe_latency(self, decision: Decision, rid: str) -> None:
        started = self._first_seen.get(rid)
        if started is None or rid in self._timed:
            return
        self._timed.add(rid)
        action = decision.audit_action(self.settings.trusted)
        self._metrics.decision_latency.labels(action=action).observe(
            max(0.0, self._clock.monotonic() - started)
        )

    def _log_ignore(self, decision: Decision, rid: str) -> None:
        if decision.check in {"dev-window", "dev-cap"} and not self._dev_over_logged:
            self._dev_over_logged = True
            log.warning("dev-approve-all is over (%s): no more approvals", decision.reason)
        log.debug("ignore %s [%s]: %s", rid, decision.check, decision.reason)

    async def _still_pending(self, client: PairingClient, rid: str) -> bool | None:
        try:
            return (await client.list_pairing()).find(rid) is not None
        except GatewayError:
            return None

    def _record(self, decision: Decision, outcome: str, rid: str) -> None:
        trusted = self.settings.trusted
        self._metrics.decisions.labels(action=decision.audit_action(trusted), check=decision.check).inc()
        client = self._client
        version = client.hello.server_version if client is not None and client.hello else None
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

    # --- one-shot commands -----------------------------------------------------------------------

    async def once(self, timeout: float = 30.0) -> int:  # noqa: ASYNC109 - the CLI's own deadline
        """One reconcile pass (acting as ``run`` would). Returns how many requests need attention."""
        stop = asyncio.Event()
        self._stop = stop
        result = await self._with_client(lambda client: self._reconcile(client, stop), timeout)
        return result.attention

    async def explain(self, request_id: str, timeout: float = 30.0) -> Decision:  # noqa: ASYNC109
        """What the policy decides for ``request_id`` now, and why. Sends nothing, audits nothing."""

        async def run(client: PairingClient) -> Decision:
            listing = await client.list_pairing()
            request = listing.find(request_id)
            if request is None:
                reason = f"no pending request {request_id}: resolved, expired, superseded or never existed"
                return Decision(Action.IGNORE, NOT_PENDING, reason, {"request": {"requestId": request_id}})
            workloads = tuple(await self._source.snapshot())
            paired = {d.device_id: d for d in listing.paired}
            history = self._history
            for p in listing.pending:
                history = history.with_seen(p, self._clock.now_ms())
            return decide(request, workloads, paired, self.policy, history, self._clock.now_ms())

        return await self._with_client(run, timeout)

    async def _with_client(self, fn: Callable[[PairingClient], Awaitable[T]], timeout: float) -> T:  # noqa: ASYNC109
        if self._client is not None:  # inside `run`: reuse the live connection
            return await fn(self._client)
        connected: asyncio.Future[PairingClient] = asyncio.get_running_loop().create_future()
        errors: list[object] = []

        async def on_connect(client: PairingClient, reconnected: bool) -> None:
            if not connected.done():
                connected.set_result(client)

        async def on_event(event: GatewayEvent) -> None:
            return None

        async def on_disconnect(*args: object) -> None:
            errors.extend(a for a in args if a)

        stop = asyncio.Event()
        session = self._session_factory(on_connect, on_event, on_disconnect)
        task = asyncio.create_task(session.run(stop))
        try:
            waiters: list[asyncio.Future[Any]] = [connected, task]
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if not connected.done():
                failure = task.exception() if task.done() and not task.cancelled() else None
                last = failure or getattr(session, "last_error", None) or next(reversed(errors), None)
                if isinstance(last, BaseException):
                    raise last
                raise GatewayUnreachable(
                    f"no connection to the gateway at {self.settings.gateway_url} within {timeout:g} s "
                    "(check OPENCLAW_GATEWAY_URL and OPENCLAW_GATEWAY_TOKEN)"
                )
            client = connected.result()
            self._client = client
            return await fn(client)
        finally:
            self._client = None
            stop.set()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(self._grace_s):
                    await task
            task.cancel()


def _workload_facts(w: Workload) -> list[Any]:
    """Everything about a workload the policy can read, in a stable order (for change detection)."""
    return [
        w.id,
        w.name,
        sorted(w.labels.items()),
        sorted(w.ips.items()),
        sorted(w.network_gateways.items()),
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
