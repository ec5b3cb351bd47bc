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
from websockets.version import version as ws_version

from sidecar.errors import ConfigError, GatewayError, GatewayUnreachable, ProtocolError
from sidecar.gateway import protocol as proto
from sidecar.gateway.models import HelloOk
from sidecar.gateway.urls import unix_socket_path

if TYPE_CHECKING:
    from sidecar.identity.keys import DeviceIdentity

ws_log = logging.getLogger("sidecar.gateway.websockets")
ws_log.setLevel(logging.INFO)  # websockets logs frame excerpts at DEBUG; the connect frame holds the token
_WS_EXTRA: dict[str, Any] = {"proxy": None} if int(ws_version.split(".")[0]) >= 15 else {}
CLOSE_GRACE = 1.0  # how long to wait for the close frame after a refusal, for its reason


async def open_socket(url: str) -> ClientConnection:
    try:
        options: dict[str, Any] = {
            "max_size": proto.MAX_FRAME_BYTES,
            "compression": None,
            "open_timeout": None,  # the whole handshake runs under connect_timeout
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
    rcvd = exc.rcvd
    return proto.error_from_close(rcvd.code if rcvd else None, rcvd.reason if rcvd else "")
