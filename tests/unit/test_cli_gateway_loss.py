"""`run` exits after sustained gateway loss, so a restart policy re-joins a restarted gateway's namespace."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from sidecar.cli.run import _exit_on_gateway_loss
from sidecar.errors import ConfigError
from sidecar.settings import Settings


def parts_with(connected: bool) -> SimpleNamespace:
    return SimpleNamespace(approver=SimpleNamespace(state=SimpleNamespace(gateway_connected=connected)))


def test_exits_after_the_gateway_stayed_unreachable() -> None:
    stop = asyncio.Event()
    started = time.monotonic()
    assert asyncio.run(_exit_on_gateway_loss(parts_with(False), 1.5, stop)) is True  # type: ignore[arg-type]
    assert stop.is_set()
    assert 1.5 <= time.monotonic() - started < 4


def test_stays_while_connected_and_when_disabled() -> None:
    async def scenario(after_s: float) -> bool:
        stop = asyncio.Event()
        task = asyncio.create_task(_exit_on_gateway_loss(parts_with(True), after_s, stop))  # type: ignore[arg-type]
        await asyncio.sleep(2.5)
        stop.set()
        return await task

    assert asyncio.run(scenario(1.5)) is False
    assert asyncio.run(_exit_on_gateway_loss(parts_with(False), 0, asyncio.Event())) is False  # type: ignore[arg-type]


def test_setting_is_validated_and_defaults_to_two_minutes() -> None:
    assert Settings.load(environ={}).exit_after_gateway_loss_s == 120.0
    off = Settings.load(environ={"OPENCLAW_PAIRING_EXIT_AFTER_GATEWAY_LOSS": "0"})
    assert off.exit_after_gateway_loss_s == 0
    with pytest.raises(ConfigError, match="OPENCLAW_PAIRING_EXIT_AFTER_GATEWAY_LOSS"):
        Settings.load(environ={"OPENCLAW_PAIRING_EXIT_AFTER_GATEWAY_LOSS": "3s"})
