"""OPENCLAW_IDENTITY_FORMAT=auto: version from the environment, the installed package, the state dir."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sidecar.errors import ConfigError
from sidecar.identity.detect import detect_format, installed_version, parse_version
from sidecar.identity.keys import DeviceIdentity
from sidecar.identity.openclaw_state import JsonState, SqliteState

CACHE = Path(os.environ.get("OPENCLAW_PAIRING_CACHE", Path.home() / ".cache" / "openclaw-pairing"))


def skip_or_fail(reason: str) -> None:
    """Skip on a developer machine; fail where skipping is forbidden (OPENCLAW_TEST_REQUIRE=1 / CI=true)."""
    if os.environ.get("OPENCLAW_TEST_REQUIRE") == "1" or os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (skipping is forbidden here)")
    pytest.skip(reason)


def fake_install(root: Path, version: str, name: str = "openclaw") -> Path:
    """node_modules/.bin/openclaw -> ../openclaw/openclaw.mjs, like npm lays it out; returns the bin dir."""
    pkg = root / "node_modules" / "openclaw"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"name": name, "version": version}))
    (pkg / "openclaw.mjs").write_text("#!/usr/bin/env node\n")
    (pkg / "openclaw.mjs").chmod(0o755)
    bin_dir = root / "node_modules" / ".bin"
    bin_dir.mkdir()
    (bin_dir / "openclaw").symlink_to("../openclaw/openclaw.mjs")
    return bin_dir


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026.9.6", (2026, 9, 6)),
        ("v2026.2.26", (2026, 2, 26)),
        ("OpenClaw 2026.9.6 (eb377ac)", (2026, 9, 6)),
        ("2026.8.2-beta.1", (2026, 8, 2)),
        ("latest", None),
    ],
)
def test_parse_version(text: str, expected: tuple[int, int, int] | None) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize(
    ("version", "fmt"),
    [
        ("2026.2.26", "json"),
        ("2026.7.1", "json"),
        ("2026.8.0", "sqlite"),
        ("2026.8.2", "sqlite"),
        ("2027.1.1", "sqlite"),
    ],
)
def test_openclaw_version_env_decides(tmp_path: Path, version: str, fmt: str) -> None:
    assert detect_format("auto", {"OPENCLAW_VERSION": version, "PATH": ""}, tmp_path).format == fmt


def test_explicit_format_wins(tmp_path: Path) -> None:
    detected = detect_format("json", {"OPENCLAW_VERSION": "2026.9.6"}, tmp_path)
    assert detected.format == "json"
    assert detected.reason == "OPENCLAW_IDENTITY_FORMAT=json"


def test_bad_openclaw_version_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="OPENCLAW_VERSION"):
        detect_format("auto", {"OPENCLAW_VERSION": "nightly"}, tmp_path)


def test_installed_package_found_through_the_bin_symlink(tmp_path: Path) -> None:
    bin_dir = fake_install(tmp_path, "2026.7.1")
    env = {"PATH": str(bin_dir)}
    version, where = installed_version(env) or ("", Path())
    assert version == "2026.7.1"
    assert where == tmp_path / "node_modules" / "openclaw" / "package.json"
    assert detect_format("auto", env, tmp_path / "state").format == "json"


def test_package_json_of_another_package_is_ignored(tmp_path: Path) -> None:
    bin_dir = fake_install(tmp_path, "2026.9.6", name="not-openclaw")
    assert installed_version({"PATH": str(bin_dir)}) is None


@pytest.mark.parametrize(("version", "fmt"), [("2026.9.6", "sqlite"), ("2026.2.26", "json")])
def test_real_installed_openclaw(tmp_path: Path, version: str, fmt: str) -> None:
    bin_dir = CACHE / f"openclaw-{version}" / "node_modules" / ".bin"
    if not (bin_dir / "openclaw").exists():
        skip_or_fail(f"openclaw {version} not provisioned (scripts/provision-node.sh)")
    detected = detect_format("auto", {"PATH": str(bin_dir)}, tmp_path)
    assert detected.format == fmt
    assert version in detected.reason


def test_state_dir_contents_when_nothing_is_installed(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path / "empty")}
    sqlite_dir, json_dir = tmp_path / "s", tmp_path / "j"
    SqliteState(sqlite_dir).write(DeviceIdentity.generate())
    JsonState(json_dir).write(DeviceIdentity.generate())
    assert detect_format("auto", env, sqlite_dir).format == "sqlite"
    assert detect_format("auto", env, json_dir).format == "json"


def test_env_version_beats_installed_package(tmp_path: Path) -> None:
    bin_dir = fake_install(tmp_path, "2026.2.26")
    env = {"PATH": str(bin_dir), "OPENCLAW_VERSION": "2026.9.6"}
    assert detect_format("auto", env, tmp_path).format == "sqlite"


def test_nothing_to_go_by_refuses_to_guess(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        detect_format("auto", {"PATH": str(tmp_path)}, tmp_path / "state")
    for name in ("OPENCLAW_VERSION", "OPENCLAW_IDENTITY_FORMAT", str(tmp_path / "state")):
        assert name in str(info.value)
