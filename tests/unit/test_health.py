"""The health/readiness/metrics endpoints, served for real on loopback (port 0)."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter

from sidecar.errors import ConfigError
from sidecar.health import HealthServer, Probe, liveness, prometheus_renderer, readiness


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def get(server: HealthServer, path: str, method: str = "GET") -> tuple[int, str, bytes]:
    host, port = server.address
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        conn.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., HealthServer]]:
    servers: list[HealthServer] = []

    def start(**kwargs: Any) -> HealthServer:
        kwargs.setdefault("live", lambda: Probe(True))
        kwargs.setdefault("ready", lambda: Probe(True))
        server = HealthServer("127.0.0.1", 0, **kwargs)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# --- probes ------------------------------------------------------------------------------------


def test_liveness_follows_the_heartbeat() -> None:
    clock, beat = Clock(), {"at": None}
    probe = liveness(lambda: beat["at"], max_age_s=90, clock=clock)
    assert probe().ok  # grace period from start before the first beat
    clock.now += 91
    assert not probe().ok  # never beat within the grace period: the loop is stuck
    beat["at"] = clock.now
    assert probe().ok
    clock.now += 60
    result = probe()
    assert result.ok
    assert result.detail["heartbeatAgeSeconds"] == 60
    clock.now += 31
    assert not probe().ok


def test_readiness_needs_every_check_and_survives_a_broken_one() -> None:
    state = {"gateway": True, "docker": False}

    def broken() -> bool:
        raise RuntimeError("boom")

    probe = readiness({"gateway": lambda: state["gateway"], "docker": lambda: state["docker"]})
    assert probe() == Probe(False, {"gateway": True, "docker": False})
    state["docker"] = True
    assert probe().ok
    assert not readiness({"gateway": lambda: True, "firstReconcile": broken})().ok


# --- the server --------------------------------------------------------------------------------


def test_endpoints_answer_with_status_codes_and_reasons(serve: Callable[..., HealthServer]) -> None:
    ready = {"ok": False}
    server = serve(
        live=lambda: Probe(True, {"heartbeatAgeSeconds": 1.5}),
        ready=lambda: Probe(ready["ok"], {"gateway": True, "docker": ready["ok"], "firstReconcile": True}),
    )
    status, ctype, body = get(server, "/healthz")
    assert (status, ctype) == (200, "application/json")
    assert json.loads(body) == {"status": "ok", "heartbeatAgeSeconds": 1.5}
    status, _, body = get(server, "/readyz")
    assert status == 503
    assert json.loads(body)["docker"] is False
    ready["ok"] = True
    assert get(server, "/readyz")[0] == 200
    assert get(server, "/readyz?verbose=1")[0] == 200
    assert get(server, "/nope")[0] == 404
    assert get(server, "/healthz", method="HEAD")[0:2] == (200, "application/json")


def test_a_raising_probe_is_a_503_not_a_crash(serve: Callable[..., HealthServer]) -> None:
    def explode() -> Probe:
        raise RuntimeError("approver gone")

    server = serve(live=explode)
    status, _, body = get(server, "/healthz")
    assert status == 503
    assert "approver gone" in json.loads(body)["error"]
    assert get(server, "/readyz")[0] == 200  # the server itself keeps serving


def test_metrics_in_prometheus_text_format(serve: Callable[..., HealthServer]) -> None:
    registry = CollectorRegistry()
    counter = Counter("openclaw_pairing_test_total", "test counter", registry=registry)
    counter.inc(3)
    server = serve(metrics=prometheus_renderer(registry))
    status, ctype, body = get(server, "/metrics")
    assert status == 200
    assert ctype.startswith("text/plain; version=0.0.4")
    assert b"openclaw_pairing_test_total 3.0" in body


def test_no_metrics_route_without_a_registry(serve: Callable[..., HealthServer]) -> None:
    assert get(serve(), "/metrics")[0] == 404


def test_a_busy_port_is_a_config_error_naming_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = HealthServer("127.0.0.1", port, live=lambda: Probe(True), ready=lambda: Probe(True))
        with pytest.raises(ConfigError, match="OPENCLAW_PAIRING_LISTEN"):
            server.start()


def test_stop_frees_the_port() -> None:
    server = HealthServer("127.0.0.1", 0, live=lambda: Probe(True), ready=lambda: Probe(True))
    server.start()
    host, port = server.address
    server.stop()
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind((host, port))
