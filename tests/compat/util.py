"""Helpers the compat checks share: the gateway's RPC as an admin on its loopback, a real OpenClaw client
in the client namespace (through a loopback relay there), and the entrypoint run like an init container."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sidecar.gateway.client import GatewayClient
from sidecar.gateway.models import PairingList
from tests.harness.devices import LOCAL_DEVICE
from tests.harness.gateway import RealGateway, openclaw_bin, openclaw_env
from tests.harness.netns import ClientNetns
from tests.harness.releases import stages_runtime_deps

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
# A TCP relay on the client namespace's loopback: every release's client allows plaintext ws:// to
# loopback (2026.2.26 refuses it to any other address), and the gateway still sees the namespace's
# address, so the client is a remote peer whose requests stay pending.
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


def admin_call(gw: RealGateway, body: Callable[[GatewayClient], Any]) -> Any:
    async def run() -> Any:
        async with GatewayClient(
            gw.url, token=gw.token, identity=None, scopes=("operator.admin",), device_fallback=LOCAL_DEVICE
        ) as client:
            return await body(client)

    return asyncio.run(run())


def pairing(gw: RealGateway) -> PairingList:
    return admin_call(gw, lambda c: c.list_pairing())  # type: ignore[no-any-return]


def wait_for(what: str, probe: Callable[[], T | None], within: float = 90.0, every: float = 0.5) -> T:
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        time.sleep(every)


@contextmanager
def relay(client_ns: ClientNetns, gw: RealGateway) -> Iterator[int]:
    """A loopback port in the client namespace that forwards to the gateway."""
    proc = subprocess.Popen(
        client_ns.exec_argv([sys.executable, "-c", RELAY, client_ns.host_ip, str(gw.port)]),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def init_only(ids: Path, home: Path, *, version: str | None, openclaw_on_path: str | None) -> dict[str, Any]:
    """``openclaw-entrypoint --init-only`` with OPENCLAW_IDENTITY_FORMAT=auto, as an init container runs it.

    ``version``: only OPENCLAW_VERSION tells the release (no OpenClaw installed); ``openclaw_on_path``:
    that release's ``openclaw`` is on PATH (the agent image itself). Returns the published identity plus
    ``source`` from the entrypoint's log line.
    """
    path = "/usr/bin:/bin"
    if openclaw_on_path is not None:
        path = f"{openclaw_bin(openclaw_on_path).parent}:{path}"
    env = {
        "PATH": path,
        "HOME": str(home),
        "OPENCLAW_IDENTITY_DIR": str(ids),
        "OPENCLAW_DEVICE_ID": "agent-1",
        "OPENCLAW_IDENTITY_FORMAT": "auto",
        "OPENCLAW_UID": "0",
        "OPENCLAW_GID": "0",
    }
    if version is not None:
        env["OPENCLAW_VERSION"] = version
    done = subprocess.run(
        [sys.executable, str(REPO / "entrypoint.py"), "--init-only"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    published = dict(json.loads((home / ".openclaw/identity/device.pub.json").read_text()))
    assert published == json.loads((ids / "agent-1/device.pub.json").read_text())
    published["source"] = done.stderr.strip().splitlines()[-1].rsplit("source=", 1)[1]
    return published


def node_run_argv(gw: RealGateway, port: int, name: str) -> list[str]:
    """``openclaw node run`` to the relay; ``--no-tls`` where this release's help offers it."""
    argv = [str(openclaw_bin(gw.version)), "node", "run", "--host", "127.0.0.1", "--port", str(port)]
    helptext = subprocess.run(
        [*argv[:3], "--help"],
        env=openclaw_env(Path("/nonexistent")),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    if "--no-tls" in helptext:
        argv.append("--no-tls")
    return [*argv, "--display-name", name]


@contextmanager
def node_host(gw: RealGateway, client_ns: ClientNetns, home: Path, name: str, log: Path) -> Iterator[None]:
    """The real long-running OpenClaw node host, as a remote peer, using ``home``'s state dir."""
    config = home / ".openclaw" / "openclaw.json"
    if stages_runtime_deps(openclaw_bin(gw.version).parents[1] / "openclaw") and not config.exists():
        config.write_text('{"plugins": {"enabled": false}}\n')  # 2026.4.29's node host fetches them too
    with relay(client_ns, gw) as port, log.open("w") as out:
        env = openclaw_env(home, OPENCLAW_GATEWAY_TOKEN=gw.token)
        proc = subprocess.Popen(
            client_ns.exec_argv(node_run_argv(gw, port, name)), env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def connected_nodes(gw: RealGateway) -> dict[str, str]:
    """nodeId -> displayName of the nodes the gateway lists as connected (``node.list``, every release)."""
    payload = admin_call(gw, lambda c: c.call("node.list", {}))
    nodes = payload.get("nodes", []) if isinstance(payload, dict) else []
    return {
        str(n.get("nodeId")): str(n.get("displayName"))
        for n in nodes
        if isinstance(n, dict) and n.get("connected")
    }
