"""Real components for the reliability suite: agent containers that connect like a real client (once,
a script of attempts, or retrying until admitted), the shipped sidecar process with optional fault hooks
(hooks/sitecustomize.py), the real gateway killed with SIGKILL, and the gateway's own view of pairing.

Agents are the harness's light device client (tests/harness/agents.py): the local base image with this
working tree and the venv bind-mounted read-only; each container publishes the identity it is given (or
none) where the sidecar reads it, and keeps running after its attempts so its IP stays valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sidecar.gateway.client import GatewayClient
from sidecar.gateway.models import PairingList
from sidecar.identity.keys import DeviceIdentity
from tests.harness.agents import IMAGE, ROOT, SITE, STATE, Sidecar, start_sidecar, wait_until
from tests.harness.gateway import RealGateway

HOOKS = Path(__file__).resolve().parent / "hooks"
OPT_IN = {"openclaw.pairing.auto-approve": "true"}

AGENT = """
import asyncio, json, os, time
from sidecar.errors import PairingRequired
from sidecar.gateway.client import GatewayClient
from sidecar.identity.keys import DeviceIdentity

identity = DeviceIdentity.from_record(json.load(open("/agent/key.json")))
attempts = json.loads(os.environ["ATTEMPTS"])
until_admitted = os.environ.get("UNTIL_ADMITTED") == "1"

async def once(role, scopes):
    client = GatewayClient(os.environ["GW_URL"], token=os.environ["GW_TOKEN"], identity=identity,
                           client_id="cli", client_mode="cli", role=role, scopes=tuple(scopes),
                           display_name=os.environ["NAME"], connect_timeout=5)
    try:
        await client.connect()
    except PairingRequired as exc:
        return {"requestId": exc.request_id}
    except Exception as exc:
        return {"error": type(exc).__name__}
    await client.close()
    return {"admitted": True}

deadline = time.monotonic() + float(os.environ.get("RETRY_FOR", "0"))
for attempt in attempts:
    while True:
        started = time.time()
        result = asyncio.run(once(attempt["role"], attempt["scopes"]))
        result.update(started=round(started, 3), ended=round(time.time(), 3))
        print("AGENT " + json.dumps(result), flush=True)
        if not until_admitted or result.get("admitted") or time.monotonic() > deadline:
            break
        time.sleep(float(os.environ.get("RETRY_EVERY", "1")))
