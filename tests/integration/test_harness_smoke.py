"""The floor everything else stands on: real gateways start, remote peers produce pending requests that the
real OpenClaw CLI lists, and containers on a test-created Docker network reach the test namespace with
their own IP addresses (what the sidecar's IP check relies on)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.harness.devices import request_from
from tests.harness.gateway import RealGateway, openclaw_bin, openclaw_env

pytestmark = pytest.mark.integration


def test_remote_python_peer_is_pending_and_listed_by_real_cli(gateway: RealGateway, client_ns) -> None:
    attempt = request_from(client_ns, gateway)
    assert attempt.request_id, attempt
    listed = gateway.cli_json("devices", "list")
    (pending,) = [p for p in listed["pending"] if p["requestId"] == attempt.request_id]
    assert pending["deviceId"] == attempt.identity.device_id
    assert pending["remoteIp"] == client_ns.client_ip
    assert pending["publicKey"] == attempt.identity.public_key_b64url


def test_real_openclaw_node_host_is_pending(gateway96: RealGateway, client_ns, tmp_path: Path) -> None:
    """A genuine OpenClaw client (the 9.6 node host) from a remote peer: pending, with its remote IP."""
    env = openclaw_env(
        tmp_path, OPENCLAW_GATEWAY_TOKEN=gateway96.token, OPENCLAW_ALLOW_INSECURE_PRIVATE_WS="1"
    )
    argv = [
        str(openclaw_bin(gateway96.version)),
        "node",
        "run",
        "--host",
        client_ns.host_ip,
        "--port",
        str(gateway96.port),
        "--no-tls",
        "--display-name",
        "smoke-node",
    ]
    with (tmp_path / "node.out").open("w") as out:
        node = subprocess.Popen(client_ns.exec_argv(argv), env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        pending: list[dict[str, object]] = []
        while time.monotonic() < deadline and not pending:
            time.sleep(1)
            pending = [
                p
                for p in gateway96.cli_json("devices", "list")["pending"]
                if p.get("displayName") == "smoke-node"
            ]
        assert pending, (tmp_path / "node.out").read_text()[-2000:]
        assert pending[0]["role"] == "node"
        assert pending[0]["remoteIp"] == client_ns.client_ip
    finally:
        node.terminate()
        node.wait(timeout=15)


def test_labelled_container_on_test_network_reaches_test_namespace(
    docker_client, docker_net, run_label
) -> None:
    peers: list[str] = []
    server = socket.create_server((docker_net.gateway_ip, 0))
    port = server.getsockname()[1]

    def accept() -> None:
        server.settimeout(60)
        conn, addr = server.accept()
        peers.append(addr[0])
        conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    labels = {**run_label, "openclaw.pairing.auto-approve": "true", "com.example.role": "agent"}
    dial = f"import socket, time; socket.create_connection(('{docker_net.gateway_ip}', {port}), timeout=20)"
    container = docker_client.containers.run(
        "local/python:3.11-bookworm",
        ["python3", "-c", f"{dial}; time.sleep(60)"],
        network=docker_net.name,
        labels=labels,
        detach=True,
    )
    try:
        thread.join(60)
        container.reload()
        assert container.status == "running", container.logs().decode()
        found = docker_client.containers.list(
            all=True, filters={"label": "openclaw.pairing.auto-approve=true"}
        )
        assert container.id in {c.id for c in found}
        assert container.labels["com.example.role"] == "agent"
        ip = container.attrs["NetworkSettings"]["Networks"][docker_net.name]["IPAddress"]
        assert peers == [ip], "the peer address must be the container's own IP (no NAT on the test network)"
    finally:
        container.remove(force=True)
        server.close()
