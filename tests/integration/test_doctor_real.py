"""doctor against real situations on disk: identity files, modes, mounts, sub-agents, config and scripts.

Each test builds one broken situation for real — with the identity module openclaw-entrypoint runs, real
file modes and owners, real bind/tmpfs/read-only mounts in a private mount namespace (doctor_util) —
checks doctor's diagnosis, and where a fix is offered runs ``--fix`` and checks again. Where OpenClaw's
own behaviour is the point (a legacy identity ignored by 2026.9, a config key rejected, an approve command
that approves nothing), the real ``openclaw`` CLI shows it.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from sidecar.identity.device_file import read_identity_file, write_identity_file
from sidecar.identity.ensure import EnsureResult, ensure
from sidecar.identity.entrypoint_settings import parse
from sidecar.identity.keys import DeviceIdentity
from sidecar.identity.openclaw_state import JsonState, SqliteState
from sidecar.identity.slots import Slot
from tests.conftest import need
from tests.harness.devices import request_from
from tests.harness.gateway import RealGateway, installed, openclaw_bin, openclaw_env
from tests.integration.doctor_util import Result, base_env, run_doctor

pytestmark = pytest.mark.integration


class Agent:
    """An agent's identity volume and state dir under ``root``, with openclaw-entrypoint's variables."""

    def __init__(self, root: Path, **extra: str) -> None:
        self.root = root
        self.idir = root / "identity"
        self.state = root / "home" / ".openclaw"
        self.env = base_env(
            root / "home", OPENCLAW_IDENTITY_DIR=str(self.idir), OPENCLAW_STATE_DIR=str(self.state), **extra
        )

    @property
    def slot(self) -> Slot:
        return Slot.on_volume(self.idir, "default")

    def ensure(self) -> EnsureResult:
        return ensure(parse(["--init-only"], self.env), self.env)

    def doctor(self, *args: str, persistent: bool = True, **kw: object) -> Result:
        mounts = [self.root] if persistent else []
        return run_doctor(*args, "--workdir", str(self.root), env=self.env, persistent=mounts, **kw)  # type: ignore[arg-type]


def test_a_healthy_agent_is_healthy(tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    agent.ensure()
    result = agent.doctor()
    assert result.code == 0, result.data
    assert result.ids == []
    assert result.status("identity") == "ok"
    assert "sqlite storage" in result.data["checks"]["identity"]["summary"]
    assert "not inheriting" in result.data["checks"]["subagents"]["summary"]


def test_identity_missing_is_created_by_fix(tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    before = agent.doctor()
    assert before.code == 1
    assert before.ids == ["identity.missing"]
    fixed = agent.doctor("--fix")
    assert fixed.data["fixes"][0]["id"] == "identity.missing"
    assert fixed.data["fixes"][0]["ok"]
    assert fixed.code == 0, fixed.data
    slot_identity = agent.slot.read()
    assert slot_identity is not None
    assert SqliteState(agent.state).holds(slot_identity)  # written where OpenClaw 2026.9 reads it


def test_identity_corrupt_is_reported_and_kept(tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    agent.slot.prepare()
    agent.slot.key_file.write_text('{"version": 1, "privateKeyPem": "not a key"}\n')
    agent.slot.key_file.chmod(0o600)
    before = agent.slot.key_file.read_bytes()
    result = agent.doctor("--fix")
    assert "identity.corrupt" in result.ids
    assert str(agent.slot.key_file) in result.get("identity.corrupt")["seen"]
    assert "--regenerate" in result.get("identity.corrupt")["fix"]
    assert agent.slot.key_file.read_bytes() == before  # --fix never replaces a damaged key
    assert result.code == 1


def test_identity_conflict_is_not_resolved_by_guessing(tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    slot_id, state_id = DeviceIdentity.generate(), DeviceIdentity.generate()
    agent.slot.prepare()
    agent.slot.store(slot_id)
    SqliteState(agent.state).write(state_id)
    result = agent.doctor("--fix")
    assert result.ids == ["identity.conflict"]
    assert slot_id.device_id in result.get("identity.conflict")["seen"]
    assert state_id.device_id in result.get("identity.conflict")["seen"]
    assert "OPENCLAW_IDENTITY_ON_CONFLICT=replace-state" in result.get("identity.conflict")["fix"]
    assert agent.slot.read().device_id == slot_id.device_id  # type: ignore[union-attr]
    assert SqliteState(agent.state).holds(state_id)


def test_identity_not_adopted_is_adopted_by_fix(tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    existing = DeviceIdentity.generate()
    SqliteState(agent.state).write(existing)  # e.g. OpenClaw made it before the entrypoint was added
    assert agent.doctor().ids == ["identity.not-adopted"]
    fixed = agent.doctor("--fix")
    assert fixed.code == 0, fixed.data
    assert agent.slot.read().device_id == existing.device_id  # type: ignore[union-attr]


def test_identity_not_materialized_is_written_by_fix(tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    agent.slot.prepare()
    identity = DeviceIdentity.generate()
    agent.slot.store(identity)
    result = agent.doctor()
    assert result.ids == ["identity.not-materialized"]
    assert agent.doctor("--fix").code == 0
    assert SqliteState(agent.state).holds(identity)


def test_identity_not_published_is_published_by_fix(tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    agent.ensure()
    agent.slot.pub_file.unlink()
    stale = agent.state / "identity" / "device.pub.json"
    stale.write_text(json.dumps(DeviceIdentity.generate().public().to_json()))
    result = agent.doctor()
    assert result.ids == ["identity.not-published"]
    assert str(agent.slot.pub_file) in result.get("identity.not-published")["seen"]
    assert agent.doctor("--fix").code == 0
    assert json.loads(stale.read_text())["deviceId"] == agent.slot.read().device_id  # type: ignore[union-attr]


def test_identity_not_persistent_writable_layer_tmpfs_and_bind(tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    agent.ensure()
    # No mount: the directory is on this container's root file system (its writable layer).
    layer = agent.doctor(persistent=False)
    assert layer.ids == ["identity.not-persistent"]
    assert "root file system" in layer.get("identity.not-persistent")["seen"]
    assert f"mount a volume at {agent.idir}" in layer.get("identity.not-persistent")["fix"]
    # A real bind mount: persistent.
    assert agent.doctor(persistent=True).code == 0
    # A real tmpfs: --fix creates the identity there, and the next start has lost it.
    vol = Agent(tmp_path / "tmpfs-agent")
    vol.idir.mkdir(parents=True)
    created = run_doctor("--fix", env=vol.env, tmpfs=[vol.idir], persistent=[vol.state.parent.parent])
    assert created.data["fixes"][0]["id"] == "identity.missing"
    assert created.ids == ["identity.not-persistent"]
    assert "tmpfs" in created.get("identity.not-persistent")["seen"]
    again = run_doctor(env=vol.env, tmpfs=[vol.idir], persistent=[vol.state.parent.parent])
    assert "identity.missing" in again.ids or "identity.not-adopted" in again.ids  # the slot is gone


def test_identity_wrong_owner_is_chowned_by_fix(tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    agent.ensure()  # as root with OPENCLAW_UID=0: everything owned by root
    as_node = ("--uid", "1000", "--gid", "1000")
    result = agent.doctor(*as_node)
    assert result.ids == ["identity.wrong-owner"]
    assert "chown 1000:1000" in result.get("identity.wrong-owner")["fix"]
    fixed = agent.doctor(*as_node, "--fix")
    assert fixed.code == 0, fixed.data
    assert agent.slot.key_file.stat().st_uid == 1000
    assert (agent.state / "state" / "openclaw.sqlite").stat().st_uid == 1000


def test_identity_unsafe_modes_are_tightened_by_fix(tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    agent.ensure()
    agent.slot.key_file.chmod(0o644)
    agent.slot.directory.chmod(0o777)
    result = agent.doctor()
    assert result.ids == ["identity.unsafe-mode"]
    assert f"chmod 600 {agent.slot.key_file}" in result.get("identity.unsafe-mode")["fix"]
    assert agent.doctor("--fix").code == 0
    assert stat.S_IMODE(agent.slot.key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(agent.slot.directory.stat().st_mode) == 0o755


def test_identity_config_invalid(tmp_path: Path) -> None:
    agent = Agent(tmp_path, OPENCLAW_DEVICE_ID="../escape")
    result = agent.doctor()
    assert "identity.config-invalid" in result.ids
    assert "OPENCLAW_DEVICE_ID" in result.get("identity.config-invalid")["fix"]


def test_identity_format_unknown(tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    del agent.env["OPENCLAW_VERSION"]  # and no openclaw on PATH, nothing in the state dir
    result = agent.doctor()
    assert "identity.format-unknown" in result.ids
    assert "OPENCLAW_VERSION" in result.get("identity.format-unknown")["fix"]


# --- the storage eras --------------------------------------------------------------------------------


def _cli_device_request(gw: RealGateway, client_ns: object, state: Path) -> dict[str, object]:
    """Run the real one-shot `openclaw devices list` from the remote namespace with this state dir."""
    import subprocess

    env = openclaw_env(state.parent, OPENCLAW_STATE_DIR=str(state), OPENCLAW_ALLOW_INSECURE_PRIVATE_WS="1")
    argv = [
        str(openclaw_bin(gw.version)),
        "devices",
        "list",
        "--url",
        gw.url_via(client_ns.host_ip),  # type: ignore[attr-defined]
        "--token",
        gw.token,
        "--json",
    ]
    done = subprocess.run(client_ns.exec_argv(argv), env=env, capture_output=True, text=True, timeout=90)  # type: ignore[attr-defined]
    return {"code": done.returncode, "out": done.stdout + done.stderr}


def test_legacy_json_in_sqlite_state_is_imported_by_fix(
    gateway96: RealGateway, client_ns: object, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    state = home / ".openclaw"
    legacy = DeviceIdentity.generate()
    (state / "identity").mkdir(parents=True)
    write_identity_file(state / "identity" / "device.json", legacy)
    env = base_env(home, OPENCLAW_STATE_DIR=str(state))
    result = run_doctor("--workdir", str(tmp_path), env=env, persistent=[tmp_path])
    assert result.ids == ["identity.legacy-json-in-sqlite-state"]
    assert "OPENCLAW_STATE_DIR=" + str(state) in result.get("identity.legacy-json-in-sqlite-state")["fix"]

    # Real OpenClaw 2026.9.6 does not present the legacy file: its one-shot CLI connects without identity.
    before = _cli_device_request(gateway96, client_ns, state)
    assert "missing scope: operator.pairing" in str(before["out"]), before
    assert not [
        p for p in gateway96.cli_json("devices", "list")["pending"] if p["deviceId"] == legacy.device_id
    ]

    fixed = run_doctor("--fix", "--workdir", str(tmp_path), env=env, persistent=[tmp_path])
    assert fixed.code == 0, fixed.data
    assert not (state / "identity" / "device.json").exists()
    (backup,) = (state / "identity").glob("device.json.imported-*")
    assert read_identity_file(backup).device_id == legacy.device_id  # type: ignore[union-attr]
    assert SqliteState(state).holds(legacy)

    # ... and after the fix the real CLI presents exactly that device.
    after = _cli_device_request(gateway96, client_ns, state)
    assert "pairing required" in str(after["out"]), after
    pending = [
        p for p in gateway96.cli_json("devices", "list")["pending"] if p["deviceId"] == legacy.device_id
    ]
    assert len(pending) == 1


def test_legacy_json_conflicting_with_sqlite_is_left_alone(tmp_path: Path) -> None:
    state = tmp_path / "home" / ".openclaw"
    row, legacy = DeviceIdentity.generate(), DeviceIdentity.generate()
    SqliteState(state).write(row)
    (state / "identity").mkdir()
    write_identity_file(state / "identity" / "device.json", legacy)
    env = base_env(tmp_path / "home", OPENCLAW_STATE_DIR=str(state))
    result = run_doctor("--fix", "--workdir", str(tmp_path), env=env, persistent=[tmp_path])
    assert result.ids == ["identity.legacy-conflict"]
    assert result.data["fixes"] == []
    assert read_identity_file(state / "identity" / "device.json").device_id == legacy.device_id  # type: ignore[union-attr]


def test_sqlite_identity_in_json_era_is_exported_by_fix(tmp_path: Path) -> None:
    state = tmp_path / "home" / ".openclaw"
    identity = DeviceIdentity.generate()
    SqliteState(state).write(identity)  # e.g. seeded for 2026.9, but the agent runs 2026.2.26
    env = base_env(tmp_path / "home", OPENCLAW_STATE_DIR=str(state), OPENCLAW_VERSION="2026.2.26")
    result = run_doctor("--workdir", str(tmp_path), env=env, persistent=[tmp_path])
    assert result.ids == ["identity.sqlite-in-json-era"]
    fixed = run_doctor("--fix", "--workdir", str(tmp_path), env=env, persistent=[tmp_path])
    assert fixed.code == 0, fixed.data
    assert JsonState(state).holds(identity)


# --- sub-agents ----------------------------------------------------------------------------------------


def _sub_agent(tmp_path: Path) -> tuple[Agent, Path, dict[str, str]]:
    parent = Agent(tmp_path / "parent")
    parent.ensure()
    child_state = tmp_path / "child" / ".openclaw"
    env = base_env(
        tmp_path / "child",
        OPENCLAW_INHERIT_PARENT_DEVICE="1",
        OPENCLAW_PARENT_IDENTITY_DIR=str(parent.slot.directory),
        OPENCLAW_STATE_DIR=str(child_state),
    )
    return parent, child_state, env


def test_subagent_inherits_parent_from_read_only_mount(tmp_path: Path) -> None:
    parent, _, env = _sub_agent(tmp_path)
    ensure(parse(["--init-only"], env), env)
    result = run_doctor(
        "--workdir", str(tmp_path), env=env, persistent=[tmp_path], read_only=[parent.slot.directory]
    )
    assert result.ids == ["subagent.inherits-parent"]
    assert result.code == 0, result.data
    assert parent.slot.read().device_id[:12] in result.get("subagent.inherits-parent")["seen"]  # type: ignore[union-attr]


def test_subagent_parent_mounted_writable(tmp_path: Path) -> None:
    parent, _, env = _sub_agent(tmp_path)
    ensure(parse(["--init-only"], env), env)
    result = run_doctor("--workdir", str(tmp_path), env=env, persistent=[tmp_path])
    assert sorted(result.ids) == ["subagent.inherits-parent", "subagent.parent-writable"]
    assert f"mount {parent.slot.directory} read-only" in result.get("subagent.parent-writable")["fix"]


def test_subagent_parent_identity_missing(tmp_path: Path) -> None:
    empty = tmp_path / "parent-slot"
    empty.mkdir()
    env = base_env(
        tmp_path / "child",
        OPENCLAW_INHERIT_PARENT_DEVICE="1",
        OPENCLAW_PARENT_IDENTITY_DIR=str(empty),
        OPENCLAW_STATE_DIR=str(tmp_path / "child" / ".openclaw"),
    )
    result = run_doctor("--workdir", str(tmp_path), env=env, persistent=[tmp_path])
    assert result.ids == ["subagent.parent-identity-missing"]
    assert str(empty) in result.get("subagent.parent-identity-missing")["fix"]


# --- config and script hazards -------------------------------------------------------------------------


def _scan(tmp_path: Path, env_home: Path | None = None) -> Result:
    env = base_env(env_home or tmp_path / "nohome")
    return run_doctor("--workdir", str(tmp_path), env=env, persistent=[tmp_path])


def test_dangerously_disable_device_auth_in_openclaw_json(tmp_path: Path) -> None:
    state = tmp_path / "home" / ".openclaw"
    state.mkdir(parents=True)
    (state / "openclaw.json").write_text(
        json.dumps({"gateway": {"controlUi": {"dangerouslyDisableDeviceAuth": True}}}, indent=2)
    )
    result = _scan(tmp_path, tmp_path / "home")
    assert "config.dangerously-disable-device-auth" in result.ids
    assert f"{state / 'openclaw.json'}:4" in result.get("config.dangerously-disable-device-auth")["fix"]


def test_inherit_parent_device_key_is_rejected_by_real_openclaw(tmp_path: Path) -> None:
    state = tmp_path / "home" / ".openclaw"
    state.mkdir(parents=True)
    config = {"gateway": {"mode": "local", "session": {"inheritParentDevice": True}}}
    (state / "openclaw.json").write_text(json.dumps(config, indent=2))
    result = _scan(tmp_path, tmp_path / "home")
    assert "config.inherit-parent-device-key" in result.ids
    need(installed("2026.9.6"), "openclaw 2026.9.6", "Run `scripts/provision-node.sh` (make test does).")
    import subprocess

    done = subprocess.run(
        [str(openclaw_bin("2026.9.6")), "config", "validate"],
        env=openclaw_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode != 0, done.stdout  # OpenClaw's closed schema rejects the key doctor flags


def test_script_approve_latest_approves_nothing_for_real(
    gateway96: RealGateway, client_ns: object, tmp_path: Path
) -> None:
    (tmp_path / "approve.sh").write_text("#!/bin/sh\nopenclaw devices approve --latest\n")
    result = _scan(tmp_path)
    assert result.ids == ["script.approve-latest"]
    assert f"{tmp_path / 'approve.sh'}:2" in result.get("script.approve-latest")["fix"]
    attempt = request_from(client_ns, gateway96)  # type: ignore[arg-type]
    done = gateway96.cli("devices", "approve", "--latest")
    assert done.returncode == 1
    assert attempt.request_id in done.stdout + done.stderr  # it only previews the request ...
    pending = [p["requestId"] for p in gateway96.cli_json("devices", "list")["pending"]]
    assert attempt.request_id in pending  # ... which stays pending


@pytest.mark.parametrize("version", ["2026.9.6", "2026.2.26"])
def test_script_approve_all_never_existed(version: str, tmp_path: Path) -> None:
    (tmp_path / "compose.yml").write_text(
        'services:\n  approver:\n    command: ["devices", "approve", "--all"]\n'
    )
    result = _scan(tmp_path)
    assert result.ids == ["script.approve-all"]
    need(installed(version), f"openclaw {version}", "Run `scripts/provision-node.sh` (make test does).")
    import subprocess

    done = subprocess.run(
        [str(openclaw_bin(version)), "devices", "approve", "--all"],
        env=openclaw_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode != 0
    assert "--all" in done.stdout + done.stderr


def test_compose_volume_at_app_openclaw(tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  agent:\n    image: openclaw/openclaw:2026.9.6\n"
        "    volumes:\n      - ./device:/app/.openclaw/device\n"
    )
    result = _scan(tmp_path)
    assert result.ids == ["compose.app-openclaw-device-mount"]
    assert "/home/node/.openclaw" in result.get("compose.app-openclaw-device-mount")["fix"]
