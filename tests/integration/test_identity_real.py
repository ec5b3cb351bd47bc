"""The entrypoint's identity, presented by the real OpenClaw client to the real gateway (2026.9.6, 2026.2.26).

For each version: ``entrypoint.py --init-only`` into an empty client state dir (format auto-detected from
the installed package) → the genuine ``openclaw`` CLI, run in the client namespace (a remote peer), creates
a pending request with exactly the published deviceId → approve → a *fresh, empty* state dir initialised
from the same slot (a recreated container) connects with no new pending request.

How the client reaches the gateway: 2026.9.6 allows plaintext ``ws://`` to a private address with
``OPENCLAW_ALLOW_INSECURE_PRIVATE_WS=1``. 2026.2.26 refuses plaintext to any non-loopback address, so it
connects to a small TCP relay on the client namespace's loopback that forwards to the gateway; the gateway
still sees the client namespace's address, i.e. a remote peer whose request stays pending.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sidecar.gateway.client import GatewayClient
from sidecar.gateway.models import PairingList
from tests.harness.gateway import RealGateway, openclaw_bin, openclaw_env, sqlite_era
from tests.harness.netns import ClientNetns

pytestmark = pytest.mark.gateway

REPO = Path(__file__).resolve().parents[2]
RELAY = """
import asyncio, sys
async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
async def handle(reader, writer):
    up_reader, up_writer = await asyncio.open_connection(sys.argv[1], int(sys.argv[2]))
    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


