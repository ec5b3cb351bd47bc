"""A device-less `openclaw-sidecar list` from where the gateway sees a remote peer (the host behind
Docker's published port, here a peer in another network namespace) fails with what to run instead.

Issue 10 #5: the message used to stop at "missing scope: operator.pairing", and the README never said
that the CLI must run inside the stack. Real gateway, real CLI process.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.harness.gateway import RealGateway
from tests.harness.netns import ClientNetns


def cli_from(client_ns: ClientNetns, gateway: RealGateway, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_")}
    env["OPENCLAW_GATEWAY_TOKEN"] = gateway.token
    argv = [sys.executable, "-m", "sidecar", *args, "--url", gateway.url_via(client_ns.host_ip)]
    return subprocess.run(client_ns.exec_argv(argv), capture_output=True, text=True, timeout=60, env=env)


def test_remote_list_without_a_device_says_run_it_inside_the_stack(
    gateway: RealGateway, client_ns: ClientNetns
) -> None:
    result = cli_from(client_ns, gateway, "list")
    if gateway.version.startswith("2026.2."):
        # 2026.2.x still admitted device-less shared-token operators with their scopes from anywhere.
        assert result.returncode == 0, result
        return
    assert result.returncode == 3, result
    assert "missing scope: operator.pairing" in result.stderr
    assert "scripts/pairing.sh list" in result.stderr
    assert "docker compose exec pairing-sidecar openclaw-sidecar list" in result.stderr


def test_the_same_call_on_the_gateways_loopback_works(gateway: RealGateway) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_")}
    env["OPENCLAW_GATEWAY_TOKEN"] = gateway.token
    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "list", "--json", "--url", gateway.url],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result
    assert '"pending"' in result.stdout
