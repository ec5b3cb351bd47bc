"""The seven end-to-end scenarios of issue 6, on the shipped compose files with real images.

Since issue 12 the device is pre-paired by identity-init (labelled, on the agents network, publishing the
agent's key) before the agent starts: the approved request is identity-init's, and the agent is admitted
at its first connect (tests/e2e/test_zero_touch.py covers that story end to end).

Each test runs its own compose project: real Docker engine, real compose v2, the real OpenClaw 2026.9.6
gateway and a real OpenClaw client (`openclaw node run`) as the agent, our identity-init and sidecar
images. The project network is internal (no route out). The gateway's own CLI is the oracle for what is
pending and paired; the sidecar's audit trail must agree with it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.stack import ComposeStack, iso_ms, run, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

APPROVE_WITHIN_MS = 5000
CONNECT_TIMEOUT = 90  # agent start → first connect is ~5-10 s; generous for a loaded 2-core CI machine
OBSERVE_S = 8  # how long "stays pending" is watched (several sidecar passes: events + reconcile)


def paired_device(stack: ComposeStack, device_id: str, timeout: float = CONNECT_TIMEOUT) -> dict[str, Any]:
    return wait_for(
        f"device {device_id[:12]} to be paired",
        lambda: stack.paired_or_empty().get(device_id),
        timeout,
        1.0,
        stack.diagnostics,
    )


def approve_record(stack: ComposeStack, device_id: str, timeout: float = 20) -> dict[str, Any]:
    records = wait_for(
        f"an audit record approving {device_id[:12]}",
        lambda: [  # the device's pairing, not its node surface (kind node, issue 12)
            r for r in stack.audit_for(device_id=device_id, actions={"approve"}) if r.get("kind") != "node"
        ],
        timeout,
        1.0,
        stack.diagnostics,
    )
    return records[-1]


def first_connect_ms(stack: ComposeStack, request_id: str, record: dict[str, Any]) -> int:
    """When the device first connected: the gateway's log of the refused connect (its end minus its
    duration), or, failing that, the request's own creation time from the audit evidence."""
    candidates = []
    for line in stack.logs("openclaw-gateway"):
        if request_id in line and "closed before connect" in line:
            duration = re.search(r"durationMs=(\d+)", line)
            candidates.append(iso_ms(line.split()[0]) - (int(duration.group(1)) if duration else 0))
    request = (record.get("evidence") or {}).get("request") or {}
    if isinstance(request.get("ts"), int):
        candidates.append(int(request["ts"]))
    assert candidates, f"no trace of request {request_id} in the gateway log or the audit record"
    return min(candidates)


def ip_on(stack: ComposeStack, container: str, network: str) -> str:
    nets = stack.inspect(container)["NetworkSettings"]["Networks"]
    return str(nets[network]["IPAddress"])


def still_pending(stack: ComposeStack, device_id: str, seconds: float = OBSERVE_S) -> None:
    """The device's request stays pending and unpaired for ``seconds``, and nothing approved it."""
    deadline = time.monotonic() + seconds
    while True:
        listing = stack.devices()
        assert device_id not in {d["deviceId"] for d in listing["paired"]}, stack.diagnostics()
        assert device_id in {p["deviceId"] for p in listing["pending"]}, stack.diagnostics()
        if time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not stack.audit_for(device_id=device_id, actions={"approve"})


def agent_connected_in(stack: ComposeStack, container_id: str) -> Callable[[], bool]:
    return lambda: any("gateway connected" in line for line in stack.container_logs(container_id))


# --- 1 ------------------------------------------------------------------------------------------


def test_up_approves_the_labelled_agent_within_5s_with_evidence(
    stack_factory: Callable[..., ComposeStack],
) -> None:
    stack = stack_factory()
    stack.up()
    device = stack.published_device_id()
    paired = paired_device(stack, device)
    record = approve_record(stack, device)

    request_id = record["requestId"]
    took = paired["approvedAtMs"] - first_connect_ms(stack, request_id, record)
    assert 0 <= took <= APPROVE_WITHIN_MS, (
        f"approved {took} ms after the first connect\n{stack.diagnostics()}"
    )

    init = stack.container_id("identity-init")
    assert init
    assert record["trusted"] is True
    assert record["mode"] == "strict"
    assert record["decision"] == "approve"
    assert record["outcome"]
    container = record["evidence"]["container"]
    assert container["containerId"] == init, "the audit record must name the container it matched"
    assert paired["remoteIp"] in container["ips"].values(), "approved from identity-init's own IP"
    assert paired["role"] == "node"
    assert paired["approvedVia"] == "owner"
    assert not stack.pending()
    # The real client gets in at its first connect: the device was paired before it started.
    stack.agent_connected_first_time()


# --- 2 ------------------------------------------------------------------------------------------


