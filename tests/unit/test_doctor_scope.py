"""Doctor reports only on what it examined (issue 10 #6) and refuses settings exactly as the entrypoint
does (issue 11): the real doctor CLI in-process, on temporary directories."""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from sidecar.cli.doctor import main as doctor_main
from sidecar.doctor.findings import finding
from sidecar.doctor.options import resolve
from sidecar.envvars import DEFAULT_GATEWAY_URL


def doctor(*args: str, **env: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = doctor_main(["--json", *args], env={"PATH": "/usr/bin:/bin", **env})
    return code, json.loads(out.getvalue())


def identity_findings(report: dict[str, Any]) -> list[str]:
    return [f["id"] for f in report["findings"] if f["id"].startswith("identity.")]


def test_a_host_with_no_openclaw_state_has_no_identity_problems(tmp_path: Path) -> None:
    code, report = doctor(HOME=str(tmp_path))
    assert identity_findings(report) == []
    assert report["checks"]["identity"]["status"] == "skipped"
    assert "identity-init openclaw-entrypoint --doctor" in report["checks"]["identity"]["summary"]
    assert code != 1, report


def test_a_hosts_own_openclaw_dir_is_not_an_agents_identity(tmp_path: Path) -> None:
    """~/.openclaw of whoever runs doctor on the host (owned by them, on the host's disk): not examined."""
    (tmp_path / ".openclaw" / "identity").mkdir(parents=True)
    (tmp_path / ".openclaw" / "identity" / "device.json").write_text("{}")
    code, report = doctor(HOME=str(tmp_path))
    assert identity_findings(report) == [], report
    assert code != 1


def test_with_container_the_local_files_are_not_examined(tmp_path: Path) -> None:
    (tmp_path / ".openclaw").mkdir()
    _, report = doctor("--container", "no-such-container-here", HOME=str(tmp_path))
    assert identity_findings(report) == []
    assert "examining container no-such-container-here" in report["checks"]["identity"]["summary"]


def test_a_bad_uid_is_reported_as_the_entrypoint_refuses_it(tmp_path: Path) -> None:
    ids = tmp_path / "ids"
    ids.mkdir()
    code, report = doctor(HOME=str(tmp_path), OPENCLAW_UID="abc", OPENCLAW_IDENTITY_DIR=str(ids))
    invalid = [f for f in report["findings"] if f["id"] == "identity.config-invalid"]
    assert invalid, report
    assert "OPENCLAW_UID='abc' is not a numeric user/group id" in invalid[0]["seen"]
    assert code == 1


def test_a_bad_uid_alone_counts_as_entrypoint_configuration(tmp_path: Path) -> None:
    _, report = doctor(HOME=str(tmp_path), OPENCLAW_UID="abc")
    invalid = [f for f in report["findings"] if f["id"] == "identity.config-invalid"]
    assert invalid, report
    assert "OPENCLAW_UID" in invalid[0]["seen"]


def test_explanations_carry_their_numbers_not_placeholders() -> None:
    f = finding("identity.wrong-owner", "x", uid=1000, gid=1000, paths="/a")
    assert "{uid}" not in f.why
    assert "uid 1000" in f.why


def test_a_token_without_a_url_uses_the_clis_default_url() -> None:
    opts = resolve({}, {"OPENCLAW_GATEWAY_TOKEN": "t"})
    assert opts.gateway_url == DEFAULT_GATEWAY_URL
    assert resolve({}, {}).gateway_url is None


def test_owner_expected_on_a_host_is_the_state_dirs_owner(tmp_path: Path) -> None:
    state = tmp_path / ".openclaw"
    state.mkdir()
    opts = resolve({}, {"HOME": str(tmp_path)})
    assert (opts.uid, opts.gid) == (os.stat(state).st_uid, os.stat(state).st_gid)
    assert resolve({}, {"HOME": str(tmp_path), "OPENCLAW_IDENTITY_DIR": "/x"}).uid == 1000
