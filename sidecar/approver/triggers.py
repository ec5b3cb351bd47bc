"""When a reconcile pass runs: every trigger asks the single worker for a full pass.

A ``device.pair.requested`` event, a workload change, a (re)connect of the gateway or the source, and every
``reconcile_interval`` all just set one flag. Events only make the approver fast; the pass re-lists, so it
never acts on a stale event payload, and triggers that arrive during a pass coalesce into one more pass.
A pass that held a request back (identity not readable yet, rate limit) or whose RPC failed is repeated
within ``HOLD_RETRY_S`` instead of waiting for the interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sidecar.approver.ports import Clock
from sidecar.errors import SourceError
from sidecar.metrics import Metrics
from sidecar.sources.workloads import WorkloadSource

log = logging.getLogger("sidecar.approver")

TICK_S = 1.0  # heartbeat and connectivity sampling period
HOLD_RETRY_S = 5.0  # a pass that held something back (identity unreadable, rate limit) is repeated this soon


class Triggers:
    """The wake-up flag, the worker that serves it and the two tasks that set it besides events."""

    def __init__(
        self,
        *,
        source: WorkloadSource,
        metrics: Metrics,
        clock: Clock,
        interval_s: float,
        tick_s: float = TICK_S,
    ) -> None:
        self._source = source
        self._metrics = metrics
        self._clock = clock
        self._interval_s = interval_s
        self._tick_s = tick_s
        self._wake = asyncio.Event()
        self._source_was_connected = False
        self._retry_at: float | None = None  # monotonic time of the next pass, when something is held
        self.heartbeat: float | None = None  # the worker's last beat (``clock.monotonic()``)

    def trigger(self, reason: str) -> None:
        """Ask the worker for a full reconcile pass (coalesced)."""
        log.debug("reconcile requested: %s", reason)
        self._wake.set()

    def hold(self) -> None:
        """Something was held back or failed: run a pass again soon, not only at the next interval."""
        if self._retry_at is None:
            self._retry_at = self._clock.monotonic() + min(HOLD_RETRY_S, self._interval_s)

    def reset(self) -> None:
        """At start: a source that is connected already does not count as (re)connecting."""
        self._source_was_connected = bool(self._source.connected)

    async def worker(self, stop: asyncio.Event, run_pass: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        while not stop.is_set():
            self.heartbeat = self._clock.monotonic()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._tick_s):
                    await self._wake.wait()
            if self._wake.is_set() and not stop.is_set():
                self._wake.clear()
                await run_pass(stop)

    async def ticker(self, stop: asyncio.Event) -> None:
        interval = self._interval_s
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

    async def watch_source(self, stop: asyncio.Event) -> None:
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

    async def _on_source_change(self, reason: str) -> None:
        self.trigger(f"workloads changed: {reason}")
