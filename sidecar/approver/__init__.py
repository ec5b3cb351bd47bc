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

The parts, one concern each:

- ``core`` — ``Approver``: runs the parts together, stops them together, and the one-shot commands.
- ``triggers`` — when a pass runs: every trigger (event, workload change, (re)connect, interval, a held
  request) asks the single worker for a full reconcile; triggers during a pass coalesce into one more.
- ``reconcile`` — one pass: ``device.pair.list`` (the truth; events only make it fast), the workload
  snapshot, the pure policy per pending request, then act and audit.
- ``memory`` — what is remembered per request between passes, hence when a request is decided again.
- ``actions`` — the fail-closed gate and the only place an approve/reject RPC is sent.
- ``oneshot`` — a connection just long enough for ``once``/``explain``.
- ``ports`` and ``state`` — the collaborators' protocols, and what health checks read.
"""

from sidecar.approver.core import NOT_PENDING, SHUTDOWN_GRACE_S, Approver
from sidecar.approver.ports import (
    Clock,
    OnConnect,
    OnDisconnect,
    OnEvent,
    PairingClient,
    Session,
    SessionFactory,
    SystemClock,
)
from sidecar.approver.reconcile import PassResult
from sidecar.approver.state import ApproverState
from sidecar.approver.triggers import HOLD_RETRY_S, TICK_S

__all__ = [
    "HOLD_RETRY_S",
    "NOT_PENDING",
    "SHUTDOWN_GRACE_S",
    "TICK_S",
    "Approver",
    "ApproverState",
    "Clock",
    "OnConnect",
    "OnDisconnect",
    "OnEvent",
    "PairingClient",
    "PassResult",
    "Session",
    "SessionFactory",
    "SystemClock",
]
