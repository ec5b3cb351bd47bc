"""entrypoint.py driven as a real process: exec, exit codes, concurrency, SIGKILL, read-only volumes."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sidecar.identity.device_file import read_identity_file
from sidecar.identity.keys import DeviceIdentity

REPO = Path(__file__).resolve().parents[2]


def skip_or_fail(reason: str) -> None:
    """Skip on a developer machine; fail where skipping is forbidden (OPENCLAW_TEST_REQUIRE=1 / CI=true)."""
    if os.environ.get("OPENCLAW_TEST_REQUIRE") == "1" or os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (skipping is forbidden here)")
    pytest.skip(reason)


ENTRYPOINT = [sys.executable, str(REPO / "entrypoint.py")]
READY = re.compile(r"^identity ready device=([0-9a-f]{12}) slot=(\S+) source=(\S+)$", re.M)


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "OPENCLAW_IDENTITY_DIR": str(tmp_path / "ids"),
        "OPENCLAW_STATE_DIR": str(tmp_path / "state"),
        "OPENCLAW_VERSION": "2026.9.6",
        "OPENCLAW_UID": str(os.getuid()),
        "OPENCLAW_GID": str(os.getgid()),
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v != "-"}


def entrypoint(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ENTRYPOINT, *args],
        env=env or env_for(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def db_device(state: Path) -> str | None:
    db = state / "state" / "openclaw.sqlite"
    if not db.exists():
        return None
    with sqlite3.connect(db) as con:
        row = con.execute("SELECT device_id FROM device_identities WHERE identity_key='primary'").fetchone()
    return None if row is None else str(row[0])


def test_execs_the_command_with_its_exit_code_and_pid(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            *ENTRYPOINT,
            "--",
            "sh",
            "-c",
            'echo "$$ $OPENCLAW_DEVICE_IDENTITY_FILE $OPENCLAW_STATE_DIR"; exit 7',
        ],
        env=env_for(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 7
    pid, identity_file, state_dir = out.split()
    assert int(pid) == proc.pid  # exec'd in place: the agent owns the PID, its signals and exit code
    assert identity_file == str(tmp_path / "ids/default/device.json")
    assert state_dir == str(tmp_path / "state")
    match = READY.search(err)
    assert match is not None, err
    identity = read_identity_file(Path(identity_file))
    assert identity is not None
    assert match.groups() == (identity.device_id[:12], "default", "created")


def test_signals_reach_the_agent(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*ENTRYPOINT, "--", "sh", "-c", "trap 'exit 42' TERM; echo up; while :; do sleep 0.05; done"],
        env=env_for(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "up"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 42
    proc.communicate()


def test_init_only_then_show(tmp_path: Path) -> None:
    init = entrypoint(tmp_path, "--init-only")
    assert init.returncode == 0, init.stderr
    assert init.stdout == ""
    shown = entrypoint(tmp_path, "--show")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    published = json.loads((tmp_path / "state/identity/device.pub.json").read_text())
    # The published document adds where the private half was written for the agent and the OpenClaw
    # release that was decided from (env_for sets OPENCLAW_VERSION).
    assert published == {**document, "storage": "sqlite", "openclawVersion": "2026.9.6"}
    assert set(document) == {"deviceId", "publicKey", "publicKeyPem", "createdAtMs", "slot"}
    assert db_device(tmp_path / "state") == document["deviceId"]
    again = entrypoint(tmp_path, "--init-only")
    assert "source=existing" in again.stderr


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        ((), 2, "no command"),
        (("--init-only", "--doctor"), 2, "--doctor"),
        (("--bogus", "--init-only"), 2, "--bogus"),
        (("--", "/nonexistent/agent"), 127, "command not found"),
    ],
)
def test_usage_errors(tmp_path: Path, args: tuple[str, ...], code: int, text: str) -> None:
    result = entrypoint(tmp_path, *args)
    assert result.returncode == code
    assert text in result.stderr


def test_doctor_runs_the_doctor_with_this_containers_environment(tmp_path: Path) -> None:
    """`--doctor` first: the same checks as `openclaw-sidecar doctor`, reading the entrypoint's env."""
    before = entrypoint(tmp_path, "--doctor", "--json")
    report = json.loads(before.stdout)
    assert report["version"] == 1
    assert before.returncode == report["exitCode"] != 0, before.stderr
    assert "identity.missing" in {f["id"] for f in report["findings"]}
    assert entrypoint(tmp_path, "--init-only").returncode == 0
    after = json.loads(entrypoint(tmp_path, "--doctor", "--json").stdout)
    assert "identity.missing" not in {f["id"] for f in after["findings"]}


