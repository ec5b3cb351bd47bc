"""Zero-touch start (issue 12): `docker compose up -d` alone, and the agent works with no human step.

The shipped files (plus only tests/e2e/compose.ports.yml): identity-init pre-pairs the agent's device, the
sidecar approves that request (identity-init is labelled and publishes the key), the real node host is
admitted at its first connect, and the sidecar approves its command surface (node.pair.*). The real
`openclaw nodes status/list` in the gateway container is the oracle. Recreating the agent changes
nothing; a surface wider than the label is rejected with the reason in the audit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import ComposeStack, iso_ms, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.docker]
TIMEOUT = 120


def node_status(stack: ComposeStack, device: str) -> dict[str, Any] | None:
    nodes = stack.nodes("status").get("nodes") or []
    return next((n for n in nodes if n.get("nodeId") == device), None)


def surface_records(stack: ComposeStack, device: str, actions: set[str]) -> list[dict[str, Any]]:
    return [r for r in stack.audit_for(device_id=device, actions=actions) if r.get("kind") == "node"]


def test_compose_up_alone_connects_at_the_first_attempt_with_commands_approved(
    stack_factory: Callable[..., ComposeStack], record_property: pytest.RecordProperty
) -> None:
    stack = stack_factory()
    t0 = time.time()
    stack.compose("up", "-d", timeout=300)  # what a user types; no make up, no restart
    stack.agent_connected_first_time(TIMEOUT)
    device = stack.published_device_id()
    connected = [
        iso_ms(x.split()[0]) for x in stack.logs("agent", timestamps=True) if "gateway connected" in x
    ]
    record_property("compose_up_to_agent_connected_s", round(connected[0] / 1000 - t0, 1))

    device_record = stack.audit_for(device_id=device, actions={"approve"})[0]
    request_ts = device_record["evidence"]["request"]["ts"]
    record_property("prepair_request_to_approval_ms", device_record["timeMs"] - request_ts)
    init_log = stack.logs("identity-init")
    assert any("approved after" in line for line in init_log), init_log

    node = wait_for("the node's commands approved", lambda: surface_records(stack, device, {"approve"}),
                    TIMEOUT, 1.0, stack.diagnostics)[-1]  # fmt: skip
    record_property("surface_request_to_approval_ms", node["timeMs"] - node["evidence"]["request"]["ts"])
    status = wait_for(
        "openclaw nodes status: approved and connected",
        lambda: (s := node_status(stack, device)) and s.get("approvalState") == "approved" and s,
        60,
        1.0,
        stack.diagnostics,
    )
    assert status["connected"] is True
    assert status["paired"] is True
    assert set(status["commands"]) == set(node["evidence"]["request"]["commands"])
    listing = stack.nodes("list")
    assert device in str(listing), listing
    assert stack.pending() == []
    assert not any("awaiting operator approval" in line for line in stack.logs("agent")[-5:])

    # Recreating the agent changes nothing: no new request at either layer, same commands.
    audited = {(r.get("kind"), r["requestId"]) for r in stack.audit()}
    stack.compose("up", "-d", "--force-recreate", "agent", timeout=300)
    agent = stack.container_id("agent")
    assert agent
    wait_for("the recreated agent to connect",
             lambda: any("gateway connected" in x for x in stack.container_logs(agent)), TIMEOUT, 1.0,
             stack.diagnostics)  # fmt: skip
    time.sleep(5)
    assert not any("pairing required" in line for line in stack.container_logs(agent))
    assert {(r.get("kind"), r["requestId"]) for r in stack.audit()} == audited
    assert stack.pending() == []
    assert (node_status(stack, device) or {}).get("approvalState") == "approved"


def test_declared_commands_beyond_the_label_are_not_approved(
    stack_factory: Callable[..., ComposeStack], tmp_path: Path
) -> None:
    narrow = tmp_path / "narrow-label.yml"
    narrow.write_text(
        'services:\n  agent:\n    labels:\n      openclaw.pairing.node-commands: "canvas.present"\n'
    )
    stack = stack_factory(files=[narrow])
    stack.compose("up", "-d", timeout=300)
    stack.agent_connected_first_time(TIMEOUT)
    device = stack.published_device_id()
    rejected = wait_for("the surface rejected", lambda: surface_records(stack, device, {"reject"}), TIMEOUT,
                        1.0, stack.diagnostics)[-1]  # fmt: skip
    assert rejected["check"] == "node-commands"
    assert "are not allowed for container" in rejected["reason"]
    assert "openclaw.pairing.node-commands" in rejected["reason"]
    # Approved at most: the commandless surface of identity-init's pre-pair connect (OpenClaw 2026.9.6
    # opens one when a node-role device is admitted; nothing to run, within any label).
    approved = surface_records(stack, device, {"approve"})
    assert all(not r["evidence"]["request"]["commands"] for r in approved), approved
    status = node_status(stack, device) or {}
    assert not status.get("commands"), status
