"""Real OpenClaw node hosts (``openclaw node run`` in the OpenClaw 2026.9.6 image) against the real gateway.

Section 2, container start → agent connected (the node host's first ``node host gateway connected`` log
line, Docker's timestamp, against the wall clock just before ``docker run``), per approach:

- ``cidr``: OpenClaw's own ``gateway.nodes.pairing.autoApproveCidrs`` (a second gateway whose config
  trusts the Docker network's subnet); the stock image, identity in its writable layer;
- ``ours+prepair``: identity-init (``openclaw-entrypoint --init-only``, OPENCLAW_PREPAIR_ROLE=node) then the
  agent on the same state volume, our sidecar approving: connected at its first attempt;
- ``sidecar``, ``watcher-1s``, ``loop-5s``: without pre-pairing OpenClaw's node host stops at "pairing
  required" ("reconnect paused ... waiting for operator action"), so the bench restarts the container as
  soon as the gateway reports the approval (the best case: a person or a restart policy is slower). The
  sidecar needs the published identity, so it gets identity-init without pre-pairing; the CLI loops run
  the stock image.

Every measurement starts an unlabelled stock node host on the same network at the same moment; the
gateway's events say whether the approach approved it too.

Section 4, redeploys: ``docker compose up -d --force-recreate`` of two agents side by side, each time
waiting until each new container either connected or was told "pairing required": ``stock`` (identity in
the writable layer) and ``ours`` (identity-init's volume, pre-paired once). Counted: new
``device.pair.requested`` events for each.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import approaches
from bench.common import RUN_LABEL, EventLog, summary, wait_until
from tests.e2e.stack import iso_ms
from tests.harness.gateway import RealGateway

OPENCLAW_IMAGE = "openclaw-local:2026.9.6"
PAIRING_IMAGE = "openclaw-pairing:local"
NODE_LABELS = {
    "openclaw.pairing.auto-approve": "true",
    "openclaw.pairing.roles": "node",
    "openclaw.pairing.scopes": "",
    "openclaw.pairing.node-commands": "*",
}
CONNECTED = re.compile(r"gateway connected")
PAIRING = re.compile(r"pairing required")


def node_env(token: str) -> dict[str, str]:
    return {
        "HOME": "/home/node",
        "OPENCLAW_STATE_DIR": "/home/node/.openclaw",
        "OPENCLAW_GATEWAY_TOKEN": token,
        "OPENCLAW_ALLOW_INSECURE_PRIVATE_WS": "1",
        "OPENCLAW_NO_AUTO_UPDATE": "1",
        "DO_NOT_TRACK": "1",
        "OPENCLAW_DISABLE_BONJOUR": "1",
    }


class Nodes:
    def __init__(self, docker: Any, network: Any, host: str, gw: RealGateway, project: str) -> None:
        self.docker, self.network, self.host, self.gw, self.project = docker, network, host, gw, project
        self.serial = 0

    def _name(self, what: str) -> str:
        self.serial += 1
        return f"{self.project}-{what.replace('+', '-')}-{self.serial}"

    def node(
        self, what: str, *, labelled: bool, state: str | None = None, port: int | None = None
    ) -> tuple[Any, float]:
        """Start ``openclaw node run``; returns (container, wall-clock time just before the start)."""
        labels = {
            "com.docker.compose.project": self.project,
            **RUN_LABEL,
            **(NODE_LABELS if labelled else {}),
        }
        volumes = {state: {"bind": "/home/node/.openclaw", "mode": "rw"}} if state else {}
        name = self._name(what)
        argv = [
            "node",
            "dist/index.js",
            "node",
            "run",
            "--host",
            self.host,
            "--port",
            str(port or self.gw.port),
        ]
        started = time.time()
        container = self.docker.containers.run(
            OPENCLAW_IMAGE,
            [*argv, "--display-name", name],
            name=name,
            labels={**labels, "com.docker.compose.service": what},
            environment=node_env(self.gw.token),
            volumes=volumes,
            network=self.network.name,
            detach=True,
            healthcheck={"test": ["NONE"]},
        )
        return container, started

    def identity_init(self, what: str, *, prepair: bool, port: int | None = None) -> tuple[str, Any]:
        """identity-init as in compose/docker-compose.yml; returns (state volume name, container)."""
        ident = self.docker.volumes.create(labels=RUN_LABEL)
        state = self.docker.volumes.create(labels=RUN_LABEL)
        env = {
            "OPENCLAW_IDENTITY_DIR": "/var/lib/openclaw-identity",
            "OPENCLAW_DEVICE_ID": "agent",
            "OPENCLAW_STATE_DIR": "/home/node/.openclaw",
            "OPENCLAW_IDENTITY_FORMAT": "auto",
            "OPENCLAW_VERSION": "2026.9.6",
            "OPENCLAW_GATEWAY_URL": f"ws://{self.host}:{port or self.gw.port}",
            "OPENCLAW_GATEWAY_TOKEN": self.gw.token,
        }
        if prepair:
            env.update(OPENCLAW_PREPAIR_ROLE="node", OPENCLAW_PREPAIR_TIMEOUT="120")
        container = self.docker.containers.run(
            PAIRING_IMAGE,
            ["openclaw-entrypoint", "--init-only"],
            name=self._name(f"{what}-init"),
            labels={"com.docker.compose.project": self.project, **RUN_LABEL, **NODE_LABELS},
            environment=env,
            volumes={
                ident.name: {"bind": "/var/lib/openclaw-identity", "mode": "rw"},
                state.name: {"bind": "/home/node/.openclaw", "mode": "rw"},
            },
            network=self.network.name,
            detach=True,
        )
        return state.name, container


def first_line_ms(container: Any, pattern: re.Pattern[str]) -> int | None:
    for line in container.logs(timestamps=True).decode(errors="replace").splitlines():
        stamp, _, text = line.partition(" ")
        if pattern.search(text):
            return iso_ms(stamp)
    return None


def ip_of(container: Any, network: str) -> str:
    container.reload()
    return str(container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"])


def remove(*containers: Any) -> None:
    for c in containers:
        with contextlib.suppress(Exception):  # already gone
            c.remove(force=True, v=True)


# --- section 2 ---------------------------------------------------------------------------------------------


def connect_once(nodes: Nodes, events: EventLog, approach: str, *, port: int | None = None) -> dict[str, Any]:
    """One measurement: a labelled agent and an unlabelled stranger start together."""
    net = nodes.network.name
    init = None
    if approach in ("ours+prepair", "sidecar"):
        t0 = time.time()
        state, init = nodes.identity_init(approach, prepair=approach == "ours+prepair", port=port)
        # compose starts the agent once identity-init completed successfully
        stranger, _ = nodes.node("stranger", labelled=False, port=port)
        code = init.wait(timeout=180)["StatusCode"]
        if code != 0:
            raise RuntimeError(f"identity-init exited {code}: {init.logs()[-2000:]!r}")
        agent, _ = nodes.node("agent", labelled=True, state=state, port=port)
    else:
        stranger, t0 = nodes.node("stranger", labelled=False, port=port)
        agent, _ = nodes.node("agent", labelled=approach != "cidr", port=port)
    restarted = False
    since = int(t0 * 1000) - 1000  # Docker reuses addresses: only requests made since this start count

    def requests_from(ip: str) -> list[Any]:
        return [r for r in events.from_ips([ip]) if r.ts >= since]

    try:
        agent_ip, stranger_ip = ip_of(agent, net), ip_of(stranger, net)

        def connected() -> int | None:
            nonlocal restarted
            at = first_line_ms(agent, CONNECTED)
            if at is not None:
                return at
            if approach in ("sidecar", "watcher-1s", "loop-5s") and not restarted:
                mine = requests_from(agent_ip)
                if any(r.resolved == "approved" for r in mine) and first_line_ms(agent, PAIRING):
                    agent.restart(timeout=5)
                    restarted = True
            return None

        at = wait_until(f"{approach}: the agent to connect", connected, 240, 0.2)
        time.sleep(6 if approach != "loop-5s" else 8)  # the stranger's chance to be approved as well
        stranger_reqs = requests_from(stranger_ip)
        return {
            "approach": approach,
            "start_to_connected_s": (at - t0 * 1000) / 1000,
            "restarted": restarted,
            "stranger_requested": bool(stranger_reqs) or first_line_ms(stranger, CONNECTED) is not None,
            "stranger_approved": any(r.resolved == "approved" for r in stranger_reqs)
            or first_line_ms(stranger, CONNECTED) is not None,
        }
    finally:
        remove(agent, stranger, *([init] if init is not None else []))


def connect_section(
    nodes: Nodes,
    events: EventLog,
    cidr_gateway: Callable[[], tuple[RealGateway, EventLog]],
    workdir: Path,
    runs: int,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    from tests.harness.devices import reset_pairing

    for approach in ("ours+prepair", "sidecar", "watcher-1s", "loop-5s"):
        reset_pairing(nodes.gw)
        approver = "sidecar" if approach == "ours+prepair" else approach
        running = approaches.start(approver, nodes.gw, workdir / f"connect-{approach}", nodes.project)
        try:
            samples = [connect_once(nodes, events, approach) for _ in range(runs)]
        finally:
            running.stop()
        rows.append(_row(approach, samples))
    gw2, events2 = cidr_gateway()
    main_gw = nodes.gw
    nodes.gw = gw2
    try:
        samples = [connect_once(nodes, events2, "cidr") for _ in range(runs)]
    finally:
        nodes.gw = main_gw
    rows.append(_row("cidr", samples))
    return rows


def _row(approach: str, samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "approach": approach,
        "runs": samples,
        "start_to_connected_s": summary([s["start_to_connected_s"] for s in samples]),
        "restart_needed": any(s["restarted"] for s in samples),
        "stranger_approved": sum(1 for s in samples if s["stranger_approved"]),
        "stranger_runs": len(samples),
    }


# --- section 4 ---------------------------------------------------------------------------------------------


def compose_file(host: str, port: int, token: str, state: str, network: str) -> dict[str, Any]:
    """The two agents as a compose file (JSON is YAML): same image and command, only identity differs."""

    def agent(name: str, labels: dict[str, str]) -> dict[str, Any]:
        argv = ["node", "dist/index.js", "node", "run", "--host", host, "--port", str(port)]
        return {
            "image": OPENCLAW_IMAGE,
            "command": [*argv, "--display-name", name],
            "environment": node_env(token),
            "labels": {**RUN_LABEL, **labels},
            "networks": ["bench"],
            "healthcheck": {"disable": True},
        }

    ours = {**agent("ours", NODE_LABELS), "volumes": [f"{state}:/home/node/.openclaw"]}
    return {
        "services": {"stock": agent("stock", {}), "ours": ours},
        "networks": {"bench": {"external": True, "name": network}},
        "volumes": {state: {"external": True}},
    }


def recreate_section(nodes: Nodes, events: EventLog, workdir: Path, count: int) -> dict[str, Any]:
    """``count`` × ``docker compose up -d --force-recreate stock ours``; new pending requests per agent."""
    from tests.harness.devices import reset_pairing

    reset_pairing(nodes.gw)
    running = approaches.start("sidecar", nodes.gw, workdir / "recreate-sidecar", nodes.project)
    project = f"{nodes.project}-redeploy"
    try:
        state, init = nodes.identity_init("ours", prepair=True)
        if init.wait(timeout=180)["StatusCode"] != 0:
            raise RuntimeError(f"identity-init failed: {init.logs()[-2000:]!r}")
        remove(init)
        compose = workdir / "redeploy.yml"
        spec = compose_file(nodes.host, nodes.gw.port, nodes.gw.token, state, nodes.network.name)
        compose.write_text(json.dumps(spec, indent=1))
        base = ["docker", "compose", "-p", project, "-f", str(compose)]
        outcome: dict[str, list[str]] = {"stock": [], "ours": []}
        per_iteration: list[float] = []
        first_requests = 0
        for i in range(count + 1):  # the first `up` creates them; `count` recreations follow
            started = time.monotonic()
            before = {r.request_id for r in events.snapshot()}
            args = ["up", "-d"] + (["--force-recreate"] if i else [])
            subprocess.run([*base, *args, "stock", "ours"], check=True, capture_output=True, timeout=300)
            ids = {
                svc: subprocess.run(
                    [*base, "ps", "-q", svc], check=True, capture_output=True, text=True
                ).stdout.strip()
                for svc in ("stock", "ours")
            }
            containers = {svc: nodes.docker.containers.get(cid) for svc, cid in ids.items()}

            def settled(containers: dict[str, Any] = containers) -> bool:
                return all(
                    first_line_ms(c, CONNECTED) is not None or first_line_ms(c, PAIRING) is not None
                    for c in containers.values()
                )

            wait_until("both agents to connect or be refused", settled, 180, 0.3)
            ips = {svc: ip_of(c, nodes.network.name) for svc, c in containers.items()}
            time.sleep(0.5)
            new = [r for r in events.snapshot() if r.request_id not in before]
            if i == 0:
                first_requests = len(new)
                continue
            for svc, ip in ips.items():
                outcome[svc] += [r.request_id for r in new if r.remote_ip == ip]
            per_iteration.append(time.monotonic() - started)
        subprocess.run([*base, "down", "-t", "2"], capture_output=True, timeout=300)
        return {
            "recreations": count,
            "stock_new_requests": len(outcome["stock"]),
            "ours_new_requests": len(outcome["ours"]),
            "first_up_requests": first_requests,
            "node_requests_seen": len(events.node_requested),
            "seconds_per_recreation": summary(per_iteration),
        }
    finally:
        running.stop()
        subprocess.run(
            ["docker", "compose", "-p", project, "-f", str(workdir / "redeploy.yml"), "down", "-t", "2"],
            capture_output=True,
            timeout=300,
        )


def parallel_remove(containers: list[Any]) -> None:
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(remove, containers))
