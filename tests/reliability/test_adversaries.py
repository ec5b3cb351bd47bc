"""Adversaries against the real sidecar process, the real gateway 2026.9.6 and real containers.

All requests are made first (the sidecar is not running yet), then containers are renamed and re-IP'd,
then the sidecar starts and decides the whole backlog at once — so every adversary meets the decision
made from the engine's state *after* the change. Each adversary asserts: not paired, and an audit record
with a reason. Wrong approvals = devices the gateway lists as paired that are not legitimate.

Adversaries: the opt-in label copied with nothing published; another container's public key published;
the container's IP with another key; two containers sharing one identity; the request arriving from the
host through the bridge gateway address (with a labelled container's real key) and from another
namespace; role/scope escalation beyond the label, labels that try to grant node and admin; a device
churning request ids; a labelled container of another compose project; a container re-IP'd between
request and decision (a renamed one stays legitimate).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sidecar.identity.keys import DeviceIdentity
from tests.harness import netns
from tests.harness.agents import wait_until
from tests.harness.devices import request_from
from tests.harness.gateway import RealGateway
from tests.reliability import realworld as rw
from tests.reliability.tally import Tally

CATEGORY = "adversaries"
pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.gateway, pytest.mark.netns]

FROM_BRIDGE = """
import asyncio, json, sys
from sidecar.errors import PairingRequired
from sidecar.gateway.client import GatewayClient
from sidecar.identity.keys import DeviceIdentity
key = DeviceIdentity.from_record(json.loads(sys.argv[3]))
async def main():
    c = GatewayClient(sys.argv[1], token=sys.argv[2], identity=key, client_id="cli", client_mode="cli",
                      scopes=("operator.read",), connect_timeout=5)
    try:
        await c.connect()
    except PairingRequired as exc:
        return exc.request_id
    await c.close()
    return None
