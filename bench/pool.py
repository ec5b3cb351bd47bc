"""Light agents: our own Python device client in the local base image, one container per device key.

Each container imports the client once, prints ``READY``, then waits for trigger files: for round ``k``
it connects when ``/trigger/<name>.<k>`` exists, prints what the gateway answered and waits for round
``k+1``. So the benchmark decides *when* each request is created (paced for latency, all at once for a
burst), container start-up stays out of the latency figures, and the same containers (same keys, same
addresses, same published identities) serve every approach after the gateway's pairing state is reset.
Memory: about 30 MiB per container, which is why 100 of them fit on this machine and 100 real
``openclaw node run`` processes (about 250 MiB each) would not.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import RUN_LABEL
from sidecar.identity.keys import DeviceIdentity
from tests.harness.agents import IMAGE, OPT_IN, ROOT, SITE, STATE

CLIENT = """
import asyncio, json, os, sys, time
from sidecar.errors import PairingRequired
from sidecar.gateway.client import GatewayClient
from sidecar.identity.keys import DeviceIdentity

identity = DeviceIdentity.from_record(json.load(open("/agent/key.json")))
name = os.environ["AGENT_NAME"]

async def attempt():
    client = GatewayClient(os.environ["GW_URL"], token=os.environ["GW_TOKEN"], identity=identity,
                           client_id="cli", client_mode="cli", scopes=("operator.read",),
                           display_name=name)
    try:
        await client.connect()
    except PairingRequired as exc:
        return {"requestId": exc.request_id}
    except Exception as exc:
        return {"error": repr(exc)}
    await client.close()
    return {"admitted": True}

print("READY", flush=True)
k = 0
while True:
    k += 1
    while not os.path.exists(f"/trigger/{name}.{k}"):
        time.sleep(0.01)
    print("AGENT " + json.dumps({"round": k, **asyncio.run(attempt())}), flush=True)
"""


@dataclass
class Agent:
    name: str
    labelled: bool
    container: Any = None
    ip: str = ""


@dataclass
class Pool:
    """Containers of light agents on one Docker network; ``go`` triggers their next connection."""

    docker: Any
    network: Any
    gateway_url: str
    token: str
    workdir: Path
    project: str
    agents: list[Agent] = field(default_factory=list)
    rounds: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.trigger = self.workdir / "trigger"
        self.trigger.mkdir(parents=True, exist_ok=True)
        (self.workdir / "client.py").write_text(CLIENT)

    def _run(self, agent: Agent, ready: bool, go: bool = False) -> Agent:
        home = self.workdir / agent.name
        ids = self.workdir / f"{agent.name}-identity"
        home.mkdir()
        ids.mkdir()
        key = DeviceIdentity.generate()
        (home / "key.json").write_text(json.dumps(key.to_record()))
        (ids / "device.pub.json").write_text(json.dumps(key.public().to_json()))
        labels = {
            "com.docker.compose.project": self.project,
            "com.docker.compose.service": agent.name,
            **RUN_LABEL,
            **(OPT_IN if agent.labelled else {}),
        }
        self.rounds[agent.name] = 1 if go else 0
        if go:  # connect as soon as it is up: the burst measures from container start
            (self.trigger / f"{agent.name}.1").touch()
        agent.container = self.docker.containers.run(
            IMAGE,
            ["python3", "/bench/client.py"],
            name=f"{self.project}-{agent.name}",
            labels=labels,
            environment={
                "GW_URL": self.gateway_url,
                "GW_TOKEN": self.token,
                "AGENT_NAME": agent.name,
                "PYTHONPATH": "/src:/opt/site",
                "PYTHONDONTWRITEBYTECODE": "1",
            },
            volumes={
                str(ROOT): {"bind": "/src", "mode": "ro"},
                str(SITE): {"bind": "/opt/site", "mode": "ro"},
                str(home): {"bind": "/agent", "mode": "ro"},
                str(ids): {"bind": STATE, "mode": "ro"},
                str(self.workdir / "client.py"): {"bind": "/bench/client.py", "mode": "ro"},
                str(self.trigger): {"bind": "/trigger", "mode": "ro"},
            },
            network=self.network.name,
            init=True,
            detach=True,
            mem_limit="96m",
        )
        agent.container.reload()
        agent.ip = agent.container.attrs["NetworkSettings"]["Networks"][self.network.name]["IPAddress"]
        if ready:
            self.wait_ready([agent])
        return agent

    def start(
        self, names: list[tuple[str, bool]], *, parallel: int = 8, ready: bool = True, go: bool = False
    ) -> list[Agent]:
        """Start containers (``(name, labelled)``), ``parallel`` docker calls at a time; ``go``: each
        connects as soon as it is up."""
        new = [Agent(name, labelled) for name, labelled in names]
        with ThreadPoolExecutor(parallel) as ex:
            started = list(ex.map(lambda a: self._run(a, ready, go), new))
        self.agents += started
        return started

    def wait_ready(self, agents: list[Agent], within: float = 180) -> None:
        deadline = time.monotonic() + within
        for agent in agents:
            while b"READY" not in agent.container.logs():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{agent.name} not ready: {agent.container.logs()[-2000:]!r}")
                time.sleep(0.1)

    def go(self, agent: Agent) -> None:
        """Trigger the agent's next connection (a new pending request when its device is not paired)."""
        self.rounds[agent.name] += 1
        (self.trigger / f"{agent.name}.{self.rounds[agent.name]}").touch()

    def outcome(self, agent: Agent) -> dict[str, Any] | None:
        """What the agent's latest triggered connection got from the gateway, once it printed it."""
        wanted = self.rounds[agent.name]
        for line in reversed(agent.container.logs().decode(errors="replace").splitlines()):
            if line.startswith("AGENT "):
                result: dict[str, Any] = json.loads(line[6:])
                return result if result.get("round") == wanted else None
        return None

    def remove(self, agents: list[Agent]) -> None:
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(lambda a: _remove(a.container), agents))
        for agent in agents:
            self.agents.remove(agent)


def _remove(container: Any) -> None:
    """Remove a container, retrying once: the engine sometimes fails to delete an overlay2 layer
    ("directory not empty"), which ended a section-3 re-run; what still fails is left to the final
    cleanup by label instead of ending the run."""
    import docker.errors

    for attempt in (1, 2):
        try:
            container.remove(force=True)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if attempt == 2:
                print(f"[bench] could not remove {container.name}: {exc}; cleanup retries", flush=True)
            time.sleep(1.0)
