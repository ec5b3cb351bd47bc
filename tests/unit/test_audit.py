"""The audit log: append-only JSONL, one self-contained record per decision, no secrets, would-*."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

from pairing_fixtures import NOW, A, policy, request, workload

from sidecar.approver.audit import AuditLog
from sidecar.policy import Action, Decision, History, decide


def approval() -> Decision:
    return decide(request(), (workload(),), {}, policy(), History(started_ms=NOW), NOW)


def record(
    log: AuditLog, decision: Decision, trusted: bool = True, outcome: str = "sent"
) -> dict[str, object]:
    return log.record(
        decision, now_ms=NOW, trusted=trusted, mode="strict", gateway_version="2026.9.6", outcome=outcome
    )


def test_file_is_appended_one_line_per_decision_and_private(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "decisions.jsonl"
    path.parent.mkdir()
    path.write_text('{"earlier":true}\n')
    os.chmod(path, 0o600)
    with AuditLog(str(path)) as log:
        record(log, approval())
        record(log, approval(), trusted=False)
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    assert json.loads(lines[0]) == {"earlier": True}
    assert [json.loads(line)["action"] for line in lines[1:]] == ["approve", "would-approve"]
    fresh = tmp_path / "new.jsonl"
    AuditLog(str(fresh)).close()
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600


def test_record_fields() -> None:
    out = io.StringIO()
    entry = record(AuditLog("-", stream=out), approval())
    assert json.loads(out.getvalue()) == entry
    assert entry["time"] == "2027-01-15T08:00:00.000Z"
    assert (entry["requestId"], entry["deviceId"]) == (request().request_id, A.device_id)
    assert (entry["action"], entry["decision"], entry["check"]) == ("approve", "approve", "all-passed")
    assert (entry["mode"], entry["trusted"], entry["gatewayVersion"], entry["outcome"]) == (
        "strict",
        True,
        "2026.9.6",
        "sent",
    )
    evidence = entry["evidence"]
    assert isinstance(evidence, dict)
    assert evidence["container"]["containerName"] == "agent"
    assert evidence["container"]["matchedLabels"] == {"openclaw.pairing.auto-approve": "true"}
    assert evidence["container"]["ips"] == {"demo_default": "172.18.0.5"}
    assert {c["check"] for c in evidence["checksPassed"]} >= {"identity", "remote-ip", "role-scope"}


def test_untrusted_records_would_reject_but_keeps_the_policy_answer() -> None:
    rejected = decide(
        request(request_id="r"), (workload(who=None, identity_error=None),), {}, policy(), History(), NOW
    )
    reject = Decision(Action.REJECT, "identity", "key mismatch", rejected.evidence)
    entry = record(AuditLog("-", stream=io.StringIO()), reject, trusted=False, outcome="observe-only")
    assert (entry["action"], entry["decision"], entry["trusted"]) == ("would-reject", "reject", False)


def test_token_like_keys_never_reach_the_log() -> None:
    out = io.StringIO()
    evidence = {
        "request": {"requestId": "r"},
        "details": {"token": "t0k", "deviceToken": "d", "nested": [{"bootstrapToken": "b"}]},
    }
    record(AuditLog("-", stream=out), Decision(Action.IGNORE, "x", "y", evidence))
    text = out.getvalue()
    assert "t0k" not in text
    assert '"d"' not in text
    assert '"b"' not in text
    assert json.loads(text)["evidence"]["details"] == {"nested": [{}]}
