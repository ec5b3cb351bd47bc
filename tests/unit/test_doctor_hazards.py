"""Config and script hazards: retired/non-existent settings and approve commands that approve nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.doctor.checks.hazards import approve_problem, check, scan_text
from sidecar.doctor.options import DoctorOptions

APPROVE: list[tuple[str, str | None]] = [
    ("openclaw devices approve --latest", "latest"),
    ("openclaw devices approve", "latest"),
    ("openclaw devices approve --json", "latest"),
    ('openclaw devices approve --url ws://127.0.0.1:18789 --token "$TOKEN"', "latest"),
    ("docker compose run --rm openclaw-cli devices approve --latest --json", "latest"),
    ('command: ["devices", "approve", "--latest"]', "latest"),
    ("openclaw devices approve --all", "all"),
    ("node dist/index.js devices approve --all --json", "all"),
    ('openclaw devices approve "$REQUEST_ID"', None),
    ("openclaw devices approve 5eeae6df-2d2b-4753-9d49-3277c055f75b --json", None),
    ("openclaw devices approve --token t $(jq -r '.pending[0].requestId' list.json)", None),
    ("openclaw devices approve ${id} && openclaw devices list", None),
    ("openclaw devices approve --latest; echo done", "latest"),
    ("openclaw-sidecar approve --all --yes", None),  # this project's own --all is real and guarded
    ("openclaw devices list --json", None),
]


@pytest.mark.parametrize(("line", "expected"), APPROVE)
def test_approve_commands(line: str, expected: str | None) -> None:
    assert approve_problem(line) == expected


def test_scan_text_finds_every_hazard_with_line_numbers() -> None:
    text = "\n".join(
        [
            "#!/bin/sh",
            "# openclaw devices approve --latest   (a comment: ignored)",
            "openclaw config set gateway.controlUi.dangerouslyDisableDeviceAuth true",
            "openclaw devices approve \\",
            "  --latest",
            "openclaw devices approve --all",
            'openclaw devices approve "$ID"',
        ]
    )
    assert scan_text(text) == {
        "config.dangerously-disable-device-auth": [3],
        "script.approve-latest": [4],
        "script.approve-all": [6],
    }


def test_json5_config_hazards() -> None:
    config = """{
  // JSON5 is allowed in openclaw.json
  gateway: {
    controlUi: { dangerouslyDisableDeviceAuth: true },
    session: { "inheritParentDevice": true },
  },
}"""
    assert scan_text(config) == {
        "config.dangerously-disable-device-auth": [4],
        "config.inherit-parent-device-key": [5],
    }
    assert scan_text('{"gateway":{"controlUi":{"dangerouslyDisableDeviceAuth":false}}}') == {}


def test_compose_mount_at_app_openclaw() -> None:
    compose = (
        "services:\n  agent:\n    volumes:\n"
        "      - ./device:/app/.openclaw/device\n      - data:/home/node/.openclaw\n"
    )
    assert scan_text(compose) == {"compose.app-openclaw-device-mount": [4]}


def test_check_scans_workdir_and_state_config(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "openclaw.json").write_text('{"gateway":{"session":{"inheritParentDevice":true}}}')
    (tmp_path / "approve.sh").write_text("openclaw devices approve --latest\n")
    (tmp_path / "README.md").write_text("never run openclaw devices approve --all\n")  # prose is not scanned
    opts = DoctorOptions(env={}, state_dir=tmp_path / "state", workdir=tmp_path)
    outcome = check(opts)
    assert sorted(f.id for f in outcome.findings) == [
        "config.inherit-parent-device-key",
        "script.approve-latest",
    ]
    latest = next(f for f in outcome.findings if f.id == "script.approve-latest")
    assert f"{tmp_path / 'approve.sh'}:1" in latest.fix


def test_scan_walks_directories_but_skips_dependency_trees(tmp_path: Path) -> None:
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "deploy.sh").write_text("openclaw devices approve --all\n")
    (tmp_path / "node_modules" / "x").mkdir(parents=True)
    (tmp_path / "node_modules" / "x" / "a.sh").write_text("openclaw devices approve --all\n")
    opts = DoctorOptions(env={}, state_dir=tmp_path / "none", workdir=None, scan=(tmp_path,))
    (found,) = check(opts).findings
    assert found.id == "script.approve-all"
    assert "ops/deploy.sh:1" in found.seen
