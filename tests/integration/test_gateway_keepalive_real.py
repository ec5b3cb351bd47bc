"""The real gateways (2026.9.6 and 2026.2.26) answer the client's WebSocket keepalive pings, directly and
through the compose stack's ``ws+unix://`` forwarder (compose/gateway/local-socket.mjs, run with the
provisioned Node), so the short keepalive (sidecar/gateway/handshake.py) never drops a live gateway.

A frozen gateway being dropped is in tests/unit/test_gateway_keepalive.py (a relay that stops forwarding)
and tests/reliability/test_faults.py (the real gateway under SIGSTOP).
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from sidecar.gateway import handshake
from sidecar.gateway.client import GatewayClient
from tests.harness.agents import wait_until
from tests.harness.gateway import NODE_BIN, RealGateway

pytestmark = [pytest.mark.integration, pytest.mark.gateway]
FORWARDER = Path(__file__).resolve().parents[2] / "compose" / "gateway" / "local-socket.mjs"


def test_real_gateway_answers_keepalive_pings_directly_and_over_the_unix_socket(
    gateway: RealGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handshake, "PING_INTERVAL", 0.5)  # several keepalive rounds in a few seconds
    sock = tmp_path / "gw.sock"
    env = {"PATH": f"{NODE_BIN}:/usr/bin:/bin", "OPENCLAW_GATEWAY_SOCKET": str(sock),
           "OPENCLAW_GATEWAY_INTERNAL_PORT": str(gateway.port)}  # fmt: skip
    forwarder = subprocess.Popen([str(NODE_BIN / "node"), str(FORWARDER)], env=env, stderr=subprocess.PIPE)
    try:
        wait_until("the forwarder's socket", sock.exists, within=20)

        async def main() -> None:
            urls = (gateway.url, f"ws+unix://{sock}")
            clients = [GatewayClient(u, token=gateway.token, identity=None) for u in urls]
            for client in clients:
                await client.connect()
            try:
                await asyncio.sleep(8 * handshake.PING_INTERVAL)  # quiet: only pings and pongs
                for url, client in zip(urls, clients, strict=True):
                    ws = client._ws
                    assert client.connected, url
                    assert ws is not None
                    assert ws.latency > 0, f"no keepalive pong via {url}"
                    await asyncio.wait_for(await ws.ping(), handshake.PING_TIMEOUT)
                    assert (await client.list_pairing()) is not None  # still a working connection
            finally:
                for client in clients:
                    await client.close()

        asyncio.run(main())
    finally:
        forwarder.terminate()
        forwarder.wait(10)
