"""Opening the socket and the ``connect`` handshake, up to ``hello-ok`` or the mapped refusal.

Why apart from the client: this is the part of the protocol with the most rules (challenge, signed
``connect``, protocol range, the close reason that may carry the requestId after a refusal) and the
only part that differs between ``ws://``, ``wss://`` and the gateway's local ``ws+unix://`` socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.client import unix_connect as ws_unix_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.protocol import State
from websockets.version import version as ws_version

from sidecar.errors import ConfigError, GatewayClosed, GatewayError, GatewayUnreachable, ProtocolError
from sidecar.gateway import protocol as proto
from sidecar.gateway.models import HelloOk
from sidecar.gateway.urls import unix_socket_path

if TYPE_CHECKING:
    from sidecar.identity.keys import DeviceIdentity

ws_log = logging.getLogger("sidecar.gateway.websockets")
ws_log.setLevel(logging.INFO)  # websockets logs frame excerpts at DEBUG; the connect frame holds the token
_WS_EXTRA: dict[str, Any] = {"proxy": None} if int(ws_version.split(".")[0]) >= 15 else {}
CLOSE_GRACE = 1.0  # how long to wait for the close frame after a refusal, for its reason
# WebSocket keepalive. Why explicit: a gateway that is frozen (SIGSTOP, a hung event loop, a paused VM)
# keeps its TCP connection open and answers nothing; only a ping notices. The gateway's own ticks come
# every 30 s, so the tick watchdog alone needs a minute, and the library's defaults (20 s + 20 s, then
# 10 s for the close) close to that. Node's `ws` (every OpenClaw release) answers pings itself, from the
# event loop, also through the ws+unix:// forwarder (a byte pipe). Worst case from the freeze to the
# reader seeing the connection end: PING_INTERVAL + PING_TIMEOUT + CLOSE_GRACE (≈13 s). The timeout is
# the larger part so a gateway busy for a few seconds (a burst of requests) is not declared dead.
PING_INTERVAL = 5.0
PING_TIMEOUT = 7.0
KEEPALIVE_CLOSE_REASON = "keepalive ping timeout"  # what websockets sends when a pong is late


async def open_socket(url: str) -> ClientConnection:
    try:
        options: dict[str, Any] = {
            "max_size": proto.MAX_FRAME_BYTES,
            "compression": None,
            "open_timeout": None,  # the whole handshake runs under connect_timeout
            "ping_interval": PING_INTERVAL,
            "ping_timeout": PING_TIMEOUT,
            "close_timeout": CLOSE_GRACE,  # a peer that never answers our close frame is dropped
            "user_agent_header": f"openclaw-sidecar/{proto.CLIENT_VERSION}",
            "logger": ws_log,
        }
        socket_path = unix_socket_path(url)
        if socket_path:  # Host: localhost, so every release counts the forwarded peer as local
            return await ws_unix_connect(socket_path, "ws://localhost/", **options)
        return await ws_connect(url, **options, **_WS_EXTRA)
    except InvalidURI as exc:
        raise ConfigError(
            f"gateway URL {url!r} is invalid ({exc}): fix OPENCLAW_GATEWAY_URL or --url"
        ) from None
    except (OSError, InvalidHandshake, ConnectionClosed) as exc:
        raise GatewayUnreachable(
            f"cannot open a WebSocket to the gateway at {url} ({exc}): check OPENCLAW_GATEWAY_URL / "
            "--url and that the gateway is running"
        ) from None


async def close_bounded(ws: ClientConnection, code: int = 1000, reason: str = "") -> None:
    """Close, waiting at most ~CLOSE_GRACE for a peer that answers nothing; then drop the TCP connection.

    Why the abort: cancelling ``ws.close()`` (our time limit) leaves the transport open, and a frozen
    gateway would collect one half-open socket per reconnect attempt.
    """
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(code, reason), 2 * CLOSE_GRACE)
    if ws.state is not State.CLOSED:
        ws.transport.abort()


async def recv_frame(ws: ClientConnection) -> proto.Frame:
    data = await ws.recv()
    return proto.parse_frame(data)


async def handshake(
    ws: ClientConnection,
    info: proto.ClientInfo,
    *,
    token: str | None,
    identity: DeviceIdentity | None,
    frame_id: str,
) -> HelloOk:
    """Challenge → signed ``connect`` → ``hello-ok``; a refusal raises its mapped GatewayError."""
    try:
        challenge = proto.parse_challenge(await recv_frame(ws))
        params = proto.build_connect_params(info, token=token, identity=identity, challenge=challenge)
        await ws.send(proto.encode_request(frame_id, "connect", params))
        del params  # holds the token
        while True:
            frame = await recv_frame(ws)
            if isinstance(frame, proto.ResponseFrame) and frame.id == frame_id:
                break
    except ConnectionClosed as exc:
        raise close_error(exc) from None
    if frame.ok:
        try:
            hello = HelloOk.from_json(frame.payload)
        except ProtocolError:
            await ws.close(1002, "invalid hello-ok")
            raise
        if not proto.MIN_PROTOCOL <= hello.protocol <= proto.MAX_PROTOCOL:
            await ws.close(1002, "protocol mismatch")
            raise ProtocolError(f"gateway chose protocol {hello.protocol}, outside the offered 3..4")
        return hello
    assert frame.error is not None
    reason = await close_reason_after_refusal(ws)
    raise proto.error_from_response(frame.error, close_reason=reason)


_PROBED_SCOPES = ("operator.pairing", "operator.admin")


async def scopes_withheld(
    ws: ClientConnection, hello: HelloOk, info: proto.ClientInfo, frame_id: str
) -> bool:
    """True when the gateway admitted this device-less client but granted it none of its scopes.

    Most releases keep a local gateway-client/backend's scopes with the shared token alone (and 2026.5+
    says so in ``hello-ok.auth.scopes``). 2026.3.31 admits it, says nothing, and clears them: every call
    then fails with ``missing scope``. Where hello-ok is silent (2026.2.x, 2026.3.x, 2026.4.x) one
    ``device.pair.list`` tells; only clients that ask for a pairing scope are probed.
    """
    if hello.auth_scopes is not None:
        return bool(info.scopes) and not hello.auth_scopes
    if not set(info.scopes) & set(_PROBED_SCOPES):
        return False
    try:
        await ws.send(proto.encode_request(frame_id, "device.pair.list", {}))
        while True:
            frame = await recv_frame(ws)
            if isinstance(frame, proto.ResponseFrame) and frame.id == frame_id:
                break
    except ConnectionClosed as exc:
        raise close_error(exc) from None
    return not frame.ok and frame.error is not None and "missing scope" in frame.error.message


async def close_reason_after_refusal(ws: ClientConnection) -> str | None:
    """The gateway closes right after refusing a connect; its reason may carry the requestId."""
    with contextlib.suppress(TimeoutError, ConnectionClosed, ProtocolError):
        async with asyncio.timeout(CLOSE_GRACE):
            while True:
                await ws.recv()
    return ws.close_reason


def close_error(exc: ConnectionClosed) -> GatewayError:
    rcvd, sent = exc.rcvd, exc.sent
    if rcvd is None and sent is not None and sent.reason == KEEPALIVE_CLOSE_REASON:
        return GatewayClosed(
            f"the gateway answered no keepalive ping within {PING_TIMEOUT:g} s (frozen or cut off); "
            "dropped the connection",
            code=sent.code,
            reason=sent.reason,
        )
    return proto.error_from_close(rcvd.code if rcvd else None, rcvd.reason if rcvd else "")
