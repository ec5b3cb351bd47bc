"""`run`/`once`/`explain`/`config` wiring: exit codes, output, redaction, scopes, the sidecar's identity.

The real process against a real gateway and Docker is tests/integration/test_sidecar_real.py.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sidecar import service
from sidecar.cli import main
from sidecar.errors import SourceError
from sidecar.identity.keys import DeviceIdentity
from sidecar.policy import Action, Decision
from sidecar.settings import Settings, load_settings
from sidecar.sources.workloads import Workload

CLEAN_ENV = ("OPENCLAW_", "DOCKER_HOST")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith(CLEAN_ENV):
            monkeypatch.delenv(key)


# --- config --------------------------------------------------------------------------------------


def test_config_print_redacts_the_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENCLAW_GATEWAY_TOKEN", "s3cret-token-value")
    monkeypatch.setenv("OPENCLAW_PAIRING_PROJECT", "demo")
    assert main(["config", "--print"]) == 0
    out = capsys.readouterr().out
    assert "s3cret-token-value" not in out
    assert "gateway_token: <redacted>" in out
    assert "project: demo" in out
    assert main(["config", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["gateway_token"] == "<redacted>"
    assert data["sources"]["project"] == "env"


def test_config_reads_the_file_given_by_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "pairing.yaml"
    config.write_text("mode: ip\nproject: '*'\n")
    assert main(["config", "--json", "--config", str(config)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["mode"], data["project"], data["config_file"]) == ("ip", "*", str(config))


def test_invalid_config_exits_3_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENCLAW_PAIRING_RECONCILE_INTERVAL", "soon")
    assert main(["config", "--print"]) == 3
    assert "OPENCLAW_PAIRING_RECONCILE_INTERVAL" in capsys.readouterr().err


# --- once / explain exit codes -------------------------------------------------------------------


class FakeApprover:
    def __init__(self, attention: int = 0, decision: Decision | None = None) -> None:
        self.attention, self.decision = attention, decision

    async def once(self, timeout: float = 30.0) -> int:  # noqa: ASYNC109 - mirrors Approver.once
        return self.attention

    async def explain(self, request_id: str, timeout: float = 30.0) -> Decision:  # noqa: ASYNC109
        assert self.decision is not None
        return self.decision


def fake_build(
    monkeypatch: pytest.MonkeyPatch, approver: FakeApprover | Exception, trusted: bool = False
) -> None:
    async def build(settings: Settings, **kwargs: Any) -> Any:
        if isinstance(approver, Exception):
            raise approver
        audit = SimpleNamespace(close=lambda: None)
        return SimpleNamespace(settings=Settings(trusted=trusted), audit=audit, approver=approver)

    monkeypatch.setattr(service, "build", build)


@pytest.mark.parametrize(("attention", "code"), [(0, 0), (1, 5), (7, 5)])
def test_once_exit_code_says_whether_anything_needs_attention(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], attention: int, code: int
) -> None:
    fake_build(monkeypatch, FakeApprover(attention=attention))
    assert main(["once", "--json"]) == code
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary == {"needsAttention": attention, "trusted": False, "mode": "strict"}


def test_once_with_docker_unreachable_exits_4(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_build(monkeypatch, SourceError("the Docker engine is unreachable"))
    assert main(["once"]) == 4
    assert "Docker engine is unreachable" in capsys.readouterr().err


WORKLOAD = Workload(
    id="ab" * 32,
    name="demo-agent-1",
    labels={"openclaw.pairing.auto-approve": "true"},
    ips={"demo_default": "172.18.0.2"},
    service="agent",
    project="demo",
    image="agent:1",
    identity=DeviceIdentity.from_seed(b"\x07" * 32).public(),
)
APPROVE = Decision(
    Action.APPROVE,
    "all-passed",
    "all 10 checks passed for container demo-agent-1 (mode strict)",
    {"checksPassed": [{"check": "identity", "reason": "deviceId and publicKey match"}]},
    WORKLOAD,
)


def test_explain_human_output_without_trust_says_nothing_would_be_sent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_build(monkeypatch, FakeApprover(decision=APPROVE))
    assert main(["explain", "req-1"]) == 0
    out = capsys.readouterr().out
    assert "decision  approve  (check: all-passed)" in out
    assert "OPENCLAW_TRUSTED_ENV is not set" in out
    assert "would-approve" in out
    assert "demo-agent-1" in out
    assert "172.18.0.2 (demo_default)" in out
    assert "identity: deviceId and publicKey match" in out


def test_explain_json_and_trusted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_build(monkeypatch, FakeApprover(decision=APPROVE), trusted=True)
    assert main(["explain", "req-1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["requestId"] == "req-1"
    assert (data["action"], data["recordedAs"], data["trusted"]) == ("approve", "approve", True)


def test_explain_of_a_request_that_is_not_pending_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sidecar.approver import NOT_PENDING

    gone = Decision(Action.IGNORE, NOT_PENDING, "no pending request req-9", {})
    fake_build(monkeypatch, FakeApprover(decision=gone))
    assert main(["explain", "req-9"]) == 1
    assert "no pending request req-9" in capsys.readouterr().out


# --- what `run` connects with --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ws://127.0.0.1:18789",
        "ws://localhost:18789",
        "ws://[::1]:18789",
        "ws+unix:///run/openclaw-gateway/gateway.sock",
    ],
)
def test_no_identity_on_the_gateways_loopback(tmp_path: Path, url: str) -> None:
    # even with a state dir set (compose sets one for the sidecar's other state)
    settings = load_settings(
        environ={"OPENCLAW_GATEWAY_URL": url, "OPENCLAW_PAIRING_STATE_DIR": str(tmp_path)}
    )
    assert service.sidecar_identity(settings) is None
    assert not (tmp_path / "identity.json").exists()


def test_identity_away_from_loopback_is_persisted_in_the_state_dir(tmp_path: Path) -> None:
    env = {"OPENCLAW_GATEWAY_URL": "ws://gateway:18789", "OPENCLAW_PAIRING_STATE_DIR": str(tmp_path)}
    first = service.sidecar_identity(load_settings(environ=env))
    again = service.sidecar_identity(load_settings(environ=env))
    assert first is not None
    assert again is not None
    assert first.device_id == again.device_id
    assert (tmp_path / "identity.json").exists()


def test_gateway_scopes_are_what_the_sidecar_may_hand_out() -> None:
    assert service.gateway_scopes(load_settings(environ={})) == (
        "operator.pairing",
        "operator.read",
        "operator.write",
    )
    admin = load_settings(
        environ={
            "OPENCLAW_PAIRING_ALLOW_ADMIN_SCOPE": "1",
            "OPENCLAW_PAIRING_DEFAULT_SCOPES": "operator.read",
        }
    )
    assert service.gateway_scopes(admin)[-1] == "operator.admin"


def test_json_log_lines() -> None:
    record = logging.LogRecord("sidecar.x", logging.WARNING, __file__, 1, "hello %s", ("world",), None)
    line = json.loads(service.JsonFormatter().format(record))
    assert (line["level"], line["logger"], line["message"]) == ("warning", "sidecar.x", "hello world")
    assert line["time"].endswith("Z")
