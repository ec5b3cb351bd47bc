"""An in-process fake of the OpenClaw gateway's WebSocket side, for fast unit tests of client behaviour.

Only for what the real gateway cannot be made to do on demand (stall, reorder, send garbage, crash
mid-call). It is strict where the real one is: the first frame is ``connect.challenge``; ``connect``
params must fit the protocol-3 closed schema (the stricter of the two); the token must match; a device
block must carry a valid v3 signature over the challenge. Behaviour is scripted through attributes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from sidecar.gateway.protocol import build_signed_payload_v3
from sidecar.identity.keys import b64url_decode, device_id_for

# ConnectParamsSchema of 2026.2.26 (closed): the keys a client may send.
TOP_KEYS = {
    "minProtocol", "maxProtocol", "client", "caps", "commands", "permissions", "pathEnv", "role", "scopes",
    "device", "auth", "locale", "userAgent",
}  # fmt: skip
CLIENT_KEYS = {
    "id",
    "displayName",
    "version",
    "platform",
    "deviceFamily",
    "modelIdentifier",
    "mode",
    "instanceId",
}
DEVICE_KEYS = {"id", "publicKey", "signature", "signedAt", "nonce"}
AUTH_KEYS = {"token", "deviceToken", "password"}


class Refuse(Exception):
    """Raise from a method handler to answer ``ok:false``."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.error = {"code": code, "message": message, **({"details": details} if details else {}), **extra}


def hello_ok(
    protocol: int = 4, version: str = "2026.9.6", tick_ms: int = 30000, **extra: Any
) -> dict[str, Any]:
    return {
        "type": "hello-ok",
        "protocol": protocol,
        "server": {"version": version, "connId": str(uuid.uuid4())},
        "features": {"methods": ["device.pair.list"], "events": ["device.pair.requested"]},
        "snapshot": {},
        "auth": {"role": "operator", "scopes": ["operator.pairing"], "deviceToken": "SECRET-device-token"},
        "policy": {"maxPayload": 26214400, "maxBufferedBytes": 52428800, "tickIntervalMs": tick_ms},
        **extra,
    }


class FakeGateway:
    def __init__(self, token: str) -> None:
        self.token = token
        self.server: Server | None = None
        self.port = 0
        self.send_challenge = True
        self.challenge_ts = 1737264000000
        self.hello = hello_ok()
        # Refuse the connect: (error dict, close code, close reason), or None to accept.
        self.connect_refusal: tuple[dict[str, Any], int, str] | None = None
        self.close_without_response: tuple[int, str] | None = None
        self.methods: dict[str, Callable[[dict[str, Any], ServerConnection], Awaitable[Any]]] = {}
        self.connects: list[dict[str, Any]] = []  # connect params as received
        self.requests: list[dict[str, Any]] = []
        self.connections: set[ServerConnection] = set()
        self.after_hello: Callable[[ServerConnection], Awaitable[None]] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> FakeGateway:
        self.server = await serve(self._handle, "127.0.0.1", port, compression=None)
        self.port = next(iter(self.server.sockets)).getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def __aenter__(self) -> FakeGateway:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def broadcast(self, event: str, payload: Any) -> None:
        for conn in list(self.connections):
            with contextlib.suppress(ConnectionClosed):
                await conn.send(json.dumps({"type": "event", "event": event, "payload": payload}))

    # --- server side ---------------------------------------------------------------------------

    def _check_params(self, params: dict[str, Any], nonce: str) -> str | None:
        """The reason the real gateway would refuse these params, or None."""
        if set(params) - TOP_KEYS or set(params.get("client", {})) - CLIENT_KEYS:
            return "invalid connect params: unexpected property"
        if set(params.get("device", {})) - DEVICE_KEYS or set(params.get("auth", {})) - AUTH_KEYS:
            return "invalid connect params: unexpected property"
        if not (params["minProtocol"] <= 4 <= params["maxProtocol"]):
            return "protocol mismatch"
        if params.get("auth", {}).get("token") != self.token:
            return "unauthorized: gateway token mismatch (provide gateway auth token)"
        device = params.get("device")
        if device:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            raw = b64url_decode(device["publicKey"])
            if device_id_for(raw) != device["id"]:
                return "device identity mismatch"
            if device["nonce"] != nonce:
                return "device nonce mismatch"
            payload = build_signed_payload_v3(
                device_id=device["id"],
                client_id=params["client"]["id"],
                client_mode=params["client"]["mode"],
                role=params.get("role", "operator"),
                scopes=params.get("scopes", []),
                signed_at_ms=device["signedAt"],
                token=params.get("auth", {}).get("token"),
                nonce=nonce,
                platform=params["client"].get("platform"),
                device_family=params["client"].get("deviceFamily"),
            )
            try:
                Ed25519PublicKey.from_public_bytes(raw).verify(
                    b64url_decode(device["signature"]), payload.encode()
                )
            except Exception:
                return "device signature invalid"
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        nonce = str(uuid.uuid4())
        try:
            if self.send_challenge:
                challenge = {"nonce": nonce, "ts": self.challenge_ts}
                await conn.send(
                    json.dumps({"type": "event", "event": "connect.challenge", "payload": challenge})
                )
            first = json.loads(await conn.recv())
            assert first["method"] == "connect", first
            self.connects.append(first["params"])
            if self.close_without_response is not None:
                await conn.close(*self.close_without_response)
                return
            problem = self._check_params(first["params"], nonce)
            refusal = self.connect_refusal
            if problem is not None:
                refusal = ({"code": "INVALID_REQUEST", "message": problem}, 1008, problem)
            if refusal is not None:
                error, code, reason = refusal
                await conn.send(json.dumps({"type": "res", "id": first["id"], "ok": False, "error": error}))
                await conn.close(code, reason)
                return
            await conn.send(json.dumps({"type": "res", "id": first["id"], "ok": True, "payload": self.hello}))
            self.connections.add(conn)
            if self.after_hello is not None:
                await self.after_hello(conn)
            async for message in conn:
                request = json.loads(message)
                self.requests.append(request)
                asyncio.get_running_loop().create_task(self._answer(conn, request))
        except ConnectionClosed:
            pass
        finally:
            self.connections.discard(conn)

    async def _answer(self, conn: ServerConnection, request: dict[str, Any]) -> None:
        handler = self.methods.get(request["method"])
        try:
            if handler is None:
                raise Refuse("INVALID_REQUEST", f"unknown method: {request['method']}")
            frame = {
                "type": "res",
                "id": request["id"],
                "ok": True,
                "payload": await handler(request["params"], conn),
            }
        except Refuse as exc:
            frame = {"type": "res", "id": request["id"], "ok": False, "error": exc.error}
        with contextlib.suppress(ConnectionClosed):
            await conn.send(json.dumps(frame))


class ThreadedFake:
    """A FakeGateway on its own loop thread, for code under test that calls ``asyncio.run`` (the CLI)."""

    def __init__(self, fake: FakeGateway) -> None:
        import threading

        self.fake = fake
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> FakeGateway:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.fake.start(), self.loop).result(10)
        return self.fake

    def run(self, coro: Awaitable[Any]) -> Any:
        async def wrapper() -> Any:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(10)

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