print(json.dumps(asyncio.run(main())))
"""


def from_the_bridge(gw: RealGateway, plug_ip: str, key: DeviceIdentity) -> str:
    """Connect from the engine's namespace: the gateway sees the Docker network's bridge address."""
    outer = netns.outer_netns_pid()
    env = {"PYTHONPATH": str(rw.ROOT), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    done = subprocess.run(
        ["nsenter", "-t", str(outer), "-n", sys.executable, "-c", FROM_BRIDGE, gw.url_via(plug_ip), gw.token,
         json.dumps(key.to_record())],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    request_id = json.loads(done.stdout.strip().splitlines()[-1])
    assert request_id, done.stdout
    return str(request_id)


@pytest.fixture
def project(run_label: dict[str, str]) -> str:
    return f"ocp-adv-{run_label['openclaw.test-run']}-{secrets.token_hex(2)}"


def test_adversaries_win_nothing_and_each_refusal_is_audited(
    gateway96: RealGateway,
    docker_client: Any,
    docker_net: Any,
    client_ns: netns.ClientNetns,
    run_label: dict[str, str],
    project: str,
    tmp_path: Path,
    tally: Tally,
) -> None:
    gw = gateway96
    good, shared, churner, victim, bridged = (DeviceIdentity.generate() for _ in range(5))
    specs = [
        rw.AgentSpec("good", good),
        rw.AgentSpec("renamed"),
        # its key is used from the host too: the gateway folds both into one request (same device and
        # surface) whose remoteIp is then the bridge's: rejected, and the container must ask again
        rw.AgentSpec("bridged", bridged),
        rw.AgentSpec("reip"),
        rw.AgentSpec("copycat", publishes=None),
        rw.AgentSpec("victim", victim),  # its key is also published by the thief: ambiguous, not approved
        rw.AgentSpec("thief", publishes=victim),  # another container's public key
        rw.AgentSpec("wrongkey", publishes=DeviceIdentity.generate()),  # its IP, another key
        rw.AgentSpec("twin1", shared),
        rw.AgentSpec("twin2", shared),
        rw.AgentSpec(
            "admin",
            labels={**rw.OPT_IN, "openclaw.pairing.scopes": "operator.admin,operator.read"},
            attempts=[("operator", ("operator.admin",))],
        ),
        rw.AgentSpec(
            "node",
            labels={**rw.OPT_IN, "openclaw.pairing.roles": "node,operator"},
            attempts=[("node", ())],
        ),
        rw.AgentSpec(
            "beyond",
            labels={**rw.OPT_IN, "openclaw.pairing.scopes": "operator.read"},
            attempts=[("operator", ("operator.write",))],
        ),
        rw.AgentSpec("foreign", project=f"{project}-other"),
    ]
    agents = {
        a.name: a
        for a in rw.run_agents(
            docker_client,
            specs,
            network=docker_net.name,
            url=gw.url_via(docker_net.gateway_ip),
            token=gw.token,
            workdir=tmp_path / "agents",
            project=project,
            run_label=run_label,
        )
    }
    rw.wait_requests(list(agents.values()))
    # from the host, through the bridge gateway address, with a labelled container's real key
    bridge_rid = from_the_bridge(gw, docker_net.gateway_ip, bridged)
    # from another namespace (a remote peer that is no container)
    host_rid = request_from(client_ns, gw).request_id
    assert host_rid is not None

    # between request and decision: one container renamed (still legitimate), one re-IP'd
    agents["renamed"].container.rename(f"{project}-renamed-later")
    reip = agents["reip"]
    old_ip = reip.ip(docker_net.name)
    docker_net.network.disconnect(reip.container)
    placeholder = docker_client.containers.run(  # takes nothing special; makes the IPAM move on
        rw.IMAGE, ["sleep", "infinity"], network=docker_net.name, labels=run_label, detach=True, init=True
    )
    docker_net.network.connect(reip.container)
    new_ip = reip.ip(docker_net.name)
    assert new_ip != old_ip, "the re-IP did not change the address"

    sc = rw.sidecar(gw, tmp_path / "sidecar", project=project)
    legit = {"good": good.device_id, "renamed": agents["renamed"].key.device_id}
    try:
        # with the sidecar deciding, a device churning through surfaces it may not have: each rejected
        # request makes the next connection a new request id
        (churn,) = rw.run_agents(
            docker_client,
            [
                rw.AgentSpec(
                    "churn",
                    churner,
                    attempts=[
                        ("operator", scopes)
                        for scopes in (
                            ("operator.admin",),
                            ("operator.pairing",),
                            ("operator.approvals",),
                            ("operator.admin", "operator.read"),
                            ("operator.pairing", "operator.read"),
                            ("operator.talk",),
                        )
                    ]
                    * 2,
                )
            ],
            network=docker_net.name,
            url=gw.url_via(docker_net.gateway_ip),
            token=gw.token,
            workdir=tmp_path / "agents",
            project=project,
            run_label=run_label,
        )
        agents["churn"] = churn
        rw.wait_requests([churn])
        wait_until(
            "the legitimate devices approved", lambda: set(legit.values()) <= rw.paired_ids(gw), within=30
        )
        expected_rids = {a.request_ids[-1] for a in agents.values()} | {bridge_rid, host_rid}
        wait_until(
            "a decision for every container's latest request",
            lambda: expected_rids <= {r["requestId"] for r in sc.records()},
            within=30,
        )
        paired = rw.paired_ids(gw)
        wrong = paired - set(legit.values())
        tally.inputs(sum(len(a.request_ids) for a in agents.values()) + 2)
        tally.wrong_approvals(len(wrong))
        tally.requests_missed(len(set(legit.values()) - paired))
        assert not wrong, wrong

        reasons: dict[str, str] = {}
        for name, agent in agents.items():
            if name in legit:
                continue
            assert agent.request_ids, (name, agent.results)
            # a churning device supersedes its own requests: the gateway keeps the latest one pending
            records = [r for rid in agent.request_ids if (r := sc.record_for(rid)) is not None]
            assert records, (name, agent.request_ids)
            for record in records:
                assert record["action"] != "approve", (name, record)
                assert record["reason"], record
            reasons[name] = records[-1]["reason"]
        for label, rid in (("bridge", bridge_rid), ("host", host_rid)):
            record = sc.record_for(rid)
            assert record is not None
            assert record["action"] != "approve", record
            reasons[label] = record["reason"]
        # the churning device produced a new request id for each surface it asked for
        assert len(agents["churn"].request_ids) >= 4, agents["churn"].results
        assert sc.probe("/readyz") == 200
    finally:
        sc.stop()
        placeholder.remove(force=True)
        names = {rid: a.name for a in agents.values() for rid in a.request_ids}
        for r in sc.records():
            print(names.get(r["requestId"], r["requestId"][:8]), r["action"], r.get("outcome"), r["reason"])
    print("\n[adversaries] " + json.dumps(reasons, indent=1))
    # a few reasons worth pinning: they tell the operator what happened
    assert "admin" in reasons["admin"]
    assert "node" in reasons["node"]
    assert "publishes no readable identity" in reasons["copycat"]
    assert "gateway address" in reasons["bridge"]
    assert "published by 2 labelled containers" in reasons["twin2"]
    assert old_ip in reasons["reip"] or new_ip in reasons["reip"] or "address" in reasons["reip"]


def test_resolved_elsewhere_between_decision_and_rpc(
    gateway96: RealGateway,
    docker_client: Any,
    docker_net: Any,
    run_label: dict[str, str],
    project: str,
    tmp_path: Path,
    tally: Tally,
) -> None:
    """Someone approves one request and rejects another while the sidecar's RPC is in flight."""
    gw = gateway96
    sc = rw.sidecar(gw, tmp_path / "sidecar", project=project, hook="delay-approve:8")
    specs = [rw.AgentSpec("by-hand-approved"), rw.AgentSpec("by-hand-rejected")]
    agents = rw.run_agents(
        docker_client, specs, network=docker_net.name, url=gw.url_via(docker_net.gateway_ip),
        token=gw.token, workdir=tmp_path / "agents", project=project, run_label=run_label,
    )  # fmt: skip
    rw.wait_requests(agents)
    approved_rid, rejected_rid = agents[0].request_ids[0], agents[1].request_ids[0]
    try:
        rw.admin_call(gw, "approve", approved_rid)
        rw.admin_call(gw, "reject", rejected_rid)
        tally.inputs(2)

        # the one whose approve RPC was in flight is audited as gone; one resolved before the sidecar got
        # to it needs no decision at all (it is no longer pending on the next pass)
        gone = wait_until(
            "the in-flight RPC's outcome",
            lambda: [r for r in sc.records() if r["requestId"] in (approved_rid, rejected_rid)],
            within=40,
        )
        assert all(r["outcome"].startswith("gone") for r in gone), gone
        time.sleep(2)
        assert all(r["outcome"].startswith("gone") for r in sc.records()), sc.records()
        paired = rw.paired_ids(gw)
        wrong = {agents[1].key.device_id} & paired
        tally.wrong_approvals(len(wrong))
        assert not wrong
        assert agents[0].key.device_id in paired
        assert sc.probe("/readyz") == 200
    finally:
        sc.stop()
        print(sc.log.read_text()[-3000:])
        print(sc.records())