def test_recreating_the_agent_ten_times_creates_no_new_request(
    stack_factory: Callable[..., ComposeStack],
) -> None:
    stack = stack_factory()
    stack.up()
    device = stack.published_device_id()
    paired_device(stack, device)
    stack.agent_connected_first_time()
    approvals = len(stack.audit_for(actions={"approve", "would-approve"}))
    audited_requests = {r["requestId"] for r in stack.audit()}

    containers = set()
    for i in range(10):
        stack.up("agent", wait=False, extra=["--force-recreate"])  # waiting for the connect is the check
        agent = stack.container_id("agent")
        assert agent
        assert agent not in containers, "compose must have made a new container"
        containers.add(agent)
        wait_for(
            f"recreated agent #{i + 1} to connect",
            agent_connected_in(stack, agent),
            CONNECT_TIMEOUT,
            1.0,
            stack.diagnostics,
        )
        assert not stack.agent_request_ids(stack.container_logs(agent)), "the agent had to ask for pairing"

    assert stack.published_device_id() == device
    assert stack.pending() == []
    assert set(stack.paired()) == {device}
    assert len(stack.audit_for(actions={"approve", "would-approve"})) == approvals
    assert {r["requestId"] for r in stack.audit()} == audited_requests, "the sidecar saw new requests"


def test_losing_the_agents_state_dir_keeps_its_device(stack_factory: Callable[..., ComposeStack]) -> None:
    """The key lives in agent-identity; identity-init rebuilds a wiped OpenClaw state dir from it."""
    stack = stack_factory()
    stack.up()
    device = stack.published_device_id()
    paired_device(stack, device)
    stack.compose("rm", "-s", "-f", "agent", "identity-init")
    run(["docker", "volume", "rm", stack.volume("agent-state")])
    stack.up("agent")
    assert stack.published_device_id() == device
    agent = stack.container_id("agent")
    assert agent
    wait_for(
        "the agent to connect", agent_connected_in(stack, agent), CONNECT_TIMEOUT, 1.0, stack.diagnostics
    )
    assert stack.pending() == []
    assert set(stack.paired()) == {device}


# --- 3 ------------------------------------------------------------------------------------------


def test_a_deleted_identity_is_a_new_device_approved_only_because_labelled(
    stack_factory: Callable[..., ComposeStack],
) -> None:
    stack = stack_factory()
    stack.up()
    old = stack.published_device_id()
    paired_device(stack, old)

    stack.remove_agent_identity()
    stack.up("agent")
    new = stack.published_device_id()
    assert new != old, "deleting the identity volumes must give the agent a new device"
    paired_device(stack, new)
    record = approve_record(stack, new)
    init = stack.container_id("identity-init")
    assert init
    assert init in json.dumps(record["evidence"])
    assert record["mode"] == "strict"
    assert record["trusted"] is True
    assert stack.inspect(init)["Config"]["Labels"].get("openclaw.pairing.auto-approve") == "true"
    assert not stack.pending()


# --- 4 ------------------------------------------------------------------------------------------


def test_an_unlabelled_container_on_the_same_network_stays_pending(
    stack_factory: Callable[..., ComposeStack],
) -> None:
    stack = stack_factory()
    stack.up()
    paired_device(stack, stack.published_device_id())  # the sidecar is up and approving

    name = f"{stack.name}-unlabelled"
    stack.run_client(name, stack.network(), "openclaw-gateway")
    request = wait_for(
        "the unlabelled client's pending request",
        lambda: stack.pending_for(name),
        CONNECT_TIMEOUT,
        1.0,
        stack.diagnostics,
    )
    assert request["remoteIp"] == ip_on(stack, name, stack.network())
    still_pending(stack, request["deviceId"])


# --- 5 ------------------------------------------------------------------------------------------


def test_without_the_trusted_flag_the_agent_stays_pending_and_the_audit_says_would_approve(
    stack_factory: Callable[..., ComposeStack],
) -> None:
    # identity-init's pre-pairing is never approved: it gives up after 20 s (exit 7), and the agent,
    # which depends on it, is not started. `up` fails for that reason only.
    stack = stack_factory(trusted=False, env={"OPENCLAW_PREPAIR_TIMEOUT": "20"})
    stack.compose("up", "-d", check=False, timeout=300)
    init = stack.container_id("identity-init")
    assert init
    assert stack.inspect(init)["State"]["ExitCode"] == 7, stack.diagnostics()
    assert any("OPENCLAW_PREPAIR_TIMEOUT" in line for line in stack.logs("identity-init"))
    device = stack.published_device_id()
    wait_for(
        "the agent's pending request",
        lambda: any(p["deviceId"] == device for p in stack.pending()),
        CONNECT_TIMEOUT,
        1.0,
        stack.diagnostics,
    )
    records = wait_for(
        "a would-approve audit record",
        lambda: stack.audit_for(device_id=device, actions={"would-approve"}),
        30,
        1.0,
        stack.diagnostics,
    )
    assert records[-1]["trusted"] is False
    assert records[-1]["decision"] == "approve"
    still_pending(stack, device)
    assert not stack.audit_for(actions={"approve", "reject"}), "nothing may be sent without the trusted flag"


