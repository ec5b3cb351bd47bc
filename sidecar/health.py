"""The sidecar's HTTP endpoints: ``/healthz`` (the loop is alive), ``/readyz`` (it can act), ``/metrics``.

Why a stdlib server in a thread: the endpoints must answer even when the asyncio loop is stuck — that is
exactly what ``/healthz`` reports — so they must not run on that loop. They only *read* a few values the
approver updates (a heartbeat timestamp, connection flags), which is safe across threads in CPython.
Orchestrators restart on a failing ``/healthz`` and stop routing on a failing ``/readyz``; the two are
kept distinct so a gateway outage does not turn into a restart loop.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sidecar.errors import ConfigError

log = logging.getLogger(__name__)

LISTEN_SETTING = "OPENCLAW_PAIRING_LISTEN"
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Probe:
    """One probe's verdict and the facts behind it (served as JSON so operators see *why*)."""

    ok: bool
    detail: Mapping[str, Any] = field(default_factory=dict)


def liveness(
    last_heartbeat: Callable[[], float | None],
    max_age_s: float,
    clock: Callable[[], float] = time.monotonic,
    *,
    started_at: float | None = None,
) -> Callable[[], Probe]:
    """Alive while the approver's loop beat within ``max_age_s`` (a few reconcile intervals).

    Before the first beat the process gets the same grace period from ``started_at``, so a slow first
    gateway connection is not mistaken for a hung loop.
    """
    born = clock() if started_at is None else started_at

    def probe() -> Probe:
        now = clock()
        beat = last_heartbeat()
        age = now - (beat if beat is not None else born)
        detail = {
            "heartbeatAgeSeconds": round(age, 3),
            "maxAgeSeconds": max_age_s,
            "beaten": beat is not None,
        }
        return Probe(age <= max_age_s, detail)

    return probe


def readiness(checks: Mapping[str, Callable[[], bool]]) -> Callable[[], Probe]:
    """Ready when every named check passes (e.g. gateway, docker, firstReconcile)."""

    def probe() -> Probe:
        results: dict[str, bool] = {}
        for name, check in checks.items():
            try:
                results[name] = bool(check())
            except Exception:  # a broken check means "not ready", never a crashed endpoint
                log.exception("readiness check %s failed", name)
                results[name] = False
        return Probe(all(results.values()), results)

    return probe


def prometheus_renderer(registry: Any) -> Callable[[], bytes]:
    """Render a prometheus_client registry (imported lazily: the CLI's other commands stay fast)."""
    from prometheus_client import generate_latest

    def render() -> bytes:
        return bytes(generate_latest(registry))

    return render


class HealthServer:
    """Serves the probes from a daemon thread; ``start()`` binds (errors name the setting)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        live: Callable[[], Probe],
        ready: Callable[[], Probe],
        metrics: Callable[[], bytes] | None = None,
        setting: str = LISTEN_SETTING,
    ) -> None:
        self._host, self._port, self._setting = host, port, setting
        self._routes: dict[str, Callable[[], tuple[HTTPStatus, str, bytes]]] = {
            "/healthz": lambda: _probe_response(live),
            "/readyz": lambda: _probe_response(ready),
        }
        if metrics is not None:
            self._routes["/metrics"] = lambda: (HTTPStatus.OK, METRICS_CONTENT_TYPE, metrics())
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound address (the real port when 0 was asked for)."""
        if self._server is None:
            return self._host, self._port
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        handler = _make_handler(self._routes)
        server_cls = _server_class(self._host)
        try:
            self._server = server_cls((self._host, self._port), handler)
        except OSError as exc:
            raise ConfigError(
                f"{self._setting}={self._host}:{self._port}: cannot listen there ({exc.strerror or exc}); "
                "choose a free port or another address"
            ) from None
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.1), name="health-http", daemon=True
        )
        self._thread.start()
        log.info("health endpoints on http://%s:%d (/healthz /readyz /metrics)", *self.address)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None


def _probe_response(probe: Callable[[], Probe]) -> tuple[HTTPStatus, str, bytes]:
    try:
        result = probe()
    except Exception as exc:  # report, don't crash the handler
        log.exception("probe failed")
        result = Probe(False, {"error": f"{type(exc).__name__}: {exc}"})
    body = {"status": "ok" if result.ok else "fail", **result.detail}
    status = HTTPStatus.OK if result.ok else HTTPStatus.SERVICE_UNAVAILABLE
    return status, "application/json", (json.dumps(body, sort_keys=True) + "\n").encode()


def _server_class(host: str) -> type[ThreadingHTTPServer]:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class _Server(ThreadingHTTPServer):
        address_family = family
        daemon_threads = True
        allow_reuse_address = True

    return _Server


def _make_handler(
    routes: Mapping[str, Callable[[], tuple[HTTPStatus, str, bytes]]],
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "openclaw-sidecar"
        sys_version = ""

        def _respond(self, with_body: bool) -> None:
            path = self.path.split("?", 1)[0]
            route = routes.get(path)
            if route is None:
                status, ctype, body = HTTPStatus.NOT_FOUND, "text/plain", b"not found\n"
            else:
                try:
                    status, ctype, body = route()
                except Exception:
                    log.exception("handler for %s failed", path)
                    status, ctype, body = HTTPStatus.INTERNAL_SERVER_ERROR, "text/plain", b"error\n"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def do_GET(self) -> None:
            self._respond(with_body=True)

        def do_HEAD(self) -> None:
            self._respond(with_body=False)

        def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds: debug only
            log.debug("health %s - %s", self.address_string(), format % args)

    return Handler
