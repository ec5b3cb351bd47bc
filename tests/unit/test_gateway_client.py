"""GatewayClient behaviour the real gateway cannot be made to show on demand, against an in-process fake:
stalls, reordering, garbage, slow subscribers, closes at awkward moments."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

from sidecar.errors import (
    AuthFailed,
    ConfigError,
    GatewayClosed,
    GatewayError,
    GatewayStarting,
    GatewayUnreachable,
    PairingRequired,
    ProtocolError,
    RequestTimeout,
)
from sidecar.gateway import client as client_mod
from sidecar.gateway.client import GatewayClient
from sidecar.gateway.models import GatewayEvent
from sidecar.identity.keys import DeviceIdentity
from tests.unit.gateway_fake import FakeGateway, Refuse, hello_ok
from tests.unit.test_gateway_models import PENDING, RID

TOKEN = "tok-123"


def run(coro_fn: Callable[[FakeGateway], Awaitable[None]], fake: FakeGateway | None = None) -> None:
    async def main() -> None:
        async with fake or FakeGateway(TOKEN) as gw:
            await asyncio.wait_for(coro_fn(gw), 20)

    asyncio.run(main())


def make(gw: FakeGateway, **kw: Any) -> GatewayClient:
    kw.setdefault("token", TOKEN)
    kw.setdefault("identity", None)
    return GatewayClient(gw.url, **kw)


async def listing(params: dict[str, Any], conn: ServerConnection) -> Any:
    return {"pending": [PENDING], "paired": []}


def test_handshake_with_identity_list_and_approve() -> None:
    ident = DeviceIdentity.generate()

    async def body(gw: FakeGateway) -> None:
        gw.methods["device.pair.list"] = listing

        async def approve(params: dict[str, Any], conn: ServerConnection) -> Any:
            return {
                "requestId": params["requestId"],
                "device": {"deviceId": "d", "tokens": [{"role": "operator", "token": "SECRET"}]},
            }

        gw.methods["device.pair.approve"] = approve
        async with make(
            gw, identity=ident, client_id="cli", client_mode="cli", scopes=("operator.read",)
        ) as client:
            assert client.hello is not None
            assert client.hello.protocol == 4
            assert client.connected
            assert client.hello.auth_scopes == ("operator.pairing",)
            assert (await client.list_pairing()).pending[0].request_id == RID
            result = await client.approve(RID)
            assert result["requestId"] == RID
            assert "SECRET" not in json.dumps(result)
        assert not client.connected
        params = gw.connects[0]
        assert params["device"]["id"] == ident.device_id
        assert params["device"]["signedAt"] == gw.challenge_ts
        assert params["scopes"] == ["operator.read"]
        assert params["auth"] == {"token": TOKEN}

    run(body)


def test_token_never_logged_or_repr(caplog: pytest.LogCaptureFixture) -> None:
    secret = "SECRET-shared-token-value"

    async def body(gw: FakeGateway) -> None:
        gw.methods["device.pair.list"] = listing
        client = make(gw, token=secret, identity=DeviceIdentity.generate())
        async with client:
            await client.list_pairing()
        assert secret not in repr(client)

    caplog.set_level(logging.DEBUG)
    run(body, FakeGateway(secret))
    assert secret not in caplog.text
    assert "SECRET-device-token" not in caplog.text


def test_no_challenge_times_out_as_unreachable() -> None:
    async def body(gw: FakeGateway) -> None:
        gw.send_challenge = False
        started = time.monotonic()
        with pytest.raises(GatewayUnreachable, match=r"within 0\.3 s"):
            await make(gw, connect_timeout=0.3).connect()
        assert time.monotonic() - started < 2

    run(body)


def test_call_timeout_then_client_still_usable() -> None:
    async def body(gw: FakeGateway) -> None:
        async def never(params: dict[str, Any], conn: ServerConnection) -> Any:
            await asyncio.sleep(3600)

        gw.methods["slow"] = never
        gw.methods["device.pair.list"] = listing
        async with make(gw, call_timeout=0.2) as client:
            with pytest.raises(RequestTimeout, match="slow"):
                await client.call("slow")
            assert len((await client.list_pairing()).pending) == 1
            assert not client._pending

    run(body)


def test_event_before_response_is_delivered_first() -> None:
    async def body(gw: FakeGateway) -> None:
        async def approve(params: dict[str, Any], conn: ServerConnection) -> Any:
            resolved = {"requestId": params["requestId"], "deviceId": "d", "decision": "approved", "ts": 1}
            await conn.send(
                json.dumps({"type": "event", "event": "device.pair.resolved", "payload": resolved, "seq": 1})
            )
            return {"requestId": params["requestId"], "device": {}}

        gw.methods["device.pair.approve"] = approve
        seen: list[GatewayEvent] = []
        async with make(gw) as client:
            client.subscribe(seen.append)
            await client.approve(RID)
            # The reader queued the event before resolving the call, so it has been handled already.
            assert [e.resolved().request_id for e in seen] == [RID]

    run(body)


def test_blocked_subscriber_does_not_block_reader_or_others() -> None:
    async def body(gw: FakeGateway) -> None:
        gw.methods["device.pair.list"] = listing
        gate = asyncio.Event()
        fast: list[str] = []

        async def stuck(event: GatewayEvent) -> None:
            await gate.wait()

        def broken(event: GatewayEvent) -> None:
            raise RuntimeError("subscriber bug")

        async with make(gw) as client:
            client.subscribe(stuck)
            client.subscribe(broken)
            client.subscribe(lambda e: fast.append(e.event))
            for i in range(3000):  # more than a subscriber queue holds
                await gw.broadcast("tick", {"ts": i})
            started = time.monotonic()
            assert (await client.list_pairing()).pending
            assert time.monotonic() - started < 1
            for _ in range(100):
                if len(fast) == 3000:
                    break
                await asyncio.sleep(0.01)
            assert len(fast) == 3000
            gate.set()

    run(body)


def test_unsubscribe_stops_delivery() -> None:
    async def body(gw: FakeGateway) -> None:
        seen: list[str] = []
        async with make(gw) as client:
            unsubscribe = client.subscribe(lambda e: seen.append(e.event))
            await gw.broadcast("one", {})
            await asyncio.sleep(0.05)
            unsubscribe()
            await gw.broadcast("two", {})
            await asyncio.sleep(0.05)
        assert seen == ["one"]

    run(body)


def test_garbage_after_hello_never_crashes_and_fails_only_its_call() -> None:
    async def body(gw: FakeGateway) -> None:
        async def garbage(params: dict[str, Any], conn: ServerConnection) -> Any:
            for junk in (
                "{",
                "[]",
                '{"type":"req"}',
                '{"type":"event"}',
                "x" * 1000,
                b"\xff",
                '{"type":"res","id":7}',
            ):
                await conn.send(junk)
            return {"pending": [], "paired": []}

        gw.methods["device.pair.list"] = garbage
        async with make(gw) as client:
            assert (await client.list_pairing()).pending == ()
            assert client.connected

            async def bad_response(params: dict[str, Any], conn: ServerConnection) -> Any:
                request = gw.requests[-1]
                await conn.send(json.dumps({"type": "res", "id": request["id"], "ok": "maybe"}))
                await asyncio.sleep(3600)

            gw.methods["bad"] = bad_response
            started = time.monotonic()
            with pytest.raises(ProtocolError, match="boolean ok"):
                await client.call("bad", timeout=5)
            assert time.monotonic() - started < 1
            gw.methods["device.pair.approve"] = lambda p, c: _value([1, 2])  # type: ignore[assignment]
            with pytest.raises(ProtocolError, match="expected an object"):
                await client.approve(RID)

    run(body)


async def _value(value: Any) -> Any:
    return value


def test_pairing_refusal_uses_close_reason_for_request_id() -> None:
    async def body(gw: FakeGateway) -> None:
        gw.connect_refusal = (
            {"code": "NOT_PAIRED", "message": "pairing required: device is not approved yet",
             "details": {"code": "PAIRING_REQUIRED", "reason": "not-paired"}},
            1008,
            f"pairing required: device is not approved yet (requestId: {RID})",
        )  # fmt: skip
        client = make(gw, identity=DeviceIdentity.generate())
        with pytest.raises(PairingRequired) as info:
            await client.connect()
        assert info.value.request_id == RID
        assert info.value.reason == "not-paired"
        assert isinstance(await client.wait_closed(), PairingRequired)
        with pytest.raises(GatewayError, match="twice"):
            await client.connect()

    run(body)


@pytest.mark.parametrize(
    ("close", "cls"),
    [
        ((1013, "gateway starting"), GatewayStarting),
        ((1008, "pairing required"), PairingRequired),
        ((1011, "boom"), GatewayClosed),
    ],
)
def test_close_without_response(close: tuple[int, str], cls: type[Exception]) -> None:
    async def body(gw: FakeGateway) -> None:
        gw.close_without_response = close
        with pytest.raises(cls):
            await make(gw).connect()

    run(body)


def test_wrong_token_is_auth_failed() -> None:
    async def body(gw: FakeGateway) -> None:
        with pytest.raises(AuthFailed, match="OPENCLAW_GATEWAY_TOKEN"):
            await make(gw, token="wrong").connect()

    run(body)


def test_unreachable_and_bad_urls() -> None:
    async def body() -> None:
        with pytest.raises(GatewayUnreachable, match="cannot open"):
            await GatewayClient("ws://127.0.0.1:1", token=None, identity=None).connect()

    asyncio.run(body())
    for url in ("http://127.0.0.1:18789", "127.0.0.1:18789", "ws://", ""):
        with pytest.raises(ConfigError, match="OPENCLAW_GATEWAY_URL"):
            GatewayClient(url, token=None, identity=None)
    with pytest.raises(TypeError):
        GatewayClient("ws://x", token=None, identity=None, scopes="operator.pairing")


def test_server_close_fails_pending_calls_and_resolves_closed() -> None:
    async def body(gw: FakeGateway) -> None:
        async def close_mid_call(params: dict[str, Any], conn: ServerConnection) -> Any:
            await conn.close(1012, "service restart")
            await asyncio.sleep(3600)

        gw.methods["device.pair.list"] = close_mid_call
        async with make(gw) as client:
            with pytest.raises(GatewayClosed) as info:
                await client.list_pairing()
            assert info.value.code == 1012
            error = await client.wait_closed()
            assert isinstance(error, GatewayClosed)
            assert not client.connected
            with pytest.raises(GatewayClosed, match="not connected"):
                await client.list_pairing()

    run(body)


def test_tick_watchdog_declares_a_silent_gateway_dead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_mod, "MIN_TICK_CHECK", 0.05)

    async def body(gw: FakeGateway) -> None:
        gw.hello = hello_ok(tick_ms=100)
        async with make(gw) as client:
            error = await asyncio.wait_for(client.wait_closed(), 3)
            assert isinstance(error, GatewayClosed)
            assert error.code == 4000

    run(body)


def test_hello_policy_limits_outgoing_frames_and_protocol_range() -> None:
    async def body(gw: FakeGateway) -> None:
        gw.hello = hello_ok(policy={"maxPayload": 200, "maxBufferedBytes": 1000, "tickIntervalMs": 30000})
        async with make(gw) as client:
            with pytest.raises(ProtocolError, match="maxPayload"):
                await client.call("device.pair.approve", {"requestId": "x" * 500})
        gw.hello = hello_ok(protocol=5)
        with pytest.raises(ProtocolError, match="protocol 5"):
            await make(gw).connect()
        gw.hello = {"type": "hello-ok"}
        with pytest.raises(ProtocolError, match="hello-ok"):
            await make(gw).connect()

    run(body)


def test_argument_validation() -> None:
    async def body(gw: FakeGateway) -> None:
        async with make(gw) as client:
            for fn in (client.approve, client.reject, client.remove):
                with pytest.raises(ValueError, match="non-empty"):
                    await fn("  ")

    run(body)


def test_refused_rpc_maps_to_class() -> None:
    async def body(gw: FakeGateway) -> None:
        async def refuse(params: dict[str, Any], conn: ServerConnection) -> Any:
            raise Refuse("INVALID_REQUEST", "missing scope: operator.read")

        gw.methods["device.pair.approve"] = refuse
        async with make(gw) as client:
            from sidecar.errors import MissingScope

            with pytest.raises(MissingScope) as info:
                await client.approve(RID)
            assert info.value.scope == "operator.read"
            assert client.connected

    run(body)
