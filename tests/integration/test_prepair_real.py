"""Pre-pairing against the real gateways (2026.9.6, 2026.2.26) and the real node host (issue 12).

``entrypoint.py --init-only`` with ``OPENCLAW_PREPAIR_ROLE=node`` runs in the client namespace (a remote
peer, so its request stays pending), presents what ``openclaw node run`` will present, and waits; an
approval over the RPC (what the sidecar does) ends the wait. The real node host then starts on the same
state dir and is admitted at its first connect: no second device request, no "pairing required" in its
log. A second pre-pair run of a paired device returns at once; an unapproved one stops with exit 7.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sidecar.exitcodes import ENTRYPOINT_EXIT_PREPAIR_TIMEOUT
from tests.harness.gateway import RealGateway, openclaw_bin, openclaw_env, sqlite_era
from tests.harness.netns import ClientNetns
from tests.integration.test_identity_real import REPO, Route, approve, pairing, route  # noqa: F401

pytestmark = pytest.mark.gateway
NAME = "prepair-node"


def entrypoint_env(
    gateway: RealGateway, client_ns: ClientNetns, ids: Path, home: Path, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_")}
    env.update(
        PATH=f"{openclaw_bin(gateway.version).parent}:/usr/bin:/bin",
        HOME=str(home),
        OPENCLAW_IDENTITY_DIR=str(ids),
        OPENCLAW_DEVICE_ID="agent-1",
        OPENCLAW_UID="0",
        OPENCLAW_GID="0",
        OPENCLAW_VERSION=gateway.version,
        OPENCLAW_GATEWAY_URL=gateway.url_via(client_ns.host_ip),
        OPENCLAW_GATEWAY_TOKEN=gateway.token,
        OPENCLAW_PREPAIR_ROLE="node",
        OPENCLAW_PREPAIR_DISPLAY_NAME=NAME,
        **extra,
    )
    return env


def start_prepair(client_ns: ClientNetns, env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    with out.open("wb") as fh:
        return subprocess.Popen(
            client_ns.exec_argv([sys.executable, str(REPO / "entrypoint.py"), "--init-only"]),
            env=env,
            cwd=REPO,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )


def node_host(
    gateway: RealGateway, client_ns: ClientNetns, via: Route, home: Path, out: Path
) -> subprocess.Popen[bytes]:
    env = openclaw_env(home, OPENCLAW_GATEWAY_TOKEN=gateway.token, OPENCLAW_ALLOW_INSECURE_PRIVATE_WS="1")
    argv = [
        str(openclaw_bin(gateway.version)),
        "node",
        "run",
        "--host",
        via.host,
        "--port",
        str(via.port),
    ]
    if sqlite_era(gateway.version):
        argv.append("--no-tls")
    with out.open("wb") as fh:
        return subprocess.Popen(
            client_ns.exec_argv([*argv, "--display-name", NAME]), env=env, stdout=fh, stderr=subprocess.STDOUT
        )


def wait_for(what: str, ok, within: float):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = ok()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def node_connected(gateway: RealGateway, device: str) -> bool:
    import asyncio

    from sidecar.gateway.client import GatewayClient

    async def nodes() -> list[dict[str, object]]:
        async with GatewayClient(
            gateway.url, token=gateway.token, identity=None, scopes=("operator.admin",)
        ) as c:
            payload = await c.call("node.list", {})
        return list(payload.get("nodes") or [])

    return any(n.get("nodeId") == device and n.get("connected") for n in asyncio.run(nodes()))


def sidecar_cli(gateway: RealGateway, *args: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_")}
    env.update(OPENCLAW_GATEWAY_URL=gateway.url, OPENCLAW_GATEWAY_TOKEN=gateway.token)
    done = subprocess.run(
        [sys.executable, "-m", "sidecar", *args, "--json"], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


def check_nodes_cli(gateway: RealGateway, device: str) -> None:
    """`openclaw-sidecar nodes list|approve` against the real gateway (2026.2.26: nothing to approve)."""
    if gateway.version == "2026.2.26":
        assert sidecar_cli(gateway, "nodes", "list") == {"pending": [], "paired": []}
        return
    listing = wait_for(
        "the node's capability surface", lambda: sidecar_cli(gateway, "nodes", "list")["pending"], 30
    )
    (surface,) = [p for p in listing if p["nodeId"] == device and p["commands"]]
    assert "system.run" in surface["commands"]
    assert surface["requiredApproveScopes"] == ["operator.pairing", "operator.admin"]
    approved = sidecar_cli(gateway, "nodes", "approve", surface["requestId"])
    assert approved["requestId"] == surface["requestId"]
    after = sidecar_cli(gateway, "nodes", "list")
    assert [p["nodeId"] for p in after["paired"]] == [device]
    assert not [p for p in after["pending"] if p["requestId"] == surface["requestId"]]


def test_prepaired_node_host_connects_at_its_first_attempt(
    gateway: RealGateway,
    client_ns: ClientNetns,
    route: Route,  # noqa: F811
    tmp_path: Path,
    record_property: pytest.RecordProperty,
) -> None:
    ids, home = tmp_path / "ids", tmp_path / "home"
    env = entrypoint_env(gateway, client_ns, ids, home)
    proc = start_prepair(client_ns, env, tmp_path / "prepair.out")
    try:
        request = wait_for("the pre-pair request", lambda: pairing(gateway).pending, 60)[0]
        assert (request.role, request.scopes, request.client_id, request.client_mode) == (
            "node",
            (),
            "node-host",
            "node",
        )
        assert request.platform == "linux"
        assert request.device_family == (None if gateway.version == "2026.2.26" else "Linux")
        assert request.remote_ip == client_ns.client_ip
        approved_at = time.monotonic()
        approve(gateway, request.request_id)
        assert proc.wait(timeout=30) == 0, (tmp_path / "prepair.out").read_text()
        record_property("approval_to_exit_s", round(time.monotonic() - approved_at, 2))
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (tmp_path / "prepair.out").read_text()
    assert f"waiting for approval of request {request.request_id}" in log
    assert f"openclaw devices approve {request.request_id}" in log
    assert f"request {request.request_id} approved after" in log

    started = time.monotonic()
    node = node_host(gateway, client_ns, route, home, tmp_path / "node.out")
    try:
        wait_for("the node host to connect", lambda: node_connected(gateway, request.device_id), 90)
        record_property("node_connect_s", round(time.monotonic() - started, 2))
        time.sleep(2)
        assert pairing(gateway).pending == ()  # no second device request: not new, not an upgrade
        node_log = (tmp_path / "node.out").read_text()
        assert "pairing required" not in node_log, node_log[-2000:]
        check_nodes_cli(gateway, request.device_id)
    finally:
        node.terminate()
        node.wait(timeout=30)

    # Again, already paired: returns at once.
    started = time.monotonic()
    again = subprocess.run(
        client_ns.exec_argv([sys.executable, str(REPO / "entrypoint.py"), "--init-only"]),
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "device already paired" in again.stderr
    record_property("already_paired_s", round(time.monotonic() - started, 2))


def test_prepair_times_out_with_its_own_exit_code(
    gateway96: RealGateway, client_ns: ClientNetns, tmp_path: Path
) -> None:
    env = entrypoint_env(
        gateway96, client_ns, tmp_path / "ids", tmp_path / "home", OPENCLAW_PREPAIR_TIMEOUT="3"
    )
    done = subprocess.run(
        client_ns.exec_argv([sys.executable, str(REPO / "entrypoint.py"), "--init-only"]),
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == ENTRYPOINT_EXIT_PREPAIR_TIMEOUT, done.stderr
    (request,) = pairing(gateway96).pending
    assert f"request {request.request_id} was not approved within 3 s" in done.stderr
    assert f"openclaw devices approve {request.request_id}" in done.stderr
