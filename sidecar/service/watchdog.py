"""Exit after sustained gateway loss, so a restart policy can bring the sidecar back where the gateway is.

Why: a sidecar that only retries can be stranded — in a network namespace that was replaced, or behind
a socket that no longer leads anywhere — and would knock on a dead door forever while its probes say
"alive". Exiting after ``after_s`` of continuous loss hands the problem to the container's restart policy.

The watchdog asks ``connected()`` afresh on every tick (the approver's state is a snapshot, so holding
one copy would see "disconnected" forever and kill a healthy sidecar), and reads time only through the
Clock port, so tests compress minutes into milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sidecar.approver.ports import Clock, SystemClock

log = logging.getLogger("sidecar.service.watchdog")

Sleep = Callable[[float], Awaitable[None]]


class GatewayLossWatchdog:
    def __init__(
        self,
        connected: Callable[[], bool],
        after_s: float,
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        tick_s: float = 1.0,
    ) -> None:
        self._connected = connected
        self._after_s = after_s
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._tick_s = tick_s

    async def _wait(self, stop: asyncio.Event) -> None:
        if self._sleep is not None:
            await self._sleep(self._tick_s)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), self._tick_s)

    async def run(self, stop: asyncio.Event) -> bool:
        """Watch until ``stop``; set ``stop`` and return True when the gateway stayed lost too long."""
        if self._after_s <= 0:
            return False
        lost_since = self._clock.monotonic()
        while not stop.is_set():
            await self._wait(stop)
            if stop.is_set():
                break
            now = self._clock.monotonic()
            if self._connected():
                lost_since = now
            elif now - lost_since >= self._after_s:
                log.error(
                    "gateway unreachable for %.0f s: exiting so the restart policy brings the sidecar back",
                    self._after_s,
                )
                stop.set()
                return True
        return False
