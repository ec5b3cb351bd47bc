"""The enrollment endpoint: plain HTTP on its own port (aiohttp, which the Kubernetes client brings along).

    POST /v1/nonce   → 200 {"nonce": "...", "expiresInSeconds": 120}
    POST /v1/enroll  → 201 enrolled | 200 already enrolled | 4xx {"status": "refused", "reason": "..."}
    GET  /healthz    → 200 (the endpoint answers)

Why plain HTTP is enough: nothing secret crosses it that an eavesdropper could use. The token is bound to
one pod and one audience (ours) and expires quickly; the signature covers a single-use nonce; the public
key is public. Why its own port: agents reach it through a Service, while /metrics and the probes stay on
the sidecar's loopback-only listener. It runs on the approver's event loop (TokenReview is async).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from sidecar.sources.kubernetes.enrollment import NONCE_TTL_S, Enroller

log = logging.getLogger("sidecar.sources.kubernetes.server")
MAX_BODY = 64 * 1024

Audit = Callable[[dict[str, Any]], None]


class EnrollmentServer:
    def __init__(self, enroller: Enroller, host: str, port: int, audit: Audit) -> None:
        self._enroller = enroller
        self._host, self._port = host, port
        self._audit = audit
        self._runner: Any = None

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        from aiohttp import web

        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/v1/nonce", self._nonce)
        app.router.add_post("/v1/enroll", self._enroll)
        app.router.add_get("/healthz", self._health)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []  # port 0: the one the OS chose
        if sockets:
            self._port = int(sockets[0].getsockname()[1])
        log.info(
            "enrollment endpoint on %s:%d (audience %s)",
            self._host,
            self._port,
            self._enroller.policy.audience,
        )

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response({"ok": True})

    async def _nonce(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response({"nonce": self._enroller.nonce(), "expiresInSeconds": int(NONCE_TTL_S)})

    async def _enroll(self, request: Any) -> Any:
        from aiohttp import web

        client_ip = str(request.remote or "?")
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"status": "refused", "reason": "body too large"}, status=413)
        outcome = await self._enroller.enroll(body, client_ip)
        try:
            self._audit(outcome.audit)
        except Exception:  # an audit sink failure must not turn into an accepted-but-unrecorded answer
            log.exception("could not write the enrollment audit record")
            return web.json_response({"status": "refused", "reason": "audit unavailable"}, status=503)
        return web.json_response(outcome.body, status=outcome.status)
