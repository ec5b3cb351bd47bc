"""Real sidecar processes and agent containers, shared by the integration tests and the benchmarks.

An *agent* is a short Python program run in the local base image, with this working tree and the venv's
packages bind-mounted read-only (so it always exercises the current code), that connects to the gateway
with its device key from a container on a test-made Docker network and prints the pairing request it got.
Its container keeps running, so its IP stays valid while the sidecar decides. The *sidecar* is the
shipped CLI, ``python -m sidecar run``, on the gateway's loopback as in production.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sidecar.identity.keys import DeviceIdentity
from tests.harness.gateway import RealGateway

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
IMAGE = "local/python:3.11-bookworm"
OPT_IN = {"openclaw.pairing.auto-approve": "true"}
STATE = "/home/node/.openclaw/identity"

AGENT = """
import asyncio, json, os
from sidecar.errors import PairingRequired
from sidecar.gateway.client import GatewayClient
from sidecar.identity.keys import DeviceIdentity

identity = DeviceIdentity.from_record(json.load(open("/agent/key.json")))

async def main():
    client = GatewayClient(os.environ["GW_URL"], token=os.environ["GW_TOKEN"], identity=identity,
                           client_id="cli", client_mode="cli", scopes=("operator.read",),
                           display_name="test-agent")
    try:
        await client.connect()
    except PairingRequired as exc:
        return {"requestId": exc.request_id, "reason": exc.reason}
    await client.close()
    return {"admitted": True}

print("AGENT " + json.dumps(asyncio.run(main())), flush=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(what: str, ok: Callable[[], Any], within: float = 20.0, every: float = 0.1) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = ok()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        time.sleep(every)


@dataclass
class Sidecar:
    proc: subprocess.Popen[bytes]
    audit: Path
    port: int
    log: Path

    def records(self) -> list[dict[str, Any]]:
        if not self.audit.exists():
            return []
        return [json.loads(line) for line in self.audit.read_text().splitlines() if line.strip()]

    def record_for(self, request_id: str) -> dict[str, Any] | None:
        return next((r for r in reversed(self.records()) if r.get("requestId") == request_id), None)

    def probe(self, path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return 0

    def stop(self) -> tuple[int, float]:
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode, time.monotonic() - started


def start_sidecar(
    gw: RealGateway, workdir: Path, *, project: str, trusted: bool, env: Mapping[str, str] | None = None
) -> Sidecar:
    """Start ``python -m sidecar run`` against ``gw`` and wait until it reports ready."""
    port = free_port()
    audit = workdir / "audit.jsonl"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_")}
    environ.update(
        OPENCLAW_GATEWAY_URL=gw.url,
        OPENCLAW_GATEWAY_TOKEN=gw.token,
        OPENCLAW_PAIRING_PROJECT=project,
        OPENCLAW_PAIRING_AUDIT_LOG=str(audit),
        OPENCLAW_PAIRING_LISTEN=f"127.0.0.1:{port}",
        OPENCLAW_PAIRING_RECONCILE_INTERVAL="5s",
        OPENCLAW_PAIRING_JSON_LOGS="1",
    )
    environ.update(env or {})  # the caller's settings win (e.g. the bench's production reconcile interval)
    if trusted:
        environ["OPENCLAW_TRUSTED_ENV"] = "1"
    log = workdir / "sidecar.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sidecar", "run"],
            env=environ,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    sidecar = Sidecar(proc, audit, port, log)
    try:
        wait_until(
            "the sidecar's /readyz", lambda: proc.poll() is None and sidecar.probe("/readyz") == 200, 30
        )
    except AssertionError:
        sidecar.stop()
        raise AssertionError(f"sidecar not ready; log:\n{log.read_text()[-3000:]}") from None
    return sidecar


def start_agent(
    docker_client: Any,
    network: str,
    gateway_url: str,
    token: str,
    workdir: Path,
    *,
    name: str,
    project: str,
    labels: Mapping[str, str],
    key: DeviceIdentity,
    publishes: DeviceIdentity,
) -> tuple[Any, str]:
    """Start an agent container; returns (container, the requestId its connection produced)."""
    home = workdir / name
    home.mkdir()
    (home / "key.json").write_text(json.dumps(key.to_record()))
    (home / "agent.py").write_text(AGENT)
    ids = workdir / f"{name}-identity"
    ids.mkdir()
    (ids / "device.pub.json").write_text(json.dumps(publishes.public().to_json()))
    container = docker_client.containers.run(
        IMAGE,
        ["sh", "-c", "python3 /agent/agent.py; exec sleep infinity"],
        name=f"{project}-{name}",
        labels={"com.docker.compose.project": project, "com.docker.compose.service": name, **labels},
        environment={
            "GW_URL": gateway_url,
            "GW_TOKEN": token,
            "PYTHONPATH": "/src:/opt/site",
            "PYTHONDONTWRITEBYTECODE": "1",
        },
        volumes={
            str(ROOT): {"bind": "/src", "mode": "ro"},
            str(SITE): {"bind": "/opt/site", "mode": "ro"},
            str(home): {"bind": "/agent", "mode": "ro"},
            str(ids): {"bind": STATE, "mode": "ro"},
        },
        network=network,
        init=True,
        detach=True,
    )

    def outcome() -> dict[str, Any] | None:
        for line in container.logs().decode(errors="replace").splitlines():
            if line.startswith("AGENT "):
                return dict(json.loads(line[6:]))
        container.reload()
        assert container.status == "running", container.logs().decode(errors="replace")
        return None

    result = wait_until(f"agent {name} to connect", outcome, within=30)
    assert result.get("requestId"), result
    return container, str(result["requestId"])
