"""The orchestration: create / existing / adopted / secret / inherited, conflicts, corruption, ownership."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from sidecar.errors import ConfigError, IdentityConflict, IdentityCorrupt, IdentityError
from sidecar.identity import mounts
from sidecar.identity.ensure import EnsureResult, ensure, show
from sidecar.identity.entrypoint_settings import EntrypointConfig, parse
from sidecar.identity.keys import DeviceIdentity, PublicIdentity
from sidecar.identity.openclaw_state import JsonState, SqliteState


def configure(tmp_path: Path, *argv: str, **env: str) -> tuple[EntrypointConfig, dict[str, str]]:
    base = {
        "HOME": str(tmp_path / "home"),
        "PATH": "/usr/bin:/bin",
        "OPENCLAW_IDENTITY_DIR": str(tmp_path / "ids"),
        "OPENCLAW_STATE_DIR": str(tmp_path / "state"),
        "OPENCLAW_VERSION": "2026.9.6",
        "OPENCLAW_UID": str(os.getuid()),
        "OPENCLAW_GID": str(os.getgid()),
    }
    merged = {k: v for k, v in {**base, **env}.items() if v != "-"}  # "-" removes a default
    return parse([*argv, "--init-only"], merged), merged


def run(tmp_path: Path, *argv: str, **env: str) -> EnsureResult:
    cfg, merged = configure(tmp_path, *argv, **env)
    return ensure(cfg, merged)


def slot_file(tmp_path: Path, slot: str = "default") -> Path:
    return tmp_path / "ids" / slot / "device.json"


def db_device(state: Path) -> str:
    with sqlite3.connect(state / "state" / "openclaw.sqlite") as con:
        return str(
            con.execute("SELECT device_id FROM device_identities WHERE identity_key='primary'").fetchone()[0]
        )


def test_created_then_existing_sqlite(tmp_path: Path) -> None:
    first = run(tmp_path)
    assert first.source == "created"
    assert first.format == "sqlite"
    device = first.identity.device_id
    assert db_device(tmp_path / "state") == device
    assert json.loads(slot_file(tmp_path).read_text())["deviceId"] == device
    for pub in (
        tmp_path / "ids" / "default" / "device.pub.json",
        tmp_path / "state/identity/device.pub.json",
    ):
        published = PublicIdentity.from_json(json.loads(pub.read_text()))
        assert published.device_id == device
        assert published.slot == "default"
        assert "privateKeyPem" not in pub.read_text()
        assert pub.stat().st_mode & 0o777 == 0o644
    assert first.log_line() == f"identity ready device={device[:12]} slot=default source=created"
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    second = run(tmp_path)
    assert (second.source, second.identity.device_id) == ("existing", device)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == before  # nothing written


def test_fresh_state_dir_gets_the_slot_identity(tmp_path: Path) -> None:
    device = run(tmp_path).identity.device_id
    again = run(tmp_path, OPENCLAW_STATE_DIR=str(tmp_path / "recreated"))
    assert (again.source, again.identity.device_id) == ("existing", device)
    assert db_device(tmp_path / "recreated") == device


def test_json_format(tmp_path: Path) -> None:
    result = run(tmp_path, OPENCLAW_VERSION="2026.2.26")
    assert result.format == "json"
    record = json.loads((tmp_path / "state/identity/device.json").read_text())
    assert record == json.loads(slot_file(tmp_path).read_text())
    assert not (tmp_path / "state/state").exists()


def test_file_format_touches_no_openclaw_store(tmp_path: Path) -> None:
    result = run(tmp_path, OPENCLAW_IDENTITY_FORMAT="file", OPENCLAW_VERSION="-")
    assert result.identity_file == slot_file(tmp_path)
    assert not (tmp_path / "state/identity/device.json").exists()
    assert not (tmp_path / "state/state").exists()
    assert (tmp_path / "state/identity/device.pub.json").exists()


def test_permissions(tmp_path: Path) -> None:
    run(tmp_path)
    assert (tmp_path / "ids/default").stat().st_mode & 0o777 == 0o700
    assert slot_file(tmp_path).stat().st_mode & 0o777 == 0o600
    for d in ("state", "state/identity", "state/state"):
        assert (tmp_path / d).stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "state/state/openclaw.sqlite").stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_ownership_goes_to_the_agent_user(tmp_path: Path) -> None:
    (tmp_path / "ids").mkdir()  # an existing volume root is left alone
    run(tmp_path, OPENCLAW_UID="4242", OPENCLAW_GID="4343")
    owned = [
        "ids/default",
        "ids/default/device.json",
        "ids/default/device.pub.json",
        "ids/default/.lock",
        "state",
        "state/identity",
        "state/identity/device.pub.json",
        "state/state",
        "state/state/openclaw.sqlite",
    ]
    for rel in owned:
        st = (tmp_path / rel).lstat()
        assert (rel, st.st_uid, st.st_gid) == (rel, 4242, 4343)
    assert (tmp_path / "ids").stat().st_uid == 0


@pytest.mark.parametrize("version", ["2026.9.6", "2026.2.26"])
def test_adopts_the_state_dirs_identity_into_an_empty_slot(tmp_path: Path, version: str) -> None:
    existing = DeviceIdentity.generate()
    store = SqliteState if version == "2026.9.6" else JsonState
    store(tmp_path / "state").write(existing)
    result = run(tmp_path, OPENCLAW_VERSION=version)
    assert (result.source, result.identity.device_id) == ("adopted", existing.device_id)
    assert json.loads(slot_file(tmp_path).read_text())["deviceId"] == existing.device_id


def test_adopts_a_legacy_device_json_in_a_sqlite_state_dir_and_removes_it(tmp_path: Path) -> None:
    existing = DeviceIdentity.generate()
    JsonState(tmp_path / "state").write(existing)
    result = run(tmp_path)  # 2026.9.6
    assert (result.source, result.identity.device_id) == ("adopted", existing.device_id)
    assert db_device(tmp_path / "state") == existing.device_id
    assert not (tmp_path / "state/identity/device.json").exists()


def test_conflict_names_both_devices_and_the_setting(tmp_path: Path) -> None:
    slot_identity = run(tmp_path).identity
    other = run(tmp_path, OPENCLAW_DEVICE_ID="other", OPENCLAW_STATE_DIR=str(tmp_path / "state2")).identity
    with pytest.raises(IdentityConflict) as info:
        run(tmp_path, OPENCLAW_STATE_DIR=str(tmp_path / "state2"))
    message = str(info.value)
    assert slot_identity.device_id in message
    assert other.device_id in message
    assert "OPENCLAW_IDENTITY_ON_CONFLICT=replace-state" in message
    assert "OPENCLAW_DEVICE_ID" in message
    assert db_device(tmp_path / "state2") == other.device_id  # nothing changed
    replaced = run(
        tmp_path, OPENCLAW_STATE_DIR=str(tmp_path / "state2"), OPENCLAW_IDENTITY_ON_CONFLICT="replace-state"
    )
    assert replaced.identity.device_id == slot_identity.device_id
    assert db_device(tmp_path / "state2") == slot_identity.device_id
    assert list((tmp_path / "state2/state").glob("device_identities.primary.replaced-*.json"))


def test_corrupt_slot_is_kept_and_regenerate_moves_it_aside(tmp_path: Path) -> None:
    path = slot_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "privateKeyPem": "garbage"}')
    with pytest.raises(IdentityCorrupt) as info:
        run(tmp_path)
    assert str(path) in str(info.value)
    assert "--regenerate" in str(info.value)
    assert path.read_text() == '{"version": 1, "privateKeyPem": "garbage"}'
    result = run(tmp_path, "--regenerate")
    assert result.source == "created"
    (aside,) = path.parent.glob("device.json.corrupt-*")
    assert aside.read_text() == '{"version": 1, "privateKeyPem": "garbage"}'
    assert result.moved_aside == (aside,)


def test_regenerate_prefers_adopting_a_valid_state_identity(tmp_path: Path) -> None:
    existing = DeviceIdentity.generate()
    SqliteState(tmp_path / "state").write(existing)
    slot_file(tmp_path).parent.mkdir(parents=True)
    slot_file(tmp_path).write_text("{")
    result = run(tmp_path, "--regenerate")
    assert (result.source, result.identity.device_id) == ("adopted", existing.device_id)


def test_corrupt_state_with_regenerate_gets_the_slot_identity(tmp_path: Path) -> None:
    device = run(tmp_path).identity.device_id
    db = tmp_path / "state/state/openclaw.sqlite"
    db.write_bytes(b"garbage" * 1000)
    with pytest.raises(IdentityCorrupt, match=r"openclaw\.sqlite"):
        run(tmp_path)
    result = run(tmp_path, "--regenerate")
    assert (result.source, result.identity.device_id) == ("existing", device)
    assert db_device(tmp_path / "state") == device
    assert list(db.parent.glob("openclaw.sqlite.corrupt-*"))


def test_regenerate_without_damage_changes_nothing(tmp_path: Path) -> None:
    device = run(tmp_path).identity.device_id
    result = run(tmp_path, "--regenerate")
    assert (result.source, result.identity.device_id, result.moved_aside) == ("existing", device, ())


def write_secret(tmp_path: Path) -> tuple[Path, DeviceIdentity]:
    secret = DeviceIdentity.generate()
    path = tmp_path / "secret" / "key.pem"
    path.parent.mkdir()
    path.write_text(secret.private_key_pem)
    return path, secret


def test_secret_source(tmp_path: Path) -> None:
    key, secret = write_secret(tmp_path)
    result = run(tmp_path, OPENCLAW_DEVICE_PRIVATE_KEY_FILE=str(key), OPENCLAW_IDENTITY_DIR="-")
    assert (result.source, result.identity.device_id) == ("secret", secret.device_id)
    assert result.identity_file == key
    assert db_device(tmp_path / "state") == secret.device_id
    assert not (tmp_path / "ids").exists()
    again = run(tmp_path, OPENCLAW_DEVICE_PRIVATE_KEY_FILE=str(key), OPENCLAW_IDENTITY_DIR="-")
    assert again.source == "secret"


def test_secret_publishes_into_its_slot_and_conflicts_with_a_different_slot(tmp_path: Path) -> None:
    key, secret = write_secret(tmp_path)
    run(tmp_path, OPENCLAW_DEVICE_PRIVATE_KEY_FILE=str(key))
    assert json.loads((tmp_path / "ids/default/device.pub.json").read_text())["deviceId"] == secret.device_id
    assert not slot_file(tmp_path).exists()  # the private key is not copied out of the secret
    run(tmp_path, OPENCLAW_DEVICE_ID="taken", OPENCLAW_STATE_DIR=str(tmp_path / "s2"))
    with pytest.raises(IdentityConflict, match="OPENCLAW_DEVICE_PRIVATE_KEY_FILE"):
        run(tmp_path, OPENCLAW_DEVICE_PRIVATE_KEY_FILE=str(key), OPENCLAW_DEVICE_ID="taken")


def test_bad_or_missing_secret(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(IdentityCorrupt, match="OPENCLAW_DEVICE_PRIVATE_KEY_FILE") as info:
        run(tmp_path, OPENCLAW_DEVICE_PRIVATE_KEY_FILE=str(bad))
    assert str(bad) in str(info.value)
    with pytest.raises(ConfigError, match="does not exist"):
        run(tmp_path, OPENCLAW_DEVICE_PRIVATE_KEY_FILE=str(tmp_path / "missing.pem"))


def test_inherit_presents_the_parents_device(tmp_path: Path) -> None:
    parent = run(tmp_path, OPENCLAW_DEVICE_ID="parent-agent").identity
    parent_dir = tmp_path / "ids" / "parent-agent"
    before = sorted(p.name for p in parent_dir.iterdir())
    child_env = {
        "OPENCLAW_INHERIT_PARENT_DEVICE": "1",
        "OPENCLAW_PARENT_IDENTITY_DIR": str(parent_dir),
        "OPENCLAW_IDENTITY_DIR": "-",
        "OPENCLAW_STATE_DIR": str(tmp_path / "child-state"),
    }
    child = run(tmp_path, **child_env)
    assert (child.source, child.identity.device_id, child.slot) == (
        "inherited",
        parent.device_id,
        "parent-agent",
    )
    assert db_device(tmp_path / "child-state") == parent.device_id
    assert sorted(p.name for p in parent_dir.iterdir()) == before  # the parent's slot is only read
    cfg, _ = configure(tmp_path, **child_env)
    assert show(cfg).device_id == parent.device_id


def test_inherit_without_an_initialised_parent(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(IdentityError, match="OPENCLAW_PARENT_IDENTITY_DIR"):
        run(
            tmp_path,
            OPENCLAW_INHERIT_PARENT_DEVICE="1",
            OPENCLAW_PARENT_IDENTITY_DIR=str(tmp_path / "empty"),
            OPENCLAW_IDENTITY_DIR="-",
        )


def test_show_never_creates(tmp_path: Path) -> None:
    cfg, _ = configure(tmp_path)
    with pytest.raises(IdentityError, match="--init-only"):
        show(cfg)
    assert not (tmp_path / "ids").exists()


def canned_mountinfo(tmp_path: Path, fs_type: str) -> Path:
    path = tmp_path / "mountinfo"
    path.write_text(
        f"1 0 0:1 / / rw - overlay overlay rw\n2 1 0:2 / {tmp_path / 'ids'} rw - {fs_type} x rw\n"
    )
    return path


def test_persistence_warning_and_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mounts, "MOUNTINFO", canned_mountinfo(tmp_path, "tmpfs"))
    result = run(tmp_path)
    assert len(result.warnings) == 1
    assert "new device" in result.warnings[0]
    assert "OPENCLAW_REQUIRE_PERSISTENT_IDENTITY=1" in result.warnings[0]
    with pytest.raises(IdentityError, match="OPENCLAW_REQUIRE_PERSISTENT_IDENTITY=1"):
        run(tmp_path, OPENCLAW_REQUIRE_PERSISTENT_IDENTITY="1", OPENCLAW_DEVICE_ID="another")
    assert not (tmp_path / "ids/another").exists()  # refused before writing anything


def test_volume_mount_gives_no_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mounts, "MOUNTINFO", canned_mountinfo(tmp_path, "ext4"))
    assert run(tmp_path, OPENCLAW_REQUIRE_PERSISTENT_IDENTITY="1").warnings == ()


def test_unknown_version_refuses_before_writing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="OPENCLAW_IDENTITY_FORMAT"):
        run(tmp_path, OPENCLAW_VERSION="-", PATH=str(tmp_path))
    assert not (tmp_path / "ids").exists()


def test_state_lock_and_pub_do_not_disturb_a_real_openclaw_layout(tmp_path: Path) -> None:
    """Only identity/device.pub.json and identity/.entrypoint.lock are added under identity/ (≥ 2026.8
    refuses to start only on identity/device.json or .doctor-importing/.native-importing claim files)."""
    run(tmp_path)
    names = sorted(p.name for p in (tmp_path / "state/identity").iterdir())
    assert names == [".entrypoint.lock", "device.pub.json"]
    out = subprocess.run(
        ["ls", "-A", str(tmp_path / "state/state")], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["openclaw.sqlite"]


def test_a_loose_private_key_mode_is_tightened_and_said(tmp_path: Path) -> None:
    """A key kept 0644 (a copy, a restored backup) is readable by every user of the volume."""
    cfg = parse(
        [
            "--init-only",
            "--identity-dir",
            str(tmp_path / "ids"),
            "--state-dir",
            str(tmp_path / "st"),
            "--format",
            "json",
        ],
        {},
    )
    first = ensure(cfg, {})
    key = tmp_path / "ids" / "default" / "device.json"
    state_key = tmp_path / "st" / "identity" / "device.json"
    key.chmod(0o644)
    state_key.chmod(0o666)
    again = ensure(cfg, {})
    assert again.identity.device_id == first.identity.device_id
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(state_key.stat().st_mode) == 0o600
    assert any(f"{key} held a private key with mode 0644: tightened to 0600" in w for w in again.warnings)
    assert any(f"{state_key} held a private key with mode 0666" in w for w in again.warnings)
    assert not [w for w in ensure(cfg, {}).warnings if "private key" in w]  # nothing left to say
