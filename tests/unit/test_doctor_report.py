"""--json is for scripts: its schema (version 1) must stay stable; the human report stays short."""

from __future__ import annotations

import json

from sidecar.doctor.checks import Outcome
from sidecar.doctor.diagnose import Diagnosis
from sidecar.doctor.findings import finding
from sidecar.doctor.fix import FixResult
from sidecar.doctor.report import render_json, render_text

FINDING_KEYS = {"id", "severity", "title", "seen", "why", "fix", "fixable"}


def _diagnosis() -> Diagnosis:
    return Diagnosis(
        (
            Outcome("error", (finding("error-b.pairing-required", "pairing required", request_id="r-1"),)),
            Outcome("identity", summary="device 1234 in slot default"),
            Outcome("docker", skipped="no --container given"),
            Outcome("pairing", (finding("gateway.unreachable", "ws://127.0.0.1:1: refused"),)),
        )
    )


def test_json_schema_version_1() -> None:
    data = json.loads(render_json(_diagnosis(), [FixResult("identity.missing", True, "created")]))
    assert set(data) == {"version", "exitCode", "findings", "checks", "fixes"}
    assert data["version"] == 1
    assert data["exitCode"] == 1
    assert all(set(f) == FINDING_KEYS for f in data["findings"])
    assert [f["id"] for f in data["findings"]] == ["error-b.pairing-required", "gateway.unreachable"]
    assert data["findings"][0]["fix"].startswith("on the gateway host: openclaw devices approve r-1")
    assert data["checks"] == {
        "error": {"status": "problems", "summary": ""},
        "identity": {"status": "ok", "summary": "device 1234 in slot default"},
        "docker": {"status": "skipped", "summary": "no --container given"},
        "pairing": {"status": "unchecked", "summary": ""},
    }
    assert data["fixes"] == [{"id": "identity.missing", "ok": True, "action": "created"}]


def test_exit_codes() -> None:
    healthy = Diagnosis((Outcome("identity", summary="ok"), Outcome("docker", skipped="n/a")))
    assert healthy.exit_code == 0
    unchecked = Diagnosis((Outcome("pairing", (finding("gateway.unreachable", "x"),)),))
    assert unchecked.exit_code == 2
    assert Diagnosis((Outcome("docker", skipped="n/a"),)).exit_code == 2  # nothing checked at all
    info_only = Diagnosis((Outcome("pairing", (finding("pairing.paired", "paired"),)),))
    assert info_only.exit_code == 0


def test_text_report_is_short_and_names_the_fix() -> None:
    text = render_text(_diagnosis())
    assert "error-b.pairing-required" in text
    assert "openclaw devices approve r-1" in text
    assert text.rstrip().endswith("exit 1")
    assert len(text.splitlines()) < 20
