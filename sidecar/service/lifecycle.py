"""The sidecar process from start to stop: probes first, then the parts, the loop, the watchdog, signals.

Promises kept here: SIGTERM/SIGINT → no approval after the signal and the process gone within
``STOP_DEADLINE_S`` whatever is stuck; a second signal exits at once; sustained gateway loss exits with
EXIT_UNREACHABLE so a restart policy takes over (see ``watchdog``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from typing import TYPE_CHECKING

from sidecar.errors import SourceError
from sidecar.exitcodes import EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE
from sidecar.service.assemble import Parts, build
from sidecar.service.probes import health_server
from sidecar.service.watchdog import GatewayLossWatchdog

if TYPE_CHECKING:
    from sidecar.approver.ports import Clock
    from sidecar.health import HealthServer
    from sidecar.settings import Settings

log = logging.getLogger("sidecar.service")

STOP_DEADLINE_S = 5.0  # SIGTERM → the process is gone within this, whatever is stuck


def _hard_exit_after(seconds: float, code: int) -> None:
    """Last resort for the 5-second stop promise: a stuck SDK call or thread must not hold the process."""

    def fire() -> None:
        logging.getLogger("sidecar").error("shutdown took longer than %.0f s; exiting now", seconds)
        logging.shutdown()
        os._exit(code)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()


async def run_async(settings: Settings, stop: asyncio.Event, *, clock: Clock | None = None) -> int:
    """Health endpoints first (so a slow start is visible), then the parts, then the loop until ``stop``."""
    from sidecar.metrics import Metrics

    holder: dict[str, Parts] = {}
    metrics = Metrics()
    server: HealthServer | None = None
    if settings.listen is not None:
        server = health_server(settings, lambda: holder.get("parts"), metrics.render)
        server.start()
    try:
        parts = await build(settings, metrics=metrics, stop=stop)
        holder["parts"] = parts
        watchdog = GatewayLossWatchdog(
            lambda: parts.approver.state.gateway_connected, settings.exit_after_gateway_loss_s, clock=clock
        )
        lost = asyncio.create_task(watchdog.run(stop))
        try:
            await parts.approver.run(stop)
        finally:
            lost.cancel()
            await parts.aclose()
            parts.audit.close()
        if lost.done() and not lost.cancelled() and lost.result():
            return EXIT_UNREACHABLE
    except SourceError:
        if stop.is_set():
            return EXIT_UNREACHABLE
        raise
    finally:
        if server is not None:
            server.stop()
    return EXIT_OK


def run_forever(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT (clean stop, exit 0) or sustained gateway loss (exit 4)."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    signals_seen: list[int] = []

    def on_signal(signum: int) -> None:
        signals_seen.append(signum)
        if len(signals_seen) == 1:
            log.info("%s: stopping (no approvals from now on)", signal.Signals(signum).name)
            stop.set()  # the approver checks this right before every RPC
            _hard_exit_after(STOP_DEADLINE_S - 0.25, EXIT_REFUSED)
        else:
            os._exit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return loop.run_until_complete(run_async(settings, stop))
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()  # does not wait for worker threads stuck in the Docker SDK
