"""``openclaw-sidecar list/approve/reject/remove`` against the fake gateway: output shapes, exit codes,
least-privilege scopes, and the ``approve --all`` gate. The real-gateway versions are in
tests/integration/test_gateway_real.py."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidecar.cli import main
from sidecar.identity.keys import DeviceIdentity
from tests.unit.gateway_fake import FakeGateway, Refuse, ThreadedFake
from tests.unit.test_gateway_models import PAIRED, PENDING, RID

TOKEN = "tok-123"
NODE_IDENT = DeviceIdentity.generate()
NODE_PENDING = {
    **PENDING,
    "requestId": "node-req-1",
    "deviceId": NODE_IDENT.device_id,
    "publicKey": NODE_IDENT.public_key_b64url,
    "role": "node",
    "roles": ["node"],
    "scopes": [],
}


class State:
    def __init__(self) -> None:
        self.pending = [copy.deepcopy(PENDING)]
        self.paired = [copy.deepcopy(PAIRED)]
        self.approved: list[str] = []


@pytest.fixture
def gw(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeGateway, State]]:
    fake = FakeGateway(TOKEN)
    state = State()

    async def listing(params: dict[str, Any], conn: Any) -> Any:
        return {"pending": state.pending, "paired": state.paired}

    async def approve(params: dict[str, Any], conn: Any) -> Any:
        match = [p for p in state.pending if p["requestId"] == params["requestId"]]
        if not match:
            raise Refuse("INVALID_REQUEST", "unknown requestId")
        state.pending.remove(match[0])
        state.approved.append(params["requestId"])
        device = {
            "deviceId": match[0]["deviceId"],
            "tokens": [{"role": "operator", "token": "SECRET", "scopes": []}],
        }
        return {"requestId": params["requestId"], "device": device}

    async def reject(params: dict[str, Any], conn: Any) -> Any:
        if params["requestId"] != RID:
            raise Refuse("INVALID_REQUEST", "unknown requestId")
        return {"requestId": RID, "deviceId": PENDING["deviceId"]}

    async def remove(params: dict[str, Any], conn: Any) -> Any:
        if params["deviceId"] != PAIRED["deviceId"]:
            raise Refuse("INVALID_REQUEST", "unknown deviceId")
        return {"deviceId": PAIRED["deviceId"]}

    fake.methods.update(
        {
            "device.pair.list": listing,
            "device.pair.approve": approve,
            "device.pair.reject": reject,
            "device.pair.remove": remove,
        }
    )
    with ThreadedFake(fake):
        for var in (
            "OPENCLAW_GATEWAY_URL",
            "OPENCLAW_GATEWAY_TOKEN",
            "OPENCLAW_PAIRING_STATE_DIR",
            "OPENCLAW_TRUSTED_ENV",
        ):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("OPENCLAW_GATEWAY_URL", fake.url)
        monkeypatch.setenv("OPENCLAW_GATEWAY_TOKEN", TOKEN)
        yield fake, state


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_text_and_json(gw: tuple[FakeGateway, State], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "list")
    assert code == 0
    assert "Pending (1)" in out
    assert RID in out
    assert "Paired (1)" in out
    code, out, _ = cli(capsys, "list", "--json")
    assert code == 0
    assert json.loads(out) == {"pending": [PENDING], "paired": [PAIRED]}
    fake, _ = gw
    assert fake.connects[-1]["scopes"] == ["operator.pairing"]
    assert "device" not in fake.connects[-1]
    assert fake.connects[-1]["client"]["id"] == "gateway-client"
    assert fake.connects[-1]["client"]["mode"] == "backend"


def test_list_empty(gw: tuple[FakeGateway, State], capsys: pytest.CaptureFixture[str]) -> None:
    gw[1].pending.clear()
    gw[1].paired.clear()
    assert cli(capsys, "list")[1].strip() == "No device pairing entries."


def test_approve_asks_for_the_scopes_the_request_needs(
    gw: tuple[FakeGateway, State], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, state = gw
    state.pending[0]["scopes"] = ["operator.read", "operator.write"]
    code, out, _ = cli(capsys, "approve", RID, "--json")
    assert code == 0
    assert json.loads(out)["requestId"] == RID
    assert "SECRET" not in out
    assert [c["scopes"] for c in fake.connects] == [
        ["operator.pairing"],
        ["operator.pairing", "operator.read", "operator.write"],
    ]
    assert state.approved == [RID]


def test_approve_text_single_connection_when_covered(
    gw: tuple[FakeGateway, State], capsys: pytest.CaptureFixture[str]
) -> None:
    gw[1].pending[0]["scopes"] = ["operator.pairing"]
    code, out, _ = cli(capsys, "approve", RID)
    assert code == 0
    assert out.strip() == f"Approved {PENDING['deviceId']} ({RID})"
    assert len(gw[0].connects) == 1


def test_approve_unknown(gw: tuple[FakeGateway, State], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "approve", "nope", "--json")
    assert code == 1
    assert "No pending device request matches nope" in err
    assert json.loads(out) == {
        "ok": False,
        "error": {"type": "cli_error", "message": json.loads(out)["error"]["message"]},
    }
    assert gw[1].approved == []


def test_approve_needs_exactly_one_target(
    gw: tuple[FakeGateway, State], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "approve")[0] == 3
    assert cli(capsys, "approve", RID, "--all")[0] == 3


@pytest.mark.parametrize(("yes", "trusted"), [(False, False), (True, False), (False, True)])
def test_approve_all_is_gated(
    gw: tuple[FakeGateway, State],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    yes: bool,
    trusted: bool,
) -> None:
    if trusted:
        monkeypatch.setenv("OPENCLAW_TRUSTED_ENV", "1")
    code, _, err = cli(capsys, "approve", "--all", *(["--yes"] if yes else []))
    assert code == 3
    assert "OpenClaw has no --all" in err
    assert RID in err
    assert gw[1].approved == []


def test_approve_all_approves_each_by_id_and_reports(
    gw: tuple[FakeGateway, State], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, state = gw
    other = DeviceIdentity.generate()
    second = {
        **PENDING,
        "requestId": "second",
        "deviceId": other.device_id,
        "publicKey": other.public_key_b64url,
    }
    state.pending.append({**second, "scopes": ["operator.write"]})
    state.pending.append(copy.deepcopy(NODE_PENDING))
    monkeypatch.setenv("OPENCLAW_TRUSTED_ENV", "yes")
    code, out, _ = cli(capsys, "approve", "--all", "--yes", "--json")
    report = json.loads(out)
    assert code == 1  # one was skipped
    assert [r["requestId"] for r in report["approved"]] == [RID, "second"]
    assert [r["requestId"] for r in report["skipped"]] == ["node-req-1"]
    assert "--admin" in report["skipped"][0]["error"]
    assert state.approved == [RID, "second"]
    assert fake.connects[-1]["scopes"] == ["operator.pairing", "operator.write"]

    code, out, _ = cli(capsys, "approve", "--all", "--yes", "--admin")
    assert code == 0
    assert out.strip() == f"Approved {NODE_IDENT.device_id} (node-req-1)"
    assert "operator.admin" in fake.connects[-1]["scopes"]
    assert cli(capsys, "approve", "--all", "--yes")[1].strip() == "No pending device requests."


def test_reject_and_remove(gw: tuple[FakeGateway, State], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "reject", RID, "--json")
    assert code == 0
    assert json.loads(out) == {"requestId": RID, "deviceId": PENDING["deviceId"]}
    assert cli(capsys, "reject", "nope")[0] == 1
    code, out, _ = cli(capsys, "remove", PAIRED["deviceId"])
    assert code == 0
    assert out.strip() == f"Removed {PAIRED['deviceId']}"
    code, _, err = cli(capsys, "remove", "0" * 64)
    assert code == 1
    assert "unknown deviceId" in err


def test_exit_codes_for_auth_unreachable_and_config(
    gw: tuple[FakeGateway, State], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = cli(capsys, "list", "--token", "wrong")
    assert code == 3
    assert "OPENCLAW_GATEWAY_TOKEN" in err
    assert "wrong" not in err
    code, out, _ = cli(capsys, "list", "--url", "ws://127.0.0.1:1", "--json")
    assert code == 4
    assert json.loads(out)["error"]["type"] == "gateway_transport_error"
    code, _, err = cli(capsys, "list", "--url", "http://x")
    assert code == 3
    assert "OPENCLAW_GATEWAY_URL" in err
    assert cli(capsys, "list", "--timeout", "0")[0] == 3
    assert cli(capsys)[0] == 3  # no command: help, config error


def test_pairing_required_for_the_cli_itself(
    gw: tuple[FakeGateway, State], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake, _ = gw
    fake.connect_refusal = (
        {"code": "NOT_PAIRED", "message": "pairing required: device is not approved yet",
         "details": {"code": "PAIRING_REQUIRED", "reason": "not-paired", "requestId": "own-req"}},
        1008,
        "pairing required: device is not approved yet (requestId: own-req)",
    )  # fmt: skip
    code, _, err = cli(capsys, "list", "--state-dir", str(tmp_path))
    assert code == 2
    assert "openclaw devices approve own-req" in err
    stored = json.loads((tmp_path / "identity.json").read_text())
    assert fake.connects[-1]["device"]["id"] == stored["deviceId"]
    fake.connect_refusal = None
    assert cli(capsys, "list", "--state-dir", str(tmp_path))[0] == 0
    assert fake.connects[-1]["device"]["id"] == stored["deviceId"]  # same identity, persisted


def test_parser_imports_stay_light() -> None:
    """Every command module is imported to build the parser: none may pull heavy libraries at import."""
    code = (
        "import sys, sidecar.cli as c; c.build_parser(); "
        "print(sorted(m for m in ('docker', 'yaml', 'prometheus_client', 'websockets', 'cryptography') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
