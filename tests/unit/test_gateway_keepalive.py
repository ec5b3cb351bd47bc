"""A frozen gateway (SIGSTOP: TCP stays open, nothing answers) is noticed by WebSocket keepalive pings.

Real sockets and the real websockets library on both sides: the fake gateway sits behind a TCP relay that
can stop forwarding in both directions while keeping every connection open, which is what a stopped
gateway looks like from the client (the kernel still accepts and ACKs; no byte comes back). The ping
period is shortened for speed; the tick watchdog is kept out of the way (30 s ticks).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from sidecar.errors import GatewayClosed, GatewayUnreachable
from sidecar.gateway import handshake
from sidecar.gateway.client import GatewayClient
from tests.unit.gateway_fake import FakeGateway

TOKEN = "tok-keepalive"
BOUND = 10.0  # generous: proves the mechanism ends the wait, not how fast the machine is


class FreezableRelay:
    """127.0.0.1:port → the fake gateway; ``freeze()`` holds every byte in both directions."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.thawed = asyncio.Event()
        self.thawed.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def freeze(self) -> None:
        self.thawed.clear()

    async def __aenter__(self) -> FreezableRelay:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_writer]
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.get_running_loop().create_task(self._pipe(src, dst))
            self._tasks.add(task)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await src.read(65536):
                await self.thawed.wait()
                dst.write(data)
                await dst.drain()
        dst.close()


def run(body: Callable[[FakeGateway, FreezableRelay], Awaitable[None]]) -> None:
    async def main() -> None:
        async with FakeGateway(TOKEN) as gw, FreezableRelay(gw.port) as relay:
            await asyncio.wait_for(body(gw, relay), 30)

    asyncio.run(main())


def fast_pings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handshake, "PING_INTERVAL", 0.2)
    monkeypatch.setattr(handshake, "PING_TIMEOUT", 0.4)


def client_via(relay: FreezableRelay, **kw: Any) -> GatewayClient:
    return GatewayClient(relay.url, token=TOKEN, identity=None, call_timeout=60.0, **kw)


async def never_answers(params: dict[str, Any], conn: ServerConnection) -> Any:
    await asyncio.sleep(3600)


def test_a_frozen_gateway_is_dropped_and_the_call_in_flight_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_pings(monkeypatch)

    async def body(gw: FakeGateway, relay: FreezableRelay) -> None:
        gw.methods["device.pair.list"] = never_answers
        async with client_via(relay) as client:
            relay.freeze()
            with pytest.raises(GatewayClosed) as info:  # not RequestTimeout: its limit is 60 s
                await asyncio.wait_for(client.list_pairing(), BOUND)
            assert info.value.reason == handshake.KEEPALIVE_CLOSE_REASON
            assert "keepalive ping" in str(info.value)
            error = await asyncio.wait_for(client.wait_closed(), BOUND)
            assert isinstance(error, GatewayClosed)
            assert not client.connected
            assert client._ws is not None
            assert client._ws.state is State.CLOSED  # the socket is gone

    run(body)


def test_a_quiet_but_live_gateway_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pings are answered by the peer's WebSocket layer: silence alone never drops a connection."""
    fast_pings(monkeypatch)

    async def body(gw: FakeGateway, relay: FreezableRelay) -> None:
        async with client_via(relay) as client:
            await asyncio.sleep(8 * handshake.PING_INTERVAL)  # no frame at all, several pings
            assert client.connected
            assert client._ws is not None
            assert client._ws.latency > 0  # a keepalive pong came back

    run(body)


def test_connecting_to_a_frozen_gateway_ends_at_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_pings(monkeypatch)

    async def body(gw: FakeGateway, relay: FreezableRelay) -> None:
        relay.freeze()
        client = client_via(relay, connect_timeout=0.5)
        with pytest.raises(GatewayUnreachable, match="no hello-ok"):
            await asyncio.wait_for(client.connect(), BOUND)
        assert client._ws is None or client._ws.state is State.CLOSED
        assert isinstance(await client.wait_closed(), GatewayUnreachable)

    run(body)


def test_closing_on_a_frozen_gateway_is_bounded_and_drops_the_socket() -> None:
    """Default ping period (longer than the test): the close itself must not wait for the peer."""

    async def body(gw: FakeGateway, relay: FreezableRelay) -> None:
        client = client_via(relay)
        await client.connect()
        relay.freeze()
        await asyncio.wait_for(client.close(), BOUND)
        assert client._ws is not None
        assert client._ws.state is State.CLOSED
        assert await client.wait_closed() is None

    run(body)
