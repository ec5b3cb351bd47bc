"""The node capability ladder (sidecar/policy/nodes.py): same attribution as devices, plus commands."""

from __future__ import annotations

from typing import Any

import pytest
from pairing_fixtures import NOW, A, B, paired, policy, workload

from sidecar.gateway.node_records import NodeRequest
from sidecar.policy import Action, History
from sidecar.policy.nodes import decide_node
from sidecar.settings import Mode

NODE_LABELS = {"openclaw.pairing.roles": "node", "openclaw.pairing.scopes": ""}
ORDINARY = ("canvas.present", "camera.snap")
ADMIN = ("system.run", "system.which")


def node(**kw: Any) -> NodeRequest:
    base: dict[str, Any] = dict(
        request_id="node-req-1", node_id=A.device_id, ts=NOW - 1000, commands=ORDINARY, remote_ip="172.18.0.5"
    )
    base.update(kw)
    return NodeRequest(**base)


def agent(commands: str | None = "*", **kw: Any) -> Any:
    labels = dict(NODE_LABELS)
    if commands is not None:
        labels["openclaw.pairing.node-commands"] = commands
    return workload(extra_labels=labels, **kw)


def paired_node(**kw: Any) -> Any:
    return paired(A, role="node", roles=("node",), scopes=(), **kw)


def decide(n: NodeRequest, workloads: Any = None, devices: Any = None, **settings: Any) -> Any:
    s = policy(**{"allow_node_role": True, **settings})
    devices = {A.device_id: paired_node()} if devices is None else devices
    return decide_node(n, workloads or (agent(),), devices, s, History(started_ms=NOW - 60_000), NOW)


def test_a_labelled_node_with_ordinary_commands_is_approved() -> None:
    d = decide(node())
    assert (d.action, d.check) == (Action.APPROVE, "all-passed"), d.reason
    assert d.evidence["kind"] == "node"
    assert [c["check"] for c in d.evidence["checksPassed"]] == [
        "expired",
        "resolved",
        "node-paired",
        "identity",
        "remote-ip",
        "role-scope",
        "node-commands",
        "rate-limit",
    ]


def test_admin_sensitive_commands_need_the_sidecar_setting_too() -> None:
    refused = decide(node(commands=ORDINARY + ADMIN))
    assert (refused.action, refused.check) == (Action.REJECT, "node-commands")
    assert "allow_node_admin_commands" in refused.reason
    assert "system.run" in refused.reason
    ok = decide(node(commands=ORDINARY + ADMIN), allow_node_admin_commands=True)
    assert ok.action is Action.APPROVE


def test_a_surface_the_gateway_calls_admin_sensitive_needs_the_setting_too() -> None:
    """requiredApproveScopes with operator.admin (e.g. a command a newer release made admin-sensitive,
    not in our list): the same two-key rule, found by tests/reliability/test_bad_input_nodes.py."""
    gated = node(
        commands=("canvas.present", "future.exec"), required_scopes=("operator.pairing", "operator.admin")
    )
    d = decide(gated)
    assert (d.action, d.check) == (Action.REJECT, "node-commands"), d.reason
    assert "requiredApproveScopes" in d.reason
    d = decide(gated, allow_node_admin_commands=True)
    assert d.action is Action.APPROVE, d.reason


def test_the_setting_alone_does_not_widen_the_label() -> None:
    d = decide(node(commands=ADMIN), (agent("system.which"),), allow_node_admin_commands=True)
    assert (d.action, d.check) == (Action.REJECT, "node-commands")
    assert (
        "system.run are not allowed for container agent by label openclaw.pairing.node-commands" in d.reason
    )


@pytest.mark.parametrize("label", [None, ""])
def test_without_the_label_only_a_commandless_surface_passes(label: str | None) -> None:
    assert decide(node(), (agent(label),)).check == "node-commands"
    assert decide(node(commands=()), (agent(label),)).action is Action.APPROVE


def test_the_device_must_be_paired_for_role_node_first() -> None:
    assert decide(node(), devices={}).check == "node-paired"
    assert decide(node(), devices={A.device_id: paired(A)}).check == "node-paired"
    assert decide(node(), devices={}).action is Action.IGNORE


def test_the_paired_key_must_be_the_containers_published_key() -> None:
    d = decide(node(), (agent(who=B),))
    assert (d.action, d.check) == (Action.REJECT, "identity")


def test_the_surface_must_come_from_the_containers_address() -> None:
    d = decide(node(remote_ip="172.18.0.9"))
    assert (d.action, d.check) == (Action.REJECT, "remote-ip")


def test_the_container_must_be_allowed_the_node_role_by_both_keys() -> None:
    assert decide(node(), allow_node_role=False).check == "role-scope"
    assert (
        decide(node(), (workload(extra_labels={"openclaw.pairing.node-commands": "*"}),)).check
        == "role-scope"
    )


def test_unlabelled_is_not_ours_and_other_modes_do_not_approve_surfaces() -> None:
    d = decide(node(), (workload(labels={}, extra_labels=NODE_LABELS),))
    assert d.action is Action.IGNORE
    assert decide(node(), mode=Mode.IP, allow_node_role=False).check == "mode"


def test_expired_and_resolved_are_skipped() -> None:
    assert decide(node(ts=NOW - 400_000)).check == "expired"
    s = policy(allow_node_role=True)
    history = History(started_ms=NOW).with_resolved("node-req-1", "approved", NOW)
    d = decide_node(node(), (agent(),), {A.device_id: paired_node()}, s, history, NOW)
    assert d.check == "resolved"


def test_required_scopes_follow_openclaw() -> None:
    assert node(commands=()).approve_scopes() == ("operator.pairing",)
    assert node().approve_scopes() == ("operator.pairing", "operator.write")
    assert node(commands=ADMIN).approve_scopes() == ("operator.pairing", "operator.admin")
    assert node(required_scopes=("operator.pairing",)).approve_scopes() == ("operator.pairing",)


def test_a_real_2026_9_6_entry_parses() -> None:
    entry = {
        "requestId": "3159dbbf-1780-4b37-aa9a-2ed2b5766b50",
        "nodeId": A.device_id,
        "clientId": "node-host",
        "clientMode": "node",
        "displayName": "measure-node",
        "platform": "linux",
        "version": "2026.9.6",
        "deviceFamily": "Linux",
        "caps": ["browser", "system"],
        "commands": ["browser.proxy", "system.run"],
        "requiredApproveScopes": ["operator.pairing", "operator.admin"],
        "remoteIp": "10.213.0.2",
        "ts": 1796530888572,
    }
    n = NodeRequest.from_json(entry)
    assert n.admin_commands == ("browser.proxy", "system.run")
    assert n.to_json() == entry