print("AGENT-DONE", flush=True)
"""


@dataclass
class Agent:
    name: str
    key: DeviceIdentity
    container: Any = None
    results: list[dict[str, Any]] = field(default_factory=list)

    def refresh(self) -> list[dict[str, Any]]:
        lines = self.container.logs().decode(errors="replace").splitlines()
        self.results = [json.loads(line[6:]) for line in lines if line.startswith("AGENT ")]
        return self.results

    @property
    def request_ids(self) -> list[str]:
        return list(dict.fromkeys(r["requestId"] for r in self.results if r.get("requestId")))

    @property
    def admitted(self) -> bool:
        return any(r.get("admitted") for r in self.results)

    def done(self) -> bool:
        return "AGENT-DONE" in self.container.logs().decode(errors="replace")

    def ip(self, network: str) -> str:
        self.container.reload()
        return str(self.container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"])


@dataclass
class AgentSpec:
    name: str
    key: DeviceIdentity = field(default_factory=DeviceIdentity.generate)
    publishes: DeviceIdentity | str | None = "own"  # "own", another identity, or None (nothing)
    labels: Mapping[str, str] = field(default_factory=lambda: dict(OPT_IN))
    project: str | None = None  # default: the test's project
    attempts: Sequence[tuple[str, Sequence[str]]] = (("operator", ("operator.read",)),)
    until_admitted: bool = False
    retry_for: float = 0.0
    retry_every: float = 1.0


def run_agent(
    docker_client: Any,
    spec: AgentSpec,
    *,
    network: str,
    url: str,
    token: str,
    workdir: Path,
    project: str,
    run_label: Mapping[str, str],
) -> Agent:
    home = workdir / spec.name
    home.mkdir(parents=True)
    (home / "key.json").write_text(json.dumps(spec.key.to_record()))
    (home / "agent.py").write_text(AGENT)
    ids = workdir / f"{spec.name}-identity"
    ids.mkdir()
    published = spec.key if spec.publishes == "own" else spec.publishes
    if isinstance(published, DeviceIdentity):
        (ids / "device.pub.json").write_text(json.dumps(published.public().to_json()))
    proj = spec.project or project
    container = docker_client.containers.run(
        IMAGE,
        ["sh", "-c", "python3 /agent/agent.py; exec sleep infinity"],
        name=f"{proj}-{spec.name}",
        labels={
            "com.docker.compose.project": proj,
            "com.docker.compose.service": spec.name,
            **run_label,
            **spec.labels,
        },
        environment={
            "GW_URL": url,
            "GW_TOKEN": token,
            "NAME": spec.name,
            "ATTEMPTS": json.dumps([{"role": r, "scopes": list(s)} for r, s in spec.attempts]),
            "UNTIL_ADMITTED": "1" if spec.until_admitted else "0",
            "RETRY_FOR": str(spec.retry_for),
            "RETRY_EVERY": str(spec.retry_every),
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
    return Agent(spec.name, spec.key, container)


def run_agents(docker_client: Any, specs: Sequence[AgentSpec], **kw: Any) -> list[Agent]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda s: run_agent(docker_client, s, **kw), specs))


def wait_requests(agents: Sequence[Agent], within: float = 90.0, *, done: bool = True) -> None:
    """Until every agent has made its attempts (``done``) or at least one request."""

    def ready() -> bool:
        for agent in agents:
            agent.refresh()
            if done and not agent.done():
                return False
            if not done and not (agent.request_ids or agent.admitted):
                return False
        return True

    wait_until("the agents' pairing requests", ready, within=within, every=0.5)


# --- the gateway's view and hand -----------------------------------------------------------------


async def _admin(gw: RealGateway, fn: Any) -> Any:
    async with GatewayClient(gw.url, token=gw.token, identity=None, scopes=("operator.admin",)) as client:
        return await fn(client)


def listing(gw: RealGateway) -> PairingList:
    result: PairingList = asyncio.run(_admin(gw, lambda c: c.list_pairing()))
    return result


def listing_or_none(gw: RealGateway) -> PairingList | None:
    try:
        return listing(gw)
    except Exception:
        return None


def admin_call(gw: RealGateway, method: str, request_id: str) -> Any:
    async def go(client: Any) -> Any:
        return await getattr(client, method)(request_id)

    return asyncio.run(_admin(gw, go))


def paired_ids(gw: RealGateway) -> set[str]:
    return {d.device_id for d in listing(gw).paired}


def kill9_and_restart(gw: RealGateway, down_for: float = 0.0) -> float:
    """SIGKILL the gateway's whole process group (no shutdown at all), start it again; returns downtime."""
    assert gw.proc is not None
    t0 = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(gw.proc.pid, signal.SIGKILL)
    gw.proc.wait(10)
    gw.proc = None
    time.sleep(down_for)
    gw._ready_scan_from = gw.stdout_path.stat().st_size  # type: ignore[attr-defined]
    gw.launch()
    gw.wait_ready(180)
    return time.monotonic() - t0


# --- the sidecar ---------------------------------------------------------------------------------


def sidecar(
    gw: RealGateway, workdir: Path, *, project: str, hook: str = "", env: Mapping[str, str] | None = None
) -> Sidecar:
    workdir.mkdir(parents=True, exist_ok=True)
    extra = {"PYTHONPATH": f"{HOOKS}:{ROOT}", **(env or {})}
    if hook:
        extra["RELIABILITY_HOOK"] = hook
    return start_sidecar(gw, workdir, project=project, trusted=True, env=extra)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def approvals_sent(sc: Sidecar) -> dict[str, int]:
    """requestId -> number of approve records the gateway accepted (outcome sent)."""
    counts: dict[str, int] = {}
    for r in sc.records():
        if r.get("action") == "approve" and r.get("outcome") == "sent":
            counts[r["requestId"]] = counts.get(r["requestId"], 0) + 1
    return counts