# --- 6 ------------------------------------------------------------------------------------------


def test_dev_overlay_approves_unlabelled_agents_on_the_project_network_only(
    stack_factory: Callable[..., ComposeStack],
) -> None:
    stack = stack_factory(overlays=["dev"])
    stack.up()
    gateway = stack.container_id("openclaw-gateway")
    assert gateway

    # An extra, unlabelled container of the project (as if the user had added a service without the
    # opt-in label): compose labels make it part of the project, exactly what `docker compose` would set.
    inside = f"{stack.name}-dev-inside"
    project_labels = {"com.docker.compose.project": stack.name, "com.docker.compose.service": "dev-extra"}
    stack.run_client(inside, stack.network(), "openclaw-gateway", labels=project_labels)
    # A network outside the project that can nevertheless reach the gateway.
    other = stack.create_network(f"{stack.name}-elsewhere")
    run(["docker", "network", "connect", "--alias", "gateway-elsewhere", other, gateway])
    outside = f"{stack.name}-dev-outside"
    stack.run_client(outside, other, "gateway-elsewhere")

    def paired_named(name: str) -> dict[str, Any] | None:
        return next((d for d in stack.paired().values() if d.get("displayName") == name), None)

    approved = wait_for(
        "the unlabelled client on the project network to be paired",
        lambda: paired_named(inside),
        CONNECT_TIMEOUT,
        1.0,
        stack.diagnostics,
    )
    assert approved["remoteIp"] == ip_on(stack, inside, stack.network())
    record = approve_record(stack, approved["deviceId"])
    assert record["mode"] == "dev-approve-all"

    request = wait_for(
        "the pending request from the other network",
        lambda: stack.pending_for(outside),
        CONNECT_TIMEOUT,
        1.0,
        stack.diagnostics,
    )
    assert request["remoteIp"] == ip_on(stack, outside, other)
    still_pending(stack, request["deviceId"])


# --- 7 ------------------------------------------------------------------------------------------


def test_gateway_restart_the_sidecar_reconnects_and_approves_a_request_made_meanwhile(
    stack_factory: Callable[..., ComposeStack],
) -> None:
    stack = stack_factory()
    stack.up()
    old = stack.published_device_id()
    paired_device(stack, old)
    sidecar = stack.container_id("pairing-sidecar")
    gateway = stack.container_id("openclaw-gateway")
    assert sidecar
    assert gateway
    stack.remove_agent_identity()  # the next agent is a new device: it must ask, and be approved

    errors: list[BaseException] = []

    def restart() -> None:
        try:
            stack.compose("restart", "openclaw-gateway", timeout=180)
        except BaseException as exc:
            errors.append(exc)

    started_before = stack.inspect(gateway)["State"]["StartedAt"]
    restarter = threading.Thread(target=restart)
    restarter.start()
    wait_for(
        "the gateway to go down",
        lambda: (
            not stack.inspect(gateway)["State"]["Running"]
            or stack.inspect(gateway)["State"]["StartedAt"] != started_before
        ),
        60,
        0.1,
    )
    # While it is down: give the agent its new identity (no waiting for the gateway). Its pre-pairing
    # retries until the gateway answers again, and the sidecar approves it then.
    stack.compose("up", "-d", "--no-deps", "identity-init")
    init = stack.container_id("identity-init")
    assert init
    agent_started = iso_ms(stack.inspect(init)["State"]["StartedAt"])
    wait_for("identity-init to finish", lambda: stack.inspect(init)["State"]["Status"] == "exited", 240, 0.5)
    assert stack.inspect(init)["State"]["ExitCode"] == 0, stack.diagnostics()
    stack.compose("up", "-d", "--no-deps", "agent")
    restarter.join(240)
    assert not errors, errors

    new = stack.published_device_id()
    assert new != old
    paired_device(stack, new)
    record = approve_record(stack, new)
    assert init in json.dumps(record["evidence"])
    stack.agent_connected_first_time()
    ready = [
        iso_ms(line.split()[0])
        for line in stack.logs("openclaw-gateway", timestamps=True)
        if "[gateway] ready" in line
    ]
    assert len(ready) >= 2
    assert agent_started < ready[-1], "identity-init must have started before the gateway was back"
    # The sidecar shares the gateway's network namespace; compose restarted it with the gateway, and it
    # came back on its own (same container, restarted) and acted.
    assert stack.container_id("pairing-sidecar") == sidecar
    assert record["timeMs"] > ready[-1]
