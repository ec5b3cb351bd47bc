"""The health server's view of the service: liveness from the loop's heartbeat, readiness from its state.

Why a function of a *getter*: the server starts before the parts exist (a slow Docker engine must show
as "starting", not as a dead port), so every probe asks for the current parts and reads a fresh state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sidecar.health import HealthServer
    from sidecar.service.assemble import Parts
    from sidecar.settings import Settings


def health_server(
    settings: Settings, parts: Callable[[], Parts | None], metrics: Callable[[], bytes]
) -> HealthServer:
    """Probes read the approver's state; before it exists the loop counts as starting, not ready."""
    from sidecar.health import HealthServer, liveness, readiness
    from sidecar.service.kube import source_kind

    assert settings.listen is not None

    def beat() -> float | None:
        current = parts()
        return current.approver.state.loop_alive if current else None

    def state_flag(name: str) -> Callable[[], bool]:
        def check() -> bool:
            current = parts()
            if current is None:
                return False
            state = current.approver.state
            return bool(getattr(state, name)) and not state.stopping

        return check

    max_age = max(30.0, 3 * settings.reconcile_interval_s)
    host, port = settings.listen
    return HealthServer(
        host,
        port,
        live=liveness(beat, max_age),
        ready=readiness(
            {
                "gateway": state_flag("gateway_connected"),
                source_kind(settings): state_flag("source_connected"),  # docker | kubernetes
                "firstReconcile": state_flag("first_reconcile_done"),
            }
        ),
        metrics=metrics,
    )
