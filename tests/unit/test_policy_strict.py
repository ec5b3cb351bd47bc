"""Mode strict, as a table: every check of the ladder, each way it can decide, and the reason it gives.

Each row names the check that must decide (``all-passed`` for an approval) and a fragment of the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import pytest
from pairing_fixtures import NOW, PROJECT, A, B, C, paired, policy, request, workload

from sidecar.gateway.models import PairedDevice, PendingRequest
from sidecar.policy import LADDERS, Action, History, decide
from sidecar.settings import Mode, PolicySettings
from sidecar.sources.workloads import Workload

START = History(started_ms=NOW - 1_000)
OTHER = workload("other", B, "172.18.0.6")


def approvals(n: int, workload_id: str, at_ms: int = NOW - 1_000) -> History:
    h = START
    for _ in range(n):
        h = h.with_approval(workload_id, at_ms)
    return h


@dataclass(frozen=True)
class Row:
    id: str
    action: Action
    check: str
    reason: str
    req: PendingRequest = field(default_factory=request)
    workloads: tuple[Workload, ...] = (workload(), OTHER)
    paired: Mapping[str, PairedDevice] = field(default_factory=dict)
    history: History = START
    settings: PolicySettings = field(default_factory=policy)


AGENT = workload()
ROWS = [
    Row("happy path", Action.APPROVE, "all-passed", "all 10 checks passed for container agent"),
    # 1. skip silent, expired, resolved, superseded
    Row("silent", Action.IGNORE, "silent", "silent request", req=request(silent=True)),
    Row("expired", Action.IGNORE, "expired", "300 s TTL", req=request(ts=NOW - 300_001)),
    Row(
        "TTL boundary is inclusive",
        Action.APPROVE,
        "all-passed",
        "checks passed",
        req=request(ts=NOW - 300_000),
    ),
    Row(
        "refreshedAtMs keeps it alive",
        Action.APPROVE,
        "all-passed",
        "checks passed",
        req=request(ts=NOW - 400_000, extra={"refreshedAtMs": NOW - 10_000}),
    ),
    Row(
        "resolved",
        Action.IGNORE,
        "resolved",
        "already resolved (approved)",
        history=START.with_resolved("req-" + A.device_id[:6], "approved", NOW),
    ),
    Row(
        "superseded",
        Action.IGNORE,
        "superseded",
        "superseded by the newer request req-new",
        history=START.with_seen(request(request_id="req-new", ts=NOW - 10), NOW),
    ),
    # 2. identity
    Row(
        "unlabelled container is not ours",
        Action.IGNORE,
        "identity",
        "container agent publishes this deviceId but is not labelled openclaw.pairing.auto-approve=true",
        workloads=(workload(labels={}),),
    ),
    Row(
        "opt-in value must be true",
        Action.IGNORE,
        "identity",
        "is not labelled",
        workloads=(workload(labels={"openclaw.pairing.auto-approve": "false"}),),
    ),
    Row(
        "opt-in value is case-insensitive",
        Action.APPROVE,
        "all-passed",
        "checks passed",
        workloads=(workload(labels={"openclaw.pairing.auto-approve": " TRUE "}),),
    ),
    Row(
        "other compose project is not ours",
        Action.IGNORE,
        "identity",
        "is in compose project 'elsewhere', not 'demo'",
        workloads=(workload(project="elsewhere"),),
    ),
    Row(
        "stopped container is not ours",
        Action.IGNORE,
        "identity",
        "is not running",
        workloads=(workload(running=False),),
    ),
    Row(
        "unknown device and address",
        Action.IGNORE,
        "identity",
        "not ours: no labelled running container publishes deviceId",
        req=request(C, remote_ip="10.9.9.9"),
    ),
    Row(
        "labelled container, different key → reject",
        Action.REJECT,
        "identity",
        "request from container agent (172.18.0.5) carries deviceId",
        req=request(C),
    ),
    Row(
        "different key from a 2026.7 agent whose identity was written to SQLite → reject, naming the cause",
        Action.REJECT,
        "identity",
        "the agent created its own key: its OpenClaw release 2026.7.35 (image openclaw-local:2026.7.35) "
        "reads identity/device.json, identity-init wrote state/openclaw.sqlite for OPENCLAW_VERSION=2026.9.6 "
        "— set OPENCLAW_VERSION=2026.7.35",
        req=request(C),
        workloads=(
            workload(who=replace(A, storage="sqlite", release="2026.9.6"), image="openclaw-local:2026.7.35"),
        ),
    ),
    Row(
        "different key, storage matches the release → reject without a storage story",
        Action.REJECT,
        "identity",
        "which is not the identity the container publishes (deviceId " + A.device_id[:12] + "…)",
        req=request(C),
        workloads=(
            workload(
                who=replace(A, storage="sqlite", release="2026.9.6"),
                extra_labels={"org.opencontainers.image.version": "2026.9.6"},
            ),
        ),
    ),
    Row(
        "labelled container without readable identity → hold",
        Action.IGNORE,
        "identity",
        "publishes no readable identity (device.pub.json missing)",
        workloads=(workload(who=None, identity_error="device.pub.json missing"),),
    ),
    Row(
        "copied identity in two containers",
        Action.REJECT,
        "identity",
        "published by 2 labelled containers (agent, twin)",
        workloads=(AGENT, workload("twin", A, "172.18.0.9")),
    ),
    Row(
        "same address on two networks, no identity match",
        Action.IGNORE,
        "identity",
        "belongs to 2 labelled containers",
        req=request(C),
        workloads=(AGENT, workload("twin", B, "172.18.0.5")),
    ),
    Row(
        "unparseable publicKey",
        Action.IGNORE,
        "identity",
        "is not an Ed25519 key",
        req=request(public_key="not-a-key"),
    ),
    # 3. remote IP
    Row(
        "identity of one container, address of another",
        Action.REJECT,
        "remote-ip",
        "remoteIp 172.18.0.6 is not an address of container agent",
        req=request(remote_ip="172.18.0.6"),
    ),
    Row(
        "bridge gateway address (published port)",
        Action.REJECT,
        "remote-ip",
        "remoteIp 172.18.0.1 is the gateway address of network demo_default",
        req=request(remote_ip="172.18.0.1"),
    ),
    Row(
        "no remoteIp (loopback peer): no container address proven, left to a human",
        Action.IGNORE,
        "remote-ip",
        "no remoteIp: the gateway saw a loopback peer",
        req=request(remote_ip=None),
    ),
    Row(
        "IPv4-mapped IPv6",
        Action.APPROVE,
        "all-passed",
        "checks passed",
        req=request(remote_ip="::ffff:172.18.0.5"),
    ),
    Row(
        "remoteIp not an IP",
        Action.REJECT,
        "remote-ip",
        "is not an IP address",
        req=request(remote_ip="bogus"),
    ),
    # 4. role and scopes
    Row(
        "node role needs config",
        Action.REJECT,
        "role-scope",
        "role node needs allow_node_role in sidecar config",
        req=request(role="node", roles=("node",), scopes=()),
    ),
    Row(
        "a label alone cannot grant node",
        Action.REJECT,
        "role-scope",
        "a label cannot grant it",
        req=request(role="node", roles=("node",), scopes=()),
        workloads=(workload(extra_labels={"openclaw.pairing.roles": "operator,node"}),),
    ),
    Row(
        "node with config and label",
        Action.APPROVE,
        "all-passed",
        "checks passed",
        req=request(role="node", roles=("node",), scopes=()),
        workloads=(workload(extra_labels={"openclaw.pairing.roles": "node"}),),
        settings=policy(allow_node_role=True),
    ),
    Row(
        "node with config but no label",
        Action.REJECT,
        "role-scope",
        "role node is not allowed for container agent (allowed: operator)",
        req=request(role="node", roles=("node",), scopes=()),
        settings=policy(allow_node_role=True),
    ),
    Row(
        "admin needs config even with the label",
        Action.REJECT,
        "role-scope",
        "scope operator.admin needs allow_admin_scope",
        req=request(scopes=("operator.admin",)),
        workloads=(workload(extra_labels={"openclaw.pairing.scopes": "operator.admin"}),),
    ),
    Row(
        "admin with config and label",
        Action.APPROVE,
        "all-passed",
        "checks passed",
        req=request(scopes=("operator.admin", "operator.pairing")),
        workloads=(workload(extra_labels={"openclaw.pairing.scopes": "operator.admin"}),),
        settings=policy(allow_admin_scope=True),
    ),
    Row(
        "scope outside the default allowance",
        Action.REJECT,
        "role-scope",
        "scopes operator.pairing are not allowed for container agent "
        "(allowed: operator.read, operator.write)",
        req=request(scopes=("operator.read", "operator.pairing")),
    ),
    Row(
        "scope outside the label allowance",
        Action.REJECT,
        "role-scope",
        "scopes operator.write are not allowed",
        workloads=(workload(extra_labels={"openclaw.pairing.scopes": "operator.read"}),),
    ),
    Row(
        "write implies read",
        Action.APPROVE,
        "all-passed",
        "checks passed",
        req=request(scopes=("operator.read",)),
        workloads=(workload(extra_labels={"openclaw.pairing.scopes": "operator.write"}),),
    ),
    # 5. repair / upgrade
    Row("isRepair but not paired", Action.REJECT, "repair", "is not paired", req=request(is_repair=True)),
    Row(
        "paired with another key",
        Action.REJECT,
        "repair",
        "paired with a different public key",
        req=request(is_repair=True),
        paired={A.device_id: paired(public_key=B.public_key)},
    ),
    Row(
        "scope upgrade within allowance",
        Action.APPROVE,
        "all-passed",
        "checks passed",
        req=request(is_repair=True),
        paired={A.device_id: paired()},
    ),
    Row(
        "paired with the same key, role and scopes: nothing to approve",
        Action.IGNORE,
        "repair",
        "already paired with the same public key, role and scopes: nothing to approve",
        req=request(is_repair=True, scopes=("operator.read",)),
        paired={A.device_id: paired()},
    ),
    Row(
        "nothing new, isRepair unset: still nothing to approve",
        Action.IGNORE,
        "repair",
        "already paired with the same public key",
        req=request(scopes=("operator.read",)),
        paired={A.device_id: paired()},
    ),
    Row(
        "scopes covered by the pairing (write covers read): nothing to approve",
        Action.IGNORE,
        "repair",
        "nothing to approve",
        req=request(is_repair=True, scopes=("operator.read",)),
        paired={A.device_id: paired(scopes=("operator.write",))},
    ),
    Row(
        "no scopes asked of a paired device: nothing to approve",
        Action.IGNORE,
        "repair",
        "nothing to approve",
        req=request(is_repair=True, scopes=()),
        paired={A.device_id: paired()},
    ),
    Row(
        "metadata upgrade alone is still approved",
        Action.APPROVE,
        "all-passed",
        "checks passed",
        req=request(is_repair=True, scopes=("operator.read",), platform="darwin"),
        paired={A.device_id: paired()},
    ),
    Row(
        "nothing new but another key: still a key change for a human",
        Action.REJECT,
        "repair",
        "paired with a different public key",
        req=request(is_repair=True, scopes=("operator.read",)),
        paired={A.device_id: paired(public_key=B.public_key)},
    ),
    Row(
        "scope upgrade beyond allowance",
        Action.REJECT,
        "role-scope",
        "operator.approvals",
        req=request(is_repair=True, scopes=("operator.approvals",)),
        paired={A.device_id: paired()},
    ),
    # 6. churn and rate limits
    Row(
        "churning device",
        Action.IGNORE,
        "churn",
        "opened 5 pairing requests in 60 s (more than 4): held back",
        history=(
            START.with_seen(request(request_id="r1", ts=1), NOW - 5_000)
            .with_seen(request(request_id="r2", ts=2), NOW - 4_000)
            .with_seen(request(request_id="r3", ts=3), NOW - 3_000)
            .with_seen(request(request_id="r4", ts=4), NOW - 2_000)
        ),
    ),
    Row(
        "old request ids do not count as churn",
        Action.APPROVE,
        "all-passed",
        "checks passed",
        history=(
            START.with_seen(request(request_id="r1", ts=1), NOW - 90_000)
            .with_seen(request(request_id="r2", ts=2), NOW - 90_000)
            .with_seen(request(request_id="r3", ts=3), NOW - 90_000)
            .with_seen(request(request_id="r4", ts=4), NOW - 90_000)
        ),
    ),
    Row(
        "per-container limit",
        Action.IGNORE,
        "rate-limit",
        "container agent had 3 approvals in 60 s (limit 3)",
        history=approvals(3, AGENT.id),
    ),
    Row(
        "global budget",
        Action.IGNORE,
        "rate-limit",
        "reached the global budget (30)",
        history=approvals(30, "someone-else"),
    ),
    Row(
        "window slides",
        Action.APPROVE,
        "all-passed",
        "checks passed",
        history=approvals(3, AGENT.id, NOW - 61_000),
    ),
    # settings that change the outcome
    Row(
        "on_check_failure: ignore",
        Action.IGNORE,
        "identity",
        "carries deviceId",
        req=request(C),
        settings=policy(on_check_failure="ignore"),
    ),
    Row(
        "project '*' accepts any project",
        Action.APPROVE,
        "all-passed",
        "checks passed",
        workloads=(workload(project="elsewhere"),),
        settings=PolicySettings(project=None, project_auto=False),
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_strict_ladder(row: Row) -> None:
    decision = decide(row.req, row.workloads, row.paired, row.settings, row.history, NOW)
    assert (decision.action, decision.check) == (row.action, row.check), decision.reason
    assert row.reason in decision.reason


def test_every_strict_check_has_a_row() -> None:
    checks = {c.name for c in LADDERS[Mode.STRICT]} | {"all-passed"}
    assert checks <= {r.check for r in ROWS}


def test_approval_evidence_names_container_labels_ips_and_checks() -> None:
    d = decide(request(), (AGENT,), {}, policy(), START, NOW)
    ev = d.evidence
    assert d.workload == AGENT
    assert ev["container"]["containerName"] == "agent"
    assert ev["container"]["imageId"] == AGENT.image_id
    assert ev["container"]["ips"] == {f"{PROJECT}_default": "172.18.0.5"}
    assert ev["container"]["matchedLabels"] == {"openclaw.pairing.auto-approve": "true"}
    assert [c["check"] for c in ev["checksPassed"]] == [c.name for c in LADDERS[Mode.STRICT]]
    assert ev["request"]["deviceId"] == A.device_id
    assert ev["details"]["allowedScopes"] == ["operator.read", "operator.write"]


def test_upgrade_kinds_are_recorded() -> None:
    req = request(is_repair=True, roles=("operator",), platform="darwin")
    d = decide(req, (AGENT,), {A.device_id: paired()}, policy(), START, NOW)
    assert d.action is Action.APPROVE
    assert d.evidence["details"]["upgrades"] == ["scope-upgrade", "metadata-upgrade"]


def test_holds_are_transient_and_verdicts_recorded() -> None:
    held = decide(request(), (AGENT,), {}, policy(), approvals(3, AGENT.id), NOW)
    assert held.transient
    assert held.evidence["verdict"] == "hold"
    rejected = decide(request(C), (AGENT,), {}, policy(), START, NOW)
    assert not rejected.transient
    assert rejected.evidence["verdict"] == "fail"


def test_decide_is_pure() -> None:
    first = decide(request(), (AGENT, OTHER), {}, policy(), START, NOW)
    assert first == decide(request(), (AGENT, OTHER), {}, policy(), START, NOW)
