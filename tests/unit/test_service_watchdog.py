"""The gateway-loss watchdog: exits only after *sustained* loss, reading the approver's state afresh.

The defect this guards (issue 10 #2): the watchdog held one snapshot of ``approver.state`` and so saw
"disconnected" forever, killing a healthy sidecar every 120 s. These tests run the real Approver (with
the fake gateway session of test_approver) and compress time through the Clock port.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from sidecar.errors import ConfigError
from sidecar.service.watchdog import GatewayLossWatchdog
from sidecar.settings import load_settings
from tests.unit.pairing_fixtures import FakeClock
from tests.unit.test_approver import Harness, settings

AFTER_S = 120.0


def compressed(clock: FakeClock, tick_s: float = 1.0) -> Callable[[float], object]:
    async def sleep(_: float) -> None:
        clock.advance(tick_s)
        await asyncio.sleep(0)

    return sleep


async def let_time_pass(clock: FakeClock, until: float, done: Callable[[], bool] = lambda: False) -> None:
    """Yield to the watchdog (which advances the fake clock one tick per sleep) until ``until``."""
    while clock.monotonic() < until and not done():  # noqa: ASYNC110 - the fake clock has no event
        await asyncio.sleep(0)


def watchdog_for(h: Harness, clock: FakeClock) -> GatewayLossWatchdog:
    # exactly the wiring of sidecar.service.lifecycle.run_async
    return GatewayLossWatchdog(
        lambda: h.approver.state.gateway_connected,
        AFTER_S,
        clock=clock,
        sleep=compressed(clock),  # type: ignore[arg-type]
    )


def test_a_connected_sidecar_outlives_the_loss_window_many_times() -> None:
    async def body() -> None:
        h = Harness(settings())
        await h.start()
        clock = FakeClock()
        stop = asyncio.Event()
        task = asyncio.create_task(watchdog_for(h, clock).run(stop))
        await let_time_pass(clock, 1000.0 + 10 * AFTER_S, task.done)  # twenty minutes, compressed
        assert not task.done(), "the watchdog gave up on a connected sidecar"
        stop.set()
        assert await task is False
        await h.finish()

    asyncio.run(body())


def test_started_before_the_first_connect_it_sees_the_connection_that_follows() -> None:
    """Exactly the production order: the watchdog starts while the sidecar is still connecting."""

    async def body() -> None:
        h = Harness(settings())
        clock = FakeClock()
        stop = asyncio.Event()
        time_runs = asyncio.Event()

        async def gated_sleep(_: float) -> None:
            await time_runs.wait()  # no time passes until the sidecar has connected
            clock.advance(1.0)
            await asyncio.sleep(0)

        dog = GatewayLossWatchdog(
            lambda: h.approver.state.gateway_connected, AFTER_S, clock=clock, sleep=gated_sleep
        )
        task = asyncio.create_task(dog.run(stop))
        await asyncio.sleep(0)
        assert not h.approver.state.gateway_connected  # the watchdog's first look: not connected yet
        await h.start()
        time_runs.set()
        await let_time_pass(clock, 1000.0 + 5 * AFTER_S, task.done)
        assert not task.done(), "a watchdog holding its first snapshot exits a healthy sidecar here"
        stop.set()
        assert await task is False
        await h.finish()

    asyncio.run(body())


def test_exits_after_sustained_loss_and_not_before() -> None:
    async def body() -> None:
        h = Harness(settings())
        await h.start()
        clock = FakeClock()
        stop = asyncio.Event()
        task = asyncio.create_task(watchdog_for(h, clock).run(stop))
        await h.session.disconnect()
        lost_at = clock.monotonic()
        await let_time_pass(clock, lost_at + AFTER_S - 2, task.done)
        assert not task.done(), "exited before the loss window ran out"
        await let_time_pass(clock, lost_at + 2 * AFTER_S, task.done)
        assert task.done(), "never exited although the gateway stayed lost"
        assert task.result() is True
        assert stop.is_set()
        assert AFTER_S - 1 <= clock.monotonic() - lost_at <= AFTER_S + 2
        await h.finish()

    asyncio.run(body())


def test_a_reconnect_restarts_the_window() -> None:
    async def body() -> None:
        h = Harness(settings())
        await h.start()
        clock = FakeClock()
        stop = asyncio.Event()
        task = asyncio.create_task(watchdog_for(h, clock).run(stop))
        for _ in range(3):  # lost for 100 s, back, lost again: never 120 s in a row
            await h.session.disconnect()
            await let_time_pass(clock, clock.monotonic() + 100, task.done)
            await h.session.connect()
            await let_time_pass(clock, clock.monotonic() + 3, task.done)
        assert not task.done()
        stop.set()
        assert await task is False
        await h.finish()

    asyncio.run(body())


def test_disabled_with_zero() -> None:
    never = GatewayLossWatchdog(lambda: False, 0)
    assert asyncio.run(never.run(asyncio.Event())) is False


def test_setting_is_validated_and_defaults_to_two_minutes() -> None:
    assert load_settings(environ={}).exit_after_gateway_loss_s == 120.0
    off = load_settings(environ={"OPENCLAW_PAIRING_EXIT_AFTER_GATEWAY_LOSS": "0"})
    assert off.exit_after_gateway_loss_s == 0
    with pytest.raises(ConfigError, match="OPENCLAW_PAIRING_EXIT_AFTER_GATEWAY_LOSS"):
        load_settings(environ={"OPENCLAW_PAIRING_EXIT_AFTER_GATEWAY_LOSS": "3s"})
