"""The approver's state as health checks see it: a frozen snapshot, not the live loop.

The health server reads it from its own thread; a copied-out value cannot change while a probe looks at it,
and the probes need nothing else from the approver.
"""

from __future__ import annotations

from dataclasses import dataclass


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