@dataclass
class Route:
    """How an OpenClaw client in the client namespace addresses the gateway."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"


@pytest.fixture
def route(gateway: RealGateway, client_ns: ClientNetns) -> Iterator[Route]:
    if sqlite_era(gateway.version):
        yield Route(client_ns.host_ip, gateway.port)
        return
    relay = subprocess.Popen(
        client_ns.exec_argv([sys.executable, "-c", RELAY, client_ns.host_ip, str(gateway.port)]),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert relay.stdout is not None
        yield Route("127.0.0.1", int(relay.stdout.readline()))
    finally:
        relay.terminate()
        relay.wait(timeout=10)


def init_only(gateway: RealGateway, ids: Path, home: Path) -> tuple[str, str]:
    """Run the entrypoint like an init container: the agent's OpenClaw on PATH, default state dir."""
    env = {
        "PATH": f"{openclaw_bin(gateway.version).parent}:/usr/bin:/bin",
        "HOME": str(home),
        "OPENCLAW_IDENTITY_DIR": str(ids),
        "OPENCLAW_DEVICE_ID": "agent-1",
        "OPENCLAW_UID": "0",
        "OPENCLAW_GID": "0",
    }
    done = subprocess.run(
        [sys.executable, str(REPO / "entrypoint.py"), "--init-only"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    published = json.loads((home / ".openclaw/identity/device.pub.json").read_text())
    assert published == json.loads((ids / "agent-1/device.pub.json").read_text())
    source = done.stderr.strip().splitlines()[-1].rsplit("source=", 1)[1]
    return published["deviceId"], source


def pairing(gateway: RealGateway) -> PairingList:
    async def listing() -> PairingList:
        async with GatewayClient(
            gateway.url, token=gateway.token, identity=None, scopes=("operator.admin",)
        ) as c:
            return await c.list_pairing()

    return asyncio.run(listing())


def approve(gateway: RealGateway, request_id: str) -> None:
    async def run() -> None:
        async with GatewayClient(
            gateway.url, token=gateway.token, identity=None, scopes=("operator.admin",)
        ) as c:
            await c.approve(request_id)

    asyncio.run(run())


def cli_from_client_ns(
    gateway: RealGateway, client_ns: ClientNetns, route: Route, home: Path
) -> subprocess.CompletedProcess[str]:
    """The real one-shot CLI as a remote client: it loads the identity from ``home``'s state dir."""
    env = openclaw_env(home, OPENCLAW_GATEWAY_TOKEN=gateway.token, OPENCLAW_ALLOW_INSECURE_PRIVATE_WS="1")
    argv = [
        str(openclaw_bin(gateway.version)),
        "devices",
        "list",
        "--url",
        route.url,
        "--token",
        gateway.token,
    ]
    return subprocess.run(
        client_ns.exec_argv([*argv, "--json"]),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_published_device_is_presented_and_survives_a_fresh_state_dir(
    gateway: RealGateway,
    client_ns: ClientNetns,
    route: Route,
    tmp_path: Path,
    record_property: pytest.RecordProperty,
) -> None:
    ids = tmp_path / "identity-volume"
    device, source = init_only(gateway, ids, tmp_path / "home1")
    assert source == "created"
    state = tmp_path / "home1/.openclaw"
    if sqlite_era(gateway.version):
        assert (state / "state/openclaw.sqlite").is_file()
        assert not (state / "identity/device.json").exists()
    else:
        assert json.loads((state / "identity/device.json").read_text())["deviceId"] == device

    started = time.monotonic()
    first = cli_from_client_ns(gateway, client_ns, route, tmp_path / "home1")
    record_property("first_connect_s", round(time.monotonic() - started, 2))
    assert first.returncode != 0, first.stdout
    assert "pairing required" in (first.stdout + first.stderr)
    listing = pairing(gateway)
    assert [p.device_id for p in listing.pending] == [device]  # exactly the published deviceId
    (request,) = listing.pending
    assert request.remote_ip == client_ns.client_ip
    approve(gateway, request.request_id)

    # A recreated container: a new, empty state dir, initialised from the same slot.
    again, source = init_only(gateway, ids, tmp_path / "home2")
    assert (again, source) == (device, "existing")
    started = time.monotonic()
    second = cli_from_client_ns(gateway, client_ns, route, tmp_path / "home2")
    record_property("second_connect_s", round(time.monotonic() - started, 2))
    assert second.returncode == 0, second.stdout + second.stderr
    after = pairing(gateway)
    assert after.pending == ()  # no new request
    assert [d.device_id for d in after.paired] == [device]


def test_long_running_openclaw_node_host_uses_the_identity(
    gateway: RealGateway, client_ns: ClientNetns, route: Route, tmp_path: Path
) -> None:
    """The writable loaders (what a running agent uses) accept the materialized identity as is: for
    2026.9.6 that means building OpenClaw's full schema around the one-table database we created."""
    home = tmp_path / "home"
    device, _ = init_only(gateway, tmp_path / "ids", home)
    env = openclaw_env(home, OPENCLAW_GATEWAY_TOKEN=gateway.token, OPENCLAW_ALLOW_INSECURE_PRIVATE_WS="1")
    argv = [
        str(openclaw_bin(gateway.version)),
        "node",
        "run",
        "--host",
        route.host,
        "--port",
        str(route.port),
    ]
    if sqlite_era(gateway.version):
        argv.append("--no-tls")
    with (tmp_path / "node.out").open("w") as out:
        node = subprocess.Popen(
            client_ns.exec_argv([*argv, "--display-name", "entrypoint-node"]),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        pending: list[str] = []
        while not pending and time.monotonic() < deadline:
            time.sleep(0.5)
            pending = [p.device_id for p in pairing(gateway).pending if p.display_name == "entrypoint-node"]
        assert pending == [device], (tmp_path / "node.out").read_text()[-3000:]
    finally:
        node.terminate()
        node.wait(timeout=30)
    state = home / ".openclaw"
    if sqlite_era(gateway.version):
        with sqlite3.connect(state / "state/openclaw.sqlite") as con:
            tables = con.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
            row = con.execute(
                "SELECT device_id FROM device_identities WHERE identity_key='primary'"
            ).fetchone()
        assert tables > 1  # OpenClaw completed its schema around ours
        assert row == (device,)
        assert not (state / "identity/device.json").exists()
    else:
        assert json.loads((state / "identity/device.json").read_text())["deviceId"] == device
