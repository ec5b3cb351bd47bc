"""The policy's small pure helpers: History (rate limiter and memory), IP canonicalisation, scope cover."""

from __future__ import annotations

import pytest
from pairing_fixtures import NOW, A, B, request, workload

from sidecar.policy import Action, Decision, History
from sidecar.policy.allowance import uncovered
from sidecar.policy.net import gateway_networks, normalize_ip, workload_ips


def test_history_is_an_immutable_value() -> None:
    h = History(started_ms=NOW)
    h2 = h.with_approval("w1", NOW)
    assert h.approvals == ()
    assert h2.approved_total == 1
    assert h.with_seen(request(), NOW).with_seen(request(), NOW + 5).seen == (
        h.with_seen(request(), NOW).seen
    ), "seeing the same request twice records it once"


def test_approvals_are_counted_per_container_and_globally_within_the_window() -> None:
    h = History().with_approval("w1", NOW - 70_000).with_approval("w1", NOW - 10).with_approval("w2", NOW)
    assert h.approvals_since(NOW - 60_000) == 2
    assert h.approvals_since(NOW - 60_000, "w1") == 1
    assert h.approved_total == 3


def test_pruning_forgets_old_entries_but_not_the_total() -> None:
    h = (
        History()
        .with_approval("w1", NOW - 700_000)
        .with_seen(request(), NOW - 700_000)
        .with_resolved("r", "approved", NOW - 700_000)
    )
    p = h.pruned(NOW, 600_000)
    assert (p.approvals, p.seen, p.resolved, p.approved_total) == ((), (), (), 1)


def test_superseded_means_a_newer_request_of_the_same_device() -> None:
    old, new = request(request_id="old", ts=1), request(request_id="new", ts=2)
    other_device = request(B, request_id="b", ts=3)
    h = History().with_seen(old, NOW).with_seen(new, NOW).with_seen(other_device, NOW)
    assert h.newer_request(old) == "new"
    assert h.newer_request(new) is None


def test_resolution_keeps_the_first_report() -> None:
    h = History().with_resolved("r", "rejected", NOW).with_resolved("r", "approved", NOW + 1)
    assert h.resolution("r") == "rejected"
    assert h.resolution("other") is None


def test_request_ids_since_is_per_device() -> None:
    h = History().with_seen(request(request_id="a1"), NOW).with_seen(request(B, request_id="b1"), NOW)
    assert h.request_ids_since(A.device_id, NOW - 1) == {"a1"}


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("172.18.0.5", "172.18.0.5"),
        (" 172.18.0.5 ", "172.18.0.5"),
        ("::ffff:172.18.0.5", "172.18.0.5"),
        ("[fd00::1]", "fd00::1"),
        ("FD00:0::1", "fd00::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("bogus", None),
        ("", None),
    ],
)
def test_normalize_ip(raw: str, canonical: str | None) -> None:
    assert normalize_ip(raw) == canonical


def test_workload_addresses_and_gateways_are_canonical() -> None:
    w = workload(ips={"n1": "::ffff:10.0.0.2", "n2": ""}, network_gateways={"n1": "10.0.0.1", "n2": ""})
    assert workload_ips(w) == {"10.0.0.2": "n1"}
    assert gateway_networks([w]) == {"10.0.0.1": "n1"}


@pytest.mark.parametrize(
    ("granted", "asked", "missing"),
    [
        ({"operator.read"}, {"operator.read"}, set()),
        ({"operator.write"}, {"operator.read"}, set()),
        ({"operator.read"}, {"operator.write"}, {"operator.write"}),
        ({"operator.admin"}, {"operator.pairing", "operator.talk"}, set()),
        (set(), {"operator.read"}, {"operator.read"}),
    ],
)
def test_uncovered_scopes(granted: set[str], asked: set[str], missing: set[str]) -> None:
    assert uncovered(granted, asked) == missing


@pytest.mark.parametrize(
    ("action", "trusted", "recorded"),
    [
        (Action.APPROVE, True, "approve"),
        (Action.APPROVE, False, "would-approve"),
        (Action.REJECT, False, "would-reject"),
        (Action.IGNORE, False, "ignore"),
    ],
)
def test_audit_action(action: Action, trusted: bool, recorded: str) -> None:
    assert Decision(action, "c", "r").audit_action(trusted) == recorded
