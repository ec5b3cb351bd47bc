"""One WebSocket connection to an OpenClaw gateway: lifecycle, RPC with timeouts, events.

The handshake lives in ``handshake``, the named pairing calls in ``pairing_rpc``.

Why a native client: the Node CLI costs 2.3–3.5 s per call and cannot stream events. This speaks the same
protocol in-process (≈30 ms connect + call). Shape:

- ``connect()`` does the whole handshake under ``connect_timeout``: wait for ``connect.challenge``, send
  the signed ``connect`` (protocol 3..4), wait for ``hello-ok``. A refusal is mapped to a class (see
  ``errormap``), using the close reason the gateway sends right after as a second source of the requestId.
- After hello a single reader task owns the socket: responses resolve their call's future, events go to
  subscribers through per-subscriber queues (``fanout``) so a slow subscriber never stalls the reader.
- ``hello-ok.policy`` is honoured: outgoing frames above ``maxPayload`` are refused locally, and if
  nothing at all arrives for two ``tickIntervalMs`` the connection is declared dead (close 4000), like
  the Node client does.
- A frozen gateway (TCP open, nothing answers) is noticed sooner by WebSocket keepalive pings
  (``handshake.PING_INTERVAL``/``PING_TIMEOUT``): within about 13 s the connection is dropped, pending
  calls fail with GatewayClosed and ``closed`` resolves; the tick watchdog stays as the second line.
- Tokens: the shared token only ever goes into the ``connect`` frame; nothing here logs frames, and the
  websockets library's frame logging is kept below DEBUG.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from sidecar.errors import (
    GatewayClosed,
    GatewayError,
    GatewayUnreachable,
    ProtocolError,
    RequestTimeout,
)
from sidecar.gateway import protocol as proto
from sidecar.gateway.fanout import EventCallback, Fanout
from sidecar.gateway.handshake import (
    CLOSE_GRACE,
    close_bounded,
    close_error,
    handshake,
    open_socket,
    scopes_withheld,
)
from sidecar.gateway.models import GatewayEvent, HelloOk
from sidecar.gateway.pairing_rpc import NodePairingCalls
from sidecar.gateway.urls import check_url, is_local_url

if TYPE_CHECKING:
    from types import TracebackType

    from sidecar.identity.keys import DeviceIdentity

log = logging.getLogger("sidecar.gateway")
MIN_TICK_CHECK = 1.0  # seconds; the watchdog never polls faster than this
YIELD_EVERY = 32  # frames the reader handles before letting other tasks (subscribers) run


class GatewayClient(NodePairingCalls):
    """A single connection. Not reusable: after it closes, make a new one (``GatewaySession`` does)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None,
        identity: DeviceIdentity | None,
        client_id: str = "gateway-client",
        client_mode: str = "backend",
        role: str = "operator",
        scopes: Sequence[str] = ("operator.pairing",),
        display_name: str | None = None,
        platform: str = "linux",
        device_family: str | None = None,
        connect_timeout: float = 10.0,
        call_timeout: float = 10.0,
        device_fallback: Callable[[], DeviceIdentity] | None = None,  # handshake.scopes_withheld
    ) -> None:
        if isinstance(scopes, str):
            raise TypeError("scopes must be a sequence of scope names, not a string")
        self.url = check_url(url)
        self._token = token or None
        self._identity = identity
        self._device_fallback = device_fallback
        self.info = proto.ClientInfo(
            client_id=client_id,
            client_mode=client_mode,
            role=role,
            scopes=tuple(scopes),
            display_name=display_name,
            platform=platform,
            device_family=device_family,
        )
        self.connect_timeout = connect_timeout
        self.call_timeout = call_timeout
        self.hello: HelloOk | None = None
        self._ws: ClientConnection | None = None
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._fanout = Fanout()
        self._reader: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._closed: asyncio.Future[BaseException | None] | None = None
        self._last_rx = 0.0
        self._started = False
        self._closing_by_us = False

    def __repr__(self) -> str:  # never the token
        return f"GatewayClient({self.url!r}, client={self.info.client_id}/{self.info.client_mode})"

    @property
    def device_id(self) -> str | None:
        return self._identity.device_id if self._identity else None

    @property
    def connected(self) -> bool:
        return self.hello is not None and self._closed is not None and not self._closed.done()

    @property
    def closed(self) -> asyncio.Future[BaseException | None]:
        """Resolves when the connection ends: None if we closed it, else the error that ended it."""
        if self._closed is None:
            self._closed = asyncio.get_running_loop().create_future()
        return self._closed

    async def wait_closed(self) -> BaseException | None:
        return await asyncio.shield(self.closed)

    # --- connection -------------------------------------------------------------------------------

    async def connect(self) -> HelloOk:
        if self._started:
            raise GatewayError("GatewayClient.connect() called twice; create a new client to reconnect")
        self._started = True
        loop = asyncio.get_running_loop()
        closed = self.closed
        try:
            async with asyncio.timeout(self.connect_timeout):
                hello = await self._open()
                # Only on the gateway's loopback (the 2026.3.31 quirk is about *local* device-less clients,
                # which OpenClaw then pairs silently): elsewhere "no scopes" means "remote", and a throw-away
                # device would only leave a pending request behind; the caller's error says what to do.
                if self._identity is None and self._device_fallback is not None and is_local_url(self.url):
                    assert self._ws is not None
                    if await scopes_withheld(self._ws, hello, self.info, f"{next(self._ids)}:probe"):
                        await self._ws.close(1000, "reconnecting with a device")
                        self._identity = self._device_fallback()
                        log.info("gateway grants no scopes without a device: presenting %s", self.device_id)
                        hello = await self._open()
        except TimeoutError:
            error = GatewayUnreachable(
                f"no hello-ok from the gateway at {self.url} within {self.connect_timeout:g} s: check the "
                "URL (OPENCLAW_GATEWAY_URL / --url) and that the gateway is running"
            )
            await self._abort(error)
            raise error from None
        except BaseException as exc:
            await self._abort(exc if isinstance(exc, Exception) else None)
            raise
        assert self._ws is not None
        self.hello = hello
        self._last_rx = loop.time()
        self._reader = loop.create_task(self._read_loop(self._ws), name="gateway-reader")
        self._watchdog = loop.create_task(
            self._watch_ticks(hello.policy.tick_interval_ms / 1000), name="gateway-tick"
        )
        log.debug("connected to %s: OpenClaw %s, protocol %d", self.url, hello.server_version, hello.protocol)
        assert not closed.done()
        return hello

    async def _open(self) -> HelloOk:
        self._ws = await open_socket(self.url)
        return await handshake(
            self._ws,
            self.info,
            token=self._token,
            identity=self._identity,
            frame_id=f"{next(self._ids)}:connect",
        )

    async def _abort(self, error: BaseException | None) -> None:
        """Handshake failed: close the socket (bounded) and resolve ``closed`` with the reason."""
        self._closing_by_us = True
        if self._ws is not None:
            await close_bounded(self._ws)
        self._finish(error or GatewayClosed("connection was not established", code=None, reason=""))

    async def close(self) -> None:
        """Close the connection (idempotent); pending calls fail with GatewayClosed."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._closing_by_us = True
        ws = self._ws
        if ws is not None:
            await close_bounded(ws, 1000, "client closing")
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, CLOSE_GRACE)
        self._finish(None)
        await self._fanout.close()

    async def __aenter__(self) -> GatewayClient:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _finish(self, error: BaseException | None) -> None:
        pending, self._pending = self._pending, {}
        failure = error or GatewayClosed(
            "connection closed by the client", code=1000, reason="client closing"
        )
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(failure)
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(error)
        if self._watchdog is not None:
            self._watchdog.cancel()

    # --- reader -----------------------------------------------------------------------------------

    async def _read_loop(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        error: BaseException | None = None
        received = 0
        try:
            async for data in ws:
                self._last_rx = loop.time()
                received += 1
                if received % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # a burst of buffered frames must not starve subscriber tasks
                try:
                    frame = proto.parse_frame(data)
                except ProtocolError as exc:
                    self._on_bad_frame(data, exc)
                    continue
                if isinstance(frame, proto.ResponseFrame):
                    self._on_response(frame)
                elif frame.event != "connect.challenge":
                    self._fanout.publish(GatewayEvent(frame.event, frame.payload, frame.seq))
            error = self._close_error_from(ws)
        except ConnectionClosed as exc:
            error = None if self._closing_by_us else close_error(exc)
        except Exception as exc:  # pragma: no cover - defensive: never die silently
            log.exception("gateway reader failed")
            error = GatewayClosed(f"gateway reader failed: {exc}", code=None, reason="")
        self._finish(error)

    def _close_error_from(self, ws: ClientConnection) -> GatewayError | None:
        if self._closing_by_us:
            return None
        return proto.error_from_close(ws.close_code, ws.close_reason or "")

    def _on_bad_frame(self, data: str | bytes, exc: ProtocolError) -> None:
        frame_id = proto.frame_id_of(data)
        fut = self._pending.pop(frame_id, None) if frame_id else None
        if fut is not None and not fut.done():
            fut.set_exception(exc)
        else:
            log.warning("ignoring a malformed gateway frame: %s", exc)

    def _on_response(self, frame: proto.ResponseFrame) -> None:
        fut = self._pending.pop(frame.id, None)
        if fut is None or fut.done():
            log.debug("response for an unknown or timed-out request id %s", frame.id[:40])
        elif frame.ok:
            fut.set_result(frame.payload)
        else:
            assert frame.error is not None
            fut.set_exception(proto.error_from_response(frame.error))

    async def _watch_ticks(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        interval = max(interval, MIN_TICK_CHECK)
        while True:
            await asyncio.sleep(interval)
            if self._pending or self._ws is None:
                continue  # pending calls have their own timeouts
            if loop.time() - self._last_rx > 2 * interval:
                log.warning("no frame from the gateway for %.0f s; closing (tick timeout)", 2 * interval)
                self._finish(GatewayClosed("gateway stopped sending ticks", code=4000, reason="tick timeout"))
                await close_bounded(self._ws, 4000, "tick timeout")
                return

    # --- events and calls -------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[GatewayEvent], Awaitable[None] | None]) -> Callable[[], None]:
        """Deliver every event after hello-ok to ``callback`` (sync or async); returns unsubscribe."""
        cb: EventCallback = callback
        return self._fanout.subscribe(cb)

    async def call(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - per-call limit is part of the published API
    ) -> Any:
        """Send one request and return its payload; raises the mapped GatewayError on ``ok: false``."""
        ws, hello = self._ws, self.hello
        if ws is None or hello is None or not self.connected:
            raise GatewayClosed(f"not connected to the gateway (call {method})", code=None, reason="")
        frame_id = str(next(self._ids))
        text = proto.encode_request(frame_id, method, params if params is not None else {})
        if len(text.encode("utf-8")) > hello.policy.max_payload:
            raise ProtocolError(
                f"{method} request exceeds the gateway's maxPayload of {hello.policy.max_payload} bytes"
            )
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[frame_id] = fut
        limit = self.call_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                try:
                    await ws.send(text)
                except ConnectionClosed as exc:
                    raise close_error(exc) from None
                return await fut
        except TimeoutError:
            raise RequestTimeout(f"gateway did not answer {method} within {limit:g} s") from None
        finally:
            self._pending.pop(frame_id, None)
