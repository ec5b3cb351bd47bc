"""A burst of N requests costs O(N), not O(N²): the policy's lookups are built once per snapshot and
History updates and queries do not scan the whole history (bench/simulate.py measures the cost per request
from 10 to 10,000; here only the structure is asserted, never a time)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pairing_fixtures import NOW, A, B, C, policy, request, workload

from sidecar.approver import memory
from sidecar.identity.keys import DeviceIdentity
from sidecar.policy import Action, History, decide
from sidecar.policy import snapshot as snap


def fleet(n: int) -> tuple[list, list]:  # type: ignore[type-arg]
    keys = [DeviceIdentity.from_seed(i.to_bytes(2, "big") * 16).public() for i in range(n)]
    workloads = [
        replace(workload(f"a{i}", k, f"10.1.{i // 250}.{i % 250 + 2}"), id=f"{i:064x}")
        for i, k in enumerate(keys)
    ]
    requests = [
        request(k, request_id=f"r{i}", remote_ip=f"10.1.{i // 250}.{i % 250 + 2}") for i, k in enumerate(keys)
    ]
    return workloads, requests


def test_one_index_per_snapshot_for_all_its_decisions(monkeypatch: pytest.MonkeyPatch) -> None:
    built = []
    real = snap._build
    monkeypatch.setattr(snap, "_build", lambda w, s: built.append(1) or real(w, s))
    monkeypatch.setattr(snap, "_last", None)
    workloads, requests = fleet(60)
    snapshot = tuple(workloads)
    decisions = [decide(r, snapshot, {}, policy(), History(), NOW) for r in requests]
    assert [d.action for d in decisions] == [Action.APPROVE] * 60
    assert [d.workload.name for d in decisions if d.workload] == [w.name for w in workloads]
    assert len(built) == 1
    decide(requests[0], tuple(workloads), {}, policy(), History(), NOW)  # an equal but new snapshot
    decide(requests[0], snapshot, {}, replace(policy(), project="other"), History(), NOW)  # other settings
    assert len(built) == 3


def test_index_answers_like_a_scan_for_near_misses() -> None:
    unlabelled = workload("stranger", B, "172.18.0.9", labels={})
    stopped = workload("stopped", C, "172.18.0.10", running=False)
    snapshot = (workload(), unlabelled, stopped)
    by_key = decide(request(B, remote_ip="172.18.0.77"), snapshot, {}, policy(), History(), NOW)
    assert "container stranger publishes this deviceId but is not labelled" in by_key.reason
    by_ip = decide(request(C, remote_ip="172.18.0.9"), snapshot, {}, policy(), History(), NOW)
    assert "container stranger has address 172.18.0.9 but is not labelled" in by_ip.reason  # first in order
    by_id = decide(request(C, remote_ip="172.18.0.99"), snapshot, {}, policy(), History(), NOW)
    assert "container stopped publishes this deviceId but is not running" in by_id.reason
    gone = decide(request(C, remote_ip="172.18.0.99"), (workload(),), {}, policy(), History(), NOW)
    assert gone.reason.startswith("not ours: no labelled running container")
    bridge = decide(request(A, remote_ip="172.18.0.1"), snapshot, {}, policy(), History(), NOW)
    assert bridge.action is Action.REJECT
    assert "gateway address of network demo_default" in bridge.reason


def test_history_values_stay_independent_when_they_share_a_log() -> None:
    h = History().with_seen(request(A, request_id="a1", ts=1), NOW)
    left = h.with_seen(request(A, request_id="a2", ts=2), NOW)
    right = h.with_seen(request(A, request_id="a3", ts=3), NOW + 1)  # forks: `left` appended first
    assert [s.request_id for s in left.seen] == ["a1", "a2"]
    assert [s.request_id for s in right.seen] == ["a1", "a3"]
    assert left.newer_request(request(A, request_id="a1", ts=1)) == "a2"
    assert right.newer_request(request(A, request_id="a1", ts=1)) == "a3"
    assert h.newer_request(request(A, request_id="a1", ts=1)) is None
    assert left.request_ids_since(A.device_id, 0) == {"a1", "a2"}
    assert h.with_resolved("a1", "approved", NOW).resolution("a1") == "approved"
    assert h.resolution("a1") is None
    assert left == History().with_seen(request(A, request_id="a1", ts=1), NOW).with_seen(
        request(A, request_id="a2", ts=2), NOW
    )


def test_pruning_moves_the_window_and_keeps_lookups_right() -> None:
    h = History()
    for i in range(10):
        h = h.with_seen(request(A, request_id=f"a{i}", ts=i), NOW + i * 1000).with_approval(
            "w", NOW + i * 1000
        )
        h = h.with_resolved(f"a{i}", "approved", NOW + i * 1000)
    p = h.pruned(NOW + 9000, 4000)
    assert [s.request_id for s in p.seen] == ["a5", "a6", "a7", "a8", "a9"]
    assert p.request_ids_since(A.device_id, 0) == {"a5", "a6", "a7", "a8", "a9"}
    assert p.resolution("a1") is None
    assert p.resolution("a6") == "approved"
    assert p.approvals_since(0) == 5
    assert p.approvals_since(0, "w") == 5
    assert p.approved_total == 10
    assert p.pruned(NOW + 9000, 4000) is p  # nothing older left: the same value
    assert (
        p.with_seen(request(A, request_id="a1", ts=99), NOW + 9500).newer_request(
            request(A, request_id="a9", ts=9)
        )
        == "a1"
    )
    clock_went_back = History().with_approval("w", NOW).with_approval("w", NOW - 5000)
    assert clock_went_back.approvals_since(NOW - 1000) == 1
    assert clock_went_back.pruned(NOW, 1000).approvals == (clock_went_back.approvals[0],)


def test_the_snapshot_digest_is_computed_once_per_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = memory._digest
    monkeypatch.setattr(memory, "_digest", lambda v: calls.append(1) or real(v))
    monkeypatch.setattr(memory, "_last_workloads", None)
    snapshot = (workload(), workload("b", B, "172.18.0.6"))
    first = memory.workloads_fingerprint(snapshot)
    assert memory.workloads_fingerprint(snapshot) == first
    assert len(calls) == 1
    assert memory.workloads_fingerprint(tuple(list(snapshot))) == first  # equal content, new object
    assert memory.workloads_fingerprint(list(snapshot)) == first
    assert len(calls) == 3
