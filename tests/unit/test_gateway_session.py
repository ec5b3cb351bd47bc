"""GatewaySession against the fake gateway: reconnect + reconcile, retryAfterMs, waiting for own pairing."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from sidecar.errors import GatewayClosed
from sidecar.gateway.client import GatewayClient
from sidecar.gateway.models import GatewayEvent
from sidecar.gateway.session import GatewaySession
from sidecar.identity.keys import DeviceIdentity
from tests.unit.gateway_fake import FakeGateway
from tests.unit.test_gateway_models import PENDING, RID

TOKEN = "tok-123"


async def wait_for(predicate: Any, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def test_reconnects_after_restart_and_reconciles() -> None:
    async def main() -> None:
        gw = await FakeGateway(TOKEN).start()
        port = gw.port
        connects: list[bool] = []
        events: list[str] = []
        disconnects: list[BaseException | None] = []

        async def on_connect(client: GatewayClient, reconnected: bool) -> None:
            connects.append(reconnected)
            await client.list_pairing()  # reconcile

        async def listing(params: dict[str, Any], conn: Any) -> Any:
            return {"pending": [PENDING], "paired": []}

        gw.methods["device.pair.list"] = listing
        session = GatewaySession(
            lambda: GatewayClient(f"ws://127.0.0.1:{port}", token=TOKEN, identity=None, connect_timeout=1),
            on_connect=on_connect,
            on_event=lambda e: events.append(e.event),
            on_disconnect=disconnects.append,
            max_backoff=0.2,
            initial_backoff=0.05,
        )
        stop = asyncio.Event()
        runner = asyncio.create_task(session.run(stop))
        await wait_for(lambda: connects == [False] and session.connected)
        await gw.broadcast("device.pair.requested", PENDING)
        await wait_for(lambda: events == ["device.pair.requested"])

        await gw.stop()  # gateway restart: down for a while, then back on the same port
        await wait_for(lambda: not session.connected and len(disconnects) == 1)
        assert isinstance(disconnects[0], GatewayClosed)
        await asyncio.sleep(0.5)
        gw2 = FakeGateway(TOKEN)
        gw2.methods["device.pair.list"] = listing
        await gw2.start(port)
        await wait_for(lambda: connects == [False, True] and session.connected)
        await gw2.broadcast(
            "device.pair.resolved", {"requestId": RID, "deviceId": "d", "decision": "approved"}
        )
        await wait_for(lambda: events[-1:] == ["device.pair.resolved"])
        assert session.connects == 2
        assert session.client is not None

        stop.set()
        await asyncio.wait_for(runner, 5)
        assert disconnects[-1] is None
        assert session.client is None
        assert len(gw2.requests) == 1  # one reconcile list per connect
        await gw2.stop()

    asyncio.run(main())


def test_gateway_starting_waits_retry_after_not_backoff() -> None:
    async def main() -> None:
        async with FakeGateway(TOKEN) as gw:
            gw.connect_refusal = (
                {"code": "UNAVAILABLE", "message": "gateway starting; retry shortly", "retryable": True,
                 "retryAfterMs": 150, "details": {"reason": "startup-sidecars"}},
                1013,
                "gateway starting",
            )  # fmt: skip
            connected = asyncio.Event()

            async def on_connect(client: GatewayClient, reconnected: bool) -> None:
                connected.set()

            session = GatewaySession(
                lambda: GatewayClient(gw.url, token=TOKEN, identity=None),
                on_connect=on_connect,
                on_event=lambda e: None,
                max_backoff=30,
                initial_backoff=5,  # would dominate if retryAfterMs were ignored
            )
            stop = asyncio.Event()
            runner = asyncio.create_task(session.run(stop))
            await wait_for(lambda: len(gw.connects) >= 3, limit=3)  # ~150 ms apart, not 5 s
            gw.connect_refusal = None
            await asyncio.wait_for(connected.wait(), 3)
            stop.set()
            await asyncio.wait_for(runner, 5)

    asyncio.run(main())


def test_own_pairing_required_is_announced_once_then_connects(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sidecar.gateway")
    ident = DeviceIdentity.generate()

    async def main() -> None:
        async with FakeGateway(TOKEN) as gw:
            gw.connect_refusal = (
                {"code": "NOT_PAIRED", "message": "pairing required: device is not approved yet",
                 "details": {"code": "PAIRING_REQUIRED", "reason": "not-paired", "requestId": RID}},
                1008,
                f"pairing required: device is not approved yet (requestId: {RID})",
            )  # fmt: skip
            connects: list[bool] = []

            async def on_connect(client: GatewayClient, reconnected: bool) -> None:
                connects.append(reconnected)

            session = GatewaySession(
                lambda: GatewayClient(gw.url, token=TOKEN, identity=ident),
                on_connect=on_connect,
                on_event=lambda e: None,
                max_backoff=0.1,
                initial_backoff=0.02,
            )
            stop = asyncio.Event()
            runner = asyncio.create_task(session.run(stop))
            await wait_for(lambda: len(gw.connects) >= 4)
            assert not session.connected
            assert session.last_error is not None
            gw.connect_refusal = None  # an operator approved it
            await wait_for(lambda: connects == [False])
            stop.set()
            await asyncio.wait_for(runner, 5)

    asyncio.run(main())
    announcements = [r for r in caplog.records if f"openclaw devices approve {RID}" in r.getMessage()]
    assert len(announcements) == 1
    assert announcements[0].levelno == logging.WARNING


def test_on_connect_failure_reconnects_and_stop_during_backoff_returns_fast() -> None:
    async def main() -> None:
        async with FakeGateway(TOKEN) as gw:
            calls: list[bool] = []

            async def on_connect(client: GatewayClient, reconnected: bool) -> None:
                calls.append(reconnected)
                if len(calls) == 1:
                    await client.call("no.such.method")  # GatewayRequestError → reconnect

            session = GatewaySession(
                lambda: GatewayClient(gw.url, token=TOKEN, identity=None),
                on_connect=on_connect,
                on_event=lambda e: None,
                initial_backoff=0.05,
            )
            stop = asyncio.Event()
            runner = asyncio.create_task(session.run(stop))
            await wait_for(lambda: calls == [False, True])
            stop.set()
            await asyncio.wait_for(runner, 5)

        # gateway gone: the session backs off; stop must not wait for the backoff to end
        session = GatewaySession(
            lambda: GatewayClient("ws://127.0.0.1:1", token=None, identity=None),
            on_connect=on_connect,
            on_event=lambda e: None,
            initial_backoff=30,
            max_backoff=60,
        )
        stop = asyncio.Event()
        runner = asyncio.create_task(session.run(stop))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        stop.set()
        await asyncio.wait_for(runner, 5)
        assert time.monotonic() - started < 1

    asyncio.run(main())


def test_events_subscribed_before_on_connect() -> None:
    async def main() -> None:
        async with FakeGateway(TOKEN) as gw:
            seen: list[GatewayEvent] = []
            done = asyncio.Event()

            async def after_hello(conn: Any) -> None:  # the gateway talks right after hello-ok
                await conn.send('{"type":"event","event":"device.pair.requested","payload":{}}')

            gw.after_hello = after_hello

            async def on_connect(client: GatewayClient, reconnected: bool) -> None:
                await asyncio.sleep(0.1)  # a slow reconcile
                done.set()

            session = GatewaySession(
                lambda: GatewayClient(gw.url, token=TOKEN, identity=None),
                on_connect=on_connect,
                on_event=seen.append,
            )
            stop = asyncio.Event()
            runner = asyncio.create_task(session.run(stop))
            await asyncio.wait_for(done.wait(), 5)
            await wait_for(lambda: len(seen) == 1)
            stop.set()
            await asyncio.wait_for(runner, 5)

    asyncio.run(main())


def test_reconcile_failing_every_time_backs_off_instead_of_storming() -> None:
    async def main() -> None:
        async with FakeGateway(TOKEN) as gw:

            async def on_connect(client: GatewayClient, reconnected: bool) -> None:
                await client.call("no.such.method")  # e.g. a scope the connection lacks

            session = GatewaySession(
                lambda: GatewayClient(gw.url, token=TOKEN, identity=None),
                on_connect=on_connect,
                on_event=lambda e: None,
                initial_backoff=0.05,
                max_backoff=1.0,
            )
            stop = asyncio.Event()
            runner = asyncio.create_task(session.run(stop))
            await asyncio.sleep(1.5)
            stop.set()
            await asyncio.wait_for(runner, 5)
            assert 2 <= len(gw.connects) <= 8  # ~30 without the growing delay
            assert session.last_error is not None

    asyncio.run(main())
