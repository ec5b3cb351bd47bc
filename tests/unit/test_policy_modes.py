"""Modes ip and dev-approve-all as tables (strict is in test_policy_strict.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest
from pairing_fixtures import NOW, A, B, C, policy, request, workload

from sidecar.gateway.models import PairedDevice, PendingRequest
from sidecar.policy import LADDERS, Action, History, decide
from sidecar.settings import Mode, PolicySettings
from sidecar.sources.workloads import Workload

START = History(started_ms=NOW - 1_000)
IP = policy(Mode.IP)
DEV = policy(Mode.DEV_APPROVE_ALL)
ANON = workload("anon", None)  # labelled, publishes no identity: what mode ip is for


@dataclass(frozen=True)
class Row:
    id: str
    settings: PolicySettings
    action: Action
    check: str
    reason: str
    req: PendingRequest = field(default_factory=request)
    workloads: tuple[Workload, ...] = (ANON,)
    paired: Mapping[str, PairedDevice] = field(default_factory=dict)
    history: History = START


ROWS = [
    # --- mode ip: the address decides, the key is not proven ---
    Row(
        "ip: one labelled container",
        IP,
        Action.APPROVE,
        "all-passed",
        "all 9 checks passed for container anon",
    ),
    Row("ip: silent still skipped", IP, Action.IGNORE, "silent", "silent request", req=request(silent=True)),
    Row(
        "ip: no remoteIp", IP, Action.IGNORE, "ip-match", "this request has none", req=request(remote_ip=None)
    ),
    Row(
        "ip: gateway address",
        IP,
        Action.IGNORE,
        "ip-match",
        "is the gateway address of network demo_default",
        req=request(remote_ip="172.18.0.1"),
    ),
    Row(
        "ip: unknown address", IP, Action.IGNORE, "ip-match", "not ours", req=request(remote_ip="172.18.0.99")
    ),
    Row(
        "ip: unlabelled container at the address",
        IP,
        Action.IGNORE,
        "ip-match",
        "has address 172.18.0.5 but is not labelled",
        workloads=(workload("anon", None, labels={}),),
    ),
    Row(
        "ip: two labelled containers share the address",
        IP,
        Action.IGNORE,
        "ip-match",
        "belongs to 2 labelled containers",
        workloads=(ANON, workload("twin", None)),
    ),
    Row(
        "ip: container publishes another identity",
        IP,
        Action.REJECT,
        "ip-match",
        "container agent publishes deviceId",
        workloads=(workload("agent", B),),
    ),
    Row(
        "ip: container publishes the same identity",
        IP,
        Action.APPROVE,
        "all-passed",
        "checks passed",
        workloads=(workload("agent", A),),
    ),
    Row(
        "ip: allowance still applies",
        IP,
        Action.REJECT,
        "role-scope",
        "operator.pairing are not allowed",
        req=request(scopes=("operator.pairing",)),
    ),
    Row(
        "ip: repair still needs pairing",
        IP,
        Action.REJECT,
        "repair",
        "not paired",
        req=request(is_repair=True),
    ),
    Row(
        "ip: rate limit still applies",
        IP,
        Action.IGNORE,
        "rate-limit",
        "limit 3",
        history=START.with_approval(ANON.id, NOW).with_approval(ANON.id, NOW).with_approval(ANON.id, NOW),
    ),
    Row(
        "ip: churn still applies",
        IP,
        Action.IGNORE,
        "churn",
        "held back",
        history=START.with_seen(request(request_id="x1", ts=1), NOW)
        .with_seen(request(request_id="x2", ts=2), NOW)
        .with_seen(request(request_id="x3", ts=3), NOW)
        .with_seen(request(request_id="x4", ts=4), NOW),
    ),
    # --- dev-approve-all: anything on the project networks, time-boxed and capped ---
    Row(
        "dev: unlabelled project container",
        DEV,
        Action.APPROVE,
        "all-passed",
        "all 8 checks passed for container anon",
        req=request(C),
        workloads=(workload("anon", None, labels={}),),
    ),
    Row("dev: expired still skipped", DEV, Action.IGNORE, "expired", "TTL", req=request(ts=NOW - 400_000)),
    Row(
        "dev: time box over",
        DEV,
        Action.IGNORE,
        "dev-window",
        "time box of 600 s after start is over",
        history=History(started_ms=NOW - 600_001),
    ),
    Row(
        "dev: cap reached",
        DEV,
        Action.IGNORE,
        "dev-cap",
        "cap of 20 approvals reached",
        history=History(started_ms=NOW, approved_total=20),
    ),
    Row("dev: no remoteIp", DEV, Action.IGNORE, "dev-network", "has none", req=request(remote_ip=None)),
    Row(
        "dev: unlabelled container of no project on a project network",
        DEV,
        Action.APPROVE,
        "all-passed",
        "all 8 checks passed for container anon",
        workloads=(workload("anon", None, labels={}, project=None),),
    ),
    Row(
        "dev: the network decides, not the compose project label",
        DEV,
        Action.APPROVE,
        "all-passed",
        "checks passed for container anon",
        workloads=(workload("anon", None, labels={}, project="elsewhere"),),
    ),
    Row(
        "dev: address on a network outside the project",
        DEV,
        Action.IGNORE,
        "dev-network",
        "is not the address of a running container on a network of demo",
        workloads=(workload("anon", None, labels={}, project_networks=frozenset()),),
    ),
    Row(
        "dev: a labelled project container, but its address is on another network",
        DEV,
        Action.IGNORE,
        "dev-network",
        "is not the address of a running container on a network of demo",
        workloads=(
            workload(
                "anon",
                None,
                ip="",
                ips={"demo_default": "172.18.0.9", "other_net": "172.18.0.5"},
                project_networks=frozenset({"demo_default"}),
            ),
        ),
    ),
    Row(
        "dev: stopped container",
        DEV,
        Action.IGNORE,
        "dev-network",
        "is not the address of a running container",
        workloads=(workload("anon", None, running=False),),
    ),
    Row(
        "dev: gateway address",
        DEV,
        Action.IGNORE,
        "dev-network",
        "gateway address",
        req=request(remote_ip="172.18.0.1"),
    ),
    Row(
        "dev: a project network's gateway, even when a container claims that address",
        DEV,
        Action.IGNORE,
        "dev-network",
        "is the gateway address of network demo_default",
        req=request(remote_ip="172.18.0.1"),
        workloads=(workload("anon", None, "172.18.0.1", labels={}),),
    ),
    Row(
        "dev: node role still needs config",
        DEV,
        Action.REJECT,
        "privileged",
        "allow_node_role",
        req=request(role="node", roles=("node",)),
    ),
    Row(
        "dev: admin with config",
        policy(Mode.DEV_APPROVE_ALL, allow_admin_scope=True),
        Action.APPROVE,
        "all-passed",
        "checks passed",
        req=request(scopes=("operator.admin",)),
    ),
    Row(
        "dev: any scope without label",
        DEV,
        Action.APPROVE,
        "all-passed",
        "checks passed",
        req=request(scopes=("operator.pairing", "operator.approvals")),
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_mode_ladders(row: Row) -> None:
    decision = decide(row.req, row.workloads, row.paired, row.settings, row.history, NOW)
    assert (decision.action, decision.check) == (row.action, row.check), decision.reason
    assert row.reason in decision.reason


@pytest.mark.parametrize("mode", [Mode.IP, Mode.DEV_APPROVE_ALL])
def test_every_check_of_the_mode_has_a_row(mode: Mode) -> None:
    checks = {c.name for c in LADDERS[mode]} - {"silent", "expired", "resolved", "superseded"}
    covered = {r.check for r in ROWS if r.settings.mode is mode}
    assert checks | {"all-passed"} <= covered


def test_ip_mode_reason_says_it_is_weaker() -> None:
    d = decide(request(), (ANON,), {}, IP, START, NOW)
    assert any("the key is not proven" in c["reason"] for c in d.evidence["checksPassed"])


def test_dev_window_counts_from_history_start() -> None:
    """A History without a start (0) means the time box is long over: fail closed."""
    d = decide(request(), (ANON,), {}, DEV, History(), NOW)
    assert (d.action, d.check) == (Action.IGNORE, "dev-window")


def test_dev_network_names_the_project_network_not_the_label() -> None:
    both = workload(
        "anon",
        None,
        ip="",
        labels={},
        project=None,
        ips={"elsewhere": "10.9.0.7", "demo_default": "172.18.0.5"},
        project_networks=frozenset({"demo_default"}),
    )
    d = decide(request(C), (both,), {}, DEV, START, NOW)
    assert d.action is Action.APPROVE
    assert any("on project network demo_default" in c["reason"] for c in d.evidence["checksPassed"])
    d = decide(request(C, remote_ip="10.9.0.7"), (both,), {}, DEV, START, NOW)
    assert (d.action, d.check) == (Action.IGNORE, "dev-network")