def test_corrupt_identity_exit_code_message_and_regenerate(tmp_path: Path) -> None:
    slot_file = tmp_path / "ids/default/device.json"
    slot_file.parent.mkdir(parents=True)
    slot_file.write_text("{oops")
    result = entrypoint(tmp_path, "--", "true")
    assert result.returncode == 3
    assert str(slot_file) in result.stderr
    assert "--regenerate" in result.stderr
    assert slot_file.read_text() == "{oops"
    fixed = entrypoint(tmp_path, "--regenerate", "--init-only")
    assert fixed.returncode == 0, fixed.stderr
    assert "source=created" in fixed.stderr
    assert "kept the damaged identity as" in fixed.stderr
    assert [p.read_text() for p in slot_file.parent.glob("device.json.corrupt-*")] == ["{oops"]


def test_conflict_exit_code(tmp_path: Path) -> None:
    assert entrypoint(tmp_path, "--init-only").returncode == 0
    other = entrypoint(
        tmp_path, "--init-only", OPENCLAW_DEVICE_ID="b", OPENCLAW_STATE_DIR=str(tmp_path / "s2")
    )
    assert other.returncode == 0
    clash = entrypoint(tmp_path, "--init-only", OPENCLAW_STATE_DIR=str(tmp_path / "s2"))
    assert clash.returncode == 4
    assert "OPENCLAW_IDENTITY_ON_CONFLICT" in clash.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_root_chowns_and_drops_to_the_agent_user(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    result = entrypoint(
        tmp_path, "--", "sh", "-c", "id -u; id -g; id -G", OPENCLAW_UID="4242", OPENCLAW_GID="4343"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["4242", "4343", "4343"]
    for rel in ("ids/default/device.json", "state/state/openclaw.sqlite", "state/identity/device.pub.json"):
        st = (tmp_path / rel).stat()
        assert (st.st_uid, st.st_gid) == (4242, 4343)


def test_twenty_entrypoints_at_once_make_one_identity(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    procs = [
        subprocess.Popen([*ENTRYPOINT, "--init-only"], env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(20)
    ]
    lines = []
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        match = READY.search(err)
        assert match is not None, err
        lines.append(match.groups())
    assert len({device for device, _, _ in lines}) == 1
    assert [source for _, _, source in lines].count("created") == 1
    identity = read_identity_file(tmp_path / "ids/default/device.json")
    assert identity is not None
    assert identity.device_id[:12] == lines[0][0]
    assert db_device(tmp_path / "state") == identity.device_id
    assert sorted(p.name for p in (tmp_path / "ids").iterdir()) == ["default"]


def test_sigkill_at_random_points_leaves_complete_or_no_files(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    start = time.monotonic()
    assert (
        subprocess.run([*ENTRYPOINT, "--init-only"], env=env, capture_output=True, check=False).returncode
        == 0
    )
    typical = time.monotonic() - start
    rng = random.Random(1234)
    for n in range(20):
        slot_env = {**env, "OPENCLAW_DEVICE_ID": f"s{n}", "OPENCLAW_STATE_DIR": str(tmp_path / f"state{n}")}
        proc = subprocess.Popen([*ENTRYPOINT, "--init-only"], env=slot_env, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.75, 1.05) * typical)  # around the write window
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        slot_file = tmp_path / "ids" / f"s{n}" / "device.json"
        in_slot = read_identity_file(slot_file)  # raises if partial
        in_db = db_device(tmp_path / f"state{n}")  # raises if the database is damaged
        if in_db is not None:
            assert in_slot is not None
            assert in_db == in_slot.device_id
        rerun = subprocess.run(
            [*ENTRYPOINT, "--init-only"], env=slot_env, capture_output=True, text=True, check=False
        )
        assert rerun.returncode == 0, rerun.stderr
        final = read_identity_file(slot_file)
        assert final is not None
        if in_slot is not None:
            assert final.device_id == in_slot.device_id  # a completed identity is never replaced
        assert db_device(tmp_path / f"state{n}") == final.device_id


def _in_mount_namespace(
    tmp_path: Path, vol: Path, argv: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run argv with ``vol`` bind-mounted read-only onto itself, in a private mount namespace."""
    script = f'mount --bind "{vol}" "{vol}" && mount -o remount,bind,ro "{vol}" && exec "$@"'
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0 and "unshare:" in result.stderr:
        skip_or_fail(f"cannot create a mount namespace here: {result.stderr.strip()}")
    return result


def test_read_only_identity_volume(tmp_path: Path) -> None:
    assert entrypoint(tmp_path, "--init-only").returncode == 0
    device = json.loads((tmp_path / "ids/default/device.pub.json").read_text())["deviceId"]
    vol = tmp_path / "ids"
    fresh_state = env_for(tmp_path, OPENCLAW_STATE_DIR=str(tmp_path / "recreated"))
    ok = _in_mount_namespace(tmp_path, vol, [*ENTRYPOINT, "--", "true"], fresh_state)
    assert ok.returncode == 0, ok.stderr
    assert "source=existing" in ok.stderr
    assert db_device(tmp_path / "recreated") == device
    new_slot = {**fresh_state, "OPENCLAW_DEVICE_ID": "new", "OPENCLAW_STATE_DIR": str(tmp_path / "s3")}
    refused = _in_mount_namespace(tmp_path, vol, [*ENTRYPOINT, "--", "true"], new_slot)
    assert refused.returncode == 5
    assert "read-only" in refused.stderr
    assert str(vol / "new") in refused.stderr


def test_secret_and_inherit_through_the_cli(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    secret = DeviceIdentity.generate()
    key.write_text(secret.private_key_pem)
    result = entrypoint(
        tmp_path, "--init-only", OPENCLAW_DEVICE_PRIVATE_KEY_FILE=str(key), OPENCLAW_IDENTITY_DIR="-"
    )
    assert result.returncode == 0, result.stderr
    assert f"device={secret.device_id[:12]} slot=default source=secret" in result.stderr
    parent_dir = tmp_path / "ids" / "default"
    entrypoint(tmp_path, "--init-only")
    parent = read_identity_file(parent_dir / "device.json")
    assert parent is not None
    child = entrypoint(
        tmp_path,
        "--",
        "sh",
        "-c",
        "echo $OPENCLAW_DEVICE_IDENTITY_FILE",
        OPENCLAW_INHERIT_PARENT_DEVICE="1",
        OPENCLAW_PARENT_IDENTITY_DIR=str(parent_dir),
        OPENCLAW_IDENTITY_DIR="-",
        OPENCLAW_STATE_DIR=str(tmp_path / "child"),
    )
    assert child.returncode == 0, child.stderr
    assert f"device={parent.device_id[:12]} slot=default source=inherited" in child.stderr
    assert child.stdout.strip() == str(parent_dir / "device.json")
    rejected = entrypoint(
        tmp_path,
        "--init-only",
        OPENCLAW_INHERIT_PARENT_DEVICE="1",
        OPENCLAW_PARENT_IDENTITY_DIR=str(parent_dir),
        OPENCLAW_DEVICE_PRIVATE_KEY_FILE=str(key),
    )
    assert rejected.returncode == 2
    assert "OPENCLAW_DEVICE_PRIVATE_KEY_FILE" in rejected.stderr


def test_imports_only_stdlib_cryptography_and_sidecar_identity() -> None:
    code = "import sys; import entrypoint; print('\\n'.join(sorted(m for m in sys.modules if '.' not in m)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    third_party = set(out.split()) - set(sys.stdlib_module_names) - {"entrypoint", "sidecar", "cryptography"}
    third_party = {m for m in third_party if not m.startswith("_")}
    assert third_party == set()
    code = "import sys, entrypoint; print(sorted(m for m in sys.modules if m.startswith('sidecar.')))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    modules = eval(out)  # noqa: S307 - our own subprocess's repr of a list of str
    shared = {"sidecar.errors", "sidecar.exitcodes", "sidecar.envvars"}  # stdlib-only tables
    assert all(m in shared or m.startswith("sidecar.identity") for m in modules), modules
    # Pre-pairing (sidecar.prepair: needs websockets) is imported only when OPENCLAW_PREPAIR_ROLE is set.
    assert not any(m.startswith(("sidecar.prepair", "sidecar.gateway")) for m in modules), modules


def test_prepair_stops_at_its_timeout_with_its_own_exit_code(tmp_path: Path) -> None:
    """An unreachable gateway: progress lines, then exit 7 naming the variable; the identity is kept."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "OPENCLAW_IDENTITY_DIR": str(tmp_path / "ids"),
        "OPENCLAW_UID": str(os.getuid()),
        "OPENCLAW_GID": str(os.getgid()),
        "OPENCLAW_IDENTITY_FORMAT": "json",
        "OPENCLAW_GATEWAY_URL": "ws://127.0.0.1:9",
        "OPENCLAW_PREPAIR_ROLE": "node",
        "OPENCLAW_PREPAIR_TIMEOUT": "2",
    }
    done = subprocess.run(
        [sys.executable, str(REPO / "entrypoint.py"), "--init-only"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 7, done.stderr
    assert "pre-pairing: connecting to ws://127.0.0.1:9 as the agent will (role=node" in done.stderr
    assert "not answering yet" in done.stderr
    assert "OPENCLAW_PREPAIR_TIMEOUT" in done.stderr
    assert (tmp_path / "ids" / "default" / "device.pub.json").exists()


def test_prepair_refuses_a_bad_role_before_connecting(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "OPENCLAW_IDENTITY_DIR": str(tmp_path / "ids"),
        "OPENCLAW_UID": str(os.getuid()),
        "OPENCLAW_GID": str(os.getgid()),
        "OPENCLAW_IDENTITY_FORMAT": "json",
        "OPENCLAW_PREPAIR_ROLE": "admin",
    }
    done = subprocess.run(
        [sys.executable, str(REPO / "entrypoint.py"), "--init-only"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr
    assert "OPENCLAW_PREPAIR_ROLE='admin' is not one of: node, operator" in done.stderr
