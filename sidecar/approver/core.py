"""``Approver``: runs the parts together as one loop, and the one-shot commands ``once`` and ``explain``.

Why one object: the gateway session, the workload watch, the worker and the ticker only make sense
together, so a part that ends on its own stops the whole approver (never half an approver), and once
``stop`` is set no RPC is sent. The parts live beside this file; this one wires them and owns the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sidecar.approver.audit import AuditLog
from sidecar.approver.oneshot import connect_once
from sidecar.approver.ports import Clock, PairingClient, SessionFactory, SystemClock
from sidecar.approver.reconcile import Reconciler
from sidecar.approver.state import ApproverState
from sidecar.approver.triggers import TICK_S, Triggers
from sidecar.errors import GatewayRequestError, PairingError
from sidecar.gateway.models import GatewayEvent
from sidecar.gateway.node_records import NodeRequest, NodeResolved
from sidecar.metrics import Metrics
from sidecar.policy import Action, Decision, History, decide
from sidecar.policy.nodes import decide_node
from sidecar.settings import Mode, Settings
from sidecar.sources.workloads import WorkloadSource

log = logging.getLogger("sidecar.approver")
T = TypeVar("T")

SHUTDOWN_GRACE_S = 4.0  # stop within 5 s: tasks get this long, then they are cancelled
NOT_PENDING = "not-pending"


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
        self._metrics = metrics
        self._clock = clock or SystemClock()
        self._grace_s = shutdown_grace_s
        self._client: PairingClient | None = None
        self._stop = asyncio.Event()
        self._triggers = Triggers(
            source=source,
            metrics=metrics,
            clock=self._clock,
            interval_s=settings.reconcile_interval_s,
            tick_s=tick_s,
        )
        self._pass = Reconciler(
            settings,
            self.policy,
            source=source,
            audit=audit,
            metrics=metrics,
            clock=self._clock,
            hold=self._triggers.hold,
            gateway_version=self._gateway_version,
        )
        metrics.trusted.set(1 if settings.trusted else 0)

    # --- state -----------------------------------------------------------------------------------

    @property
    def state(self) -> ApproverState:
        return ApproverState(
            loop_alive=self._triggers.heartbeat,
            gateway_connected=self._client is not None,
            source_connected=bool(self._source.connected),
            first_reconcile_done=self._pass.first_done,
            last_reconcile_ms=self._pass.last_ms,
            stopping=self._stop.is_set(),
        )

    @property
    def history(self) -> History:
        return self._pass.history

    def trigger(self, reason: str) -> None:
        """Ask the worker for a full reconcile pass (coalesced)."""
        self._triggers.trigger(reason)

    # --- run -------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; returns within ~5 s of it. A crashed part stops the whole loop."""
        self._stop = stop
        self._pass.history = History(started_ms=self._clock.now_ms())
        self._triggers.reset()
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
            asyncio.create_task(self._triggers.watch_source(stop), name="workload-source"),
            asyncio.create_task(self._triggers.worker(stop, self._pass_if_connected), name="approver-worker"),
            asyncio.create_task(self._triggers.ticker(stop), name="approver-ticker"),
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

    async def _pass_if_connected(self, stop: asyncio.Event) -> None:
        client = self._client
        if client is not None:
            await self._pass.run(client, stop)

    def _gateway_version(self) -> str | None:
        client = self._client
        return client.hello.server_version if client is not None and client.hello else None

    # --- gateway callbacks -----------------------------------------------------------------------

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

    async def _on_event(self, event: GatewayEvent) -> None:
        now = self._clock.now_ms()
        if event.event == "device.pair.requested":
            try:
                request = event.pending_request()
            except PairingError as exc:
                log.warning("unreadable device.pair.requested event (%s); reconciling", exc)
            else:
                self._pass.saw(request, now)
            self.trigger("device.pair.requested")
        elif event.event == "device.pair.resolved":
            try:
                resolved = event.resolved()
            except PairingError as exc:
                log.warning("unreadable device.pair.resolved event: %s", exc)
                return
            self._pass.history = self._pass.history.with_resolved(resolved.request_id, resolved.decision, now)
        elif event.event == "node.pair.requested":
            self.trigger("node.pair.requested")
        elif event.event == "node.pair.resolved":
            try:
                node = NodeResolved.from_json(event.payload)
            except PairingError as exc:
                log.warning("unreadable node.pair.resolved event: %s", exc)
                return
            self._pass.history = self._pass.history.with_resolved(node.request_id, node.decision, now)

    # --- one-shot commands -----------------------------------------------------------------------

    async def once(self, timeout: float = 30.0) -> int:  # noqa: ASYNC109 - the CLI's own deadline
        """One reconcile pass (acting as ``run`` would). Returns how many requests need attention."""
        stop = asyncio.Event()
        self._stop = stop
        result = await self._with_client(lambda client: self._pass.run(client, stop), timeout)
        return result.attention

    async def explain(self, request_id: str, timeout: float = 30.0) -> Decision:  # noqa: ASYNC109
        """What the policy decides for ``request_id`` now, and why. Sends nothing, audits nothing."""

        async def run(client: PairingClient) -> Decision:
            listing = await client.list_pairing()
            request = listing.find(request_id)
            if request is None:
                node = await _pending_node(client, request_id)
                if node is not None:
                    workloads = tuple(await self._source.snapshot())
                    paired = {d.device_id: d for d in listing.paired}
                    now = self._clock.now_ms()
                    return decide_node(node, workloads, paired, self.policy, self._pass.history, now)
                reason = f"no pending request {request_id}: resolved, expired, superseded or never existed"
                return Decision(Action.IGNORE, NOT_PENDING, reason, {"request": {"requestId": request_id}})
            workloads = tuple(await self._source.snapshot())
            paired = {d.device_id: d for d in listing.paired}
            history = self._pass.history
            for p in listing.pending:
                history = history.with_seen(p, self._clock.now_ms())
            return decide(request, workloads, paired, self.policy, history, self._clock.now_ms())

        return await self._with_client(run, timeout)

    async def _with_client(self, fn: Callable[[PairingClient], Awaitable[T]], timeout: float) -> T:  # noqa: ASYNC109
        if self._client is not None:  # inside `run`: reuse the live connection
            return await fn(self._client)
        async with connect_once(
            self._session_factory,
            gateway_url=self.settings.gateway_url,
            timeout=timeout,
            grace_s=self._grace_s,
        ) as client:
            self._client = client
            try:
                return await fn(client)
            finally:
                self._client = None


async def _pending_node(client: PairingClient, request_id: str) -> NodeRequest | None:
    """The pending node surface with this id, if the gateway has node capability approval at all."""
    try:
        return (await client.list_node_pairing()).find(request_id)
    except GatewayRequestError:
        return None
