"""Identity under stress: real entrypoint processes (and two real containers) on one identity volume.

Every run must end in one valid identity or a clear refusal (exit code + the file and the fix); never a
silently new device. "Identities lost" counts runs where a device that was already visible on disk (slot
key, published document, OpenClaw's store) was replaced by another.

- kill -9 at *every* file-system and SQLite step of creation and materialization (json and sqlite eras),
  then a normal run;
- concurrent entrypoints on one volume from two containers at once;
- disk full (a small tmpfs in a private mount namespace), then space freed;
- wrong owner and modes on the key files;
- truncated and corrupt key files, a corrupt OpenClaw database;
- the OpenClaw database locked by another writer;
- a legacy identity/device.json of another device left in a SQLite-era state dir.
(20 concurrent entrypoints, random-point SIGKILL and a read-only volume are in tests/unit/test_entrypoint.py;
they are counted in the table when they run in the same session.)
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sidecar.identity.device_file import read_identity_file
from tests.reliability.realworld import HOOKS, ROOT
from tests.reliability.tally import Tally, scale

CATEGORY = "identity"
ENTRYPOINT = [sys.executable, str(ROOT / "entrypoint.py")]


def env_for(base: Path, fmt: str = "sqlite", **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(base / "home"),
        "OPENCLAW_IDENTITY_DIR": str(base / "ids"),
        "OPENCLAW_STATE_DIR": str(base / "state"),
        "OPENCLAW_VERSION": "2026.9.6" if fmt == "sqlite" else "2026.7.35",
        "OPENCLAW_IDENTITY_FORMAT": fmt,
        "OPENCLAW_UID": str(os.getuid()),
        "OPENCLAW_GID": str(os.getgid()),
        "PYTHONPATH": f"{HOOKS}:{ROOT}",
    }
    env.update(extra)
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ENTRYPOINT, "--init-only", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def visible(base: Path) -> set[str]:
    """Every device id on disk: slot key, published documents, OpenClaw's json or SQLite store.
    Raises if a key file is partial (read_identity_file refuses damaged files)."""
    found: set[str] = set()
    for key in (base / "ids").glob("*/device.json"):
        ident = read_identity_file(key)
        if ident is not None:
            found.add(ident.device_id)
    for pub in [*(base / "ids").glob("*/device.pub.json"), base / "state/identity/device.pub.json"]:
        if pub.exists():
            found.add(json.loads(pub.read_text())["deviceId"])
    legacy = base / "state/identity/device.json"
    if legacy.exists():
        found.add(json.loads(legacy.read_text())["deviceId"])
    db = base / "state/state/openclaw.sqlite"
    if db.exists():
        with sqlite3.connect(db) as conn:
            try:
                rows = conn.execute("SELECT device_id FROM device_identities").fetchall()
            except sqlite3.OperationalError:
                rows = []
        found |= {r[0] for r in rows}
    return found


def final_identity(base: Path) -> str:
    ids = visible(base)
    assert len(ids) == 1, f"stores disagree: {ids}"
    return ids.pop()


def clear_refusal(done: subprocess.CompletedProcess[str]) -> bool:
    return done.returncode in (3, 4, 5, 6) and "/" in done.stderr and len(done.stderr.strip()) > 40


@pytest.mark.parametrize("fmt", ["sqlite", "json"])
def test_kill9_at_every_step_of_creation_and_materialization(fmt: str, tmp_path: Path, tally: Tally) -> None:
    dry = tmp_path / "dry"
    steps_file = tmp_path / "steps"
    done = run(env_for(dry, fmt, RELIABILITY_KILL_AT="0", RELIABILITY_STEPS_FILE=str(steps_file)))
    assert done.returncode == 0, done.stderr
    total = int(steps_file.read_text())
    stride = max(1, total // scale(60, 10_000))
    lost = refusals = 0
    for n in range(1, total + 1, stride):
        base = tmp_path / f"k{n}"
        killed = run(env_for(base, fmt, RELIABILITY_KILL_AT=str(n)))
        tally.fault(f"entrypoint kill -9 at step n ({fmt})")
        assert killed.returncode in (-9, 0), killed.stderr
        before = visible(base)  # raises on a partial key file
        again = run(env_for(base, fmt))
        tally.inputs(2)
        if again.returncode != 0:
            assert clear_refusal(again), (n, again.returncode, again.stderr)
            refusals += 1
            continue
        after = final_identity(base)
        if before and after not in before:
            lost += 1
    tally.identities_lost(lost)
    tally.measure(f"kill -9 steps in one {fmt} creation", total, "steps")
    if refusals:
        tally.measure(f"clear refusals after a kill -9 ({fmt})", refusals, "runs")
    assert lost == 0


def test_two_containers_at_once_on_one_volume_make_one_identity(
    docker_client: Any, run_label: dict[str, str], tmp_path: Path, tally: Tally
) -> None:
    from tests.harness.agents import IMAGE, SITE

    vol = tmp_path / "vol"
    vol.mkdir()
    n = scale(8, 40)
    script = (
        f"for i in $(seq {n}); do python3 /src/entrypoint.py --init-only 2>>/vol/log-$HOSTNAME & done; wait"
    )
    containers = [
        docker_client.containers.run(
            IMAGE,
            ["sh", "-c", script],
            detach=True,
            network_mode="none",
            labels=run_label,
            environment={
                "OPENCLAW_IDENTITY_DIR": "/vol/ids",
                "OPENCLAW_STATE_DIR": "/vol/state",
                "OPENCLAW_VERSION": "2026.9.6",
                "OPENCLAW_UID": "0",
                "OPENCLAW_GID": "0",
                "HOME": "/root",
                "PYTHONPATH": "/src:/opt/site",
                "PYTHONDONTWRITEBYTECODE": "1",
            },
            volumes={
                str(ROOT): {"bind": "/src", "mode": "ro"},
                str(SITE): {"bind": "/opt/site", "mode": "ro"},
                str(vol): {"bind": "/vol", "mode": "rw"},
            },
        )
        for _ in range(2)
    ]
    for c in containers:
        assert c.wait(timeout=180)["StatusCode"] == 0
        c.remove()
    logs = "".join(p.read_text() for p in vol.glob("log-*"))
    created = logs.count("source=created")
    ready = logs.count("identity ready")
    tally.inputs(2 * n)
    assert ready == 2 * n, logs[-2000:]
    assert created == 1, logs[-2000:]
    base = tmp_path / "check"
    base.mkdir()
    (base / "ids").symlink_to(vol / "ids")
    (base / "state").symlink_to(vol / "state")
    final_identity(base)


def test_disk_full_then_space_freed(tmp_path: Path, tally: Tally) -> None:
    base = tmp_path / "full"
    (base / "ids").mkdir(parents=True)
    env = env_for(base)
    check = (
        "import json,sys; sys.path[:0]=[sys.argv[1]];"
        "from tests.reliability.test_identity_stress import visible; from pathlib import Path;"
        "print('VISIBLE ' + json.dumps(sorted(visible(Path(sys.argv[2])))))"
    )
    ids = base / "ids"
    script = f"""
mount -t tmpfs -o size=64k tmpfs "{ids}" || exit 99
head -c 60000 /dev/zero > "{ids}/filler" 2>/dev/null; head -c 8000 /dev/zero >> "{ids}/filler" 2>/dev/null
"$@" --init-only; echo "RC1 $?"
"{sys.executable}" -c "{check}" "{ROOT}" "{base}"
rm -f "{ids}/filler"
"$@" --init-only; echo "RC2 $?"
"{sys.executable}" -c "{check}" "{ROOT}" "{base}"
"""
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *ENTRYPOINT],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "RC1" in done.stdout, (done.returncode, done.stdout, done.stderr)
    tally.fault("disk full (64 KiB tmpfs)")
    tally.inputs(2)
    lines = done.stdout.splitlines()
    rc1 = int(next(line for line in lines if line.startswith("RC1")).split()[1])
    rc2 = int(next(line for line in lines if line.startswith("RC2")).split()[1])
    seen = [json.loads(line[8:]) for line in lines if line.startswith("VISIBLE ")]
    assert rc1 != 0, done.stderr
    assert "space" in done.stderr.lower() or str(ids) in done.stderr, done.stderr
    assert rc2 == 0, done.stderr
    assert len(seen[1]) == 1, seen
    if seen[0]:
        assert seen[0] == seen[1], seen  # whatever was visible when full is what survives
        tally.identities_lost(int(seen[0] != seen[1]))


def test_wrong_owner_and_modes_keep_the_device_or_refuse(tmp_path: Path, tally: Tally) -> None:
    env = env_for(tmp_path)
    assert run(env).returncode == 0
    device = final_identity(tmp_path)
    key = tmp_path / "ids/default/device.json"
    cases = [(0o644, None), (0o600, 12345), (0o000, None), (0o666, 54321)]
    lost = 0
    loose: list[str] = []
    for mode, uid in cases:
        os.chmod(key, mode)
        if uid is not None:
            os.chown(key, uid, uid)
        done = run(env)
        tally.inputs()
        if done.returncode == 0:
            lost += int(final_identity(tmp_path) != device)
            st = key.stat()
            if st.st_mode & 0o077:  # an existing key's loose mode must be tightened, and said
                loose.append(f"{oct(mode)}→{oct(st.st_mode & 0o777)}")
            elif mode & 0o077:
                assert f"{key} held a private key with mode {mode:04o}: tightened" in done.stderr
        else:
            assert clear_refusal(done), done.stderr
            assert str(key) in done.stderr
        os.chmod(key, 0o600)
        os.chown(key, os.getuid(), os.getgid())
    tally.identities_lost(lost)
    assert loose == [], f"private key left group/world-readable after a successful start: {loose}"
    assert lost == 0


def test_truncated_and_corrupt_files_are_refused_by_name_and_kept(tmp_path: Path, tally: Tally) -> None:
    env = env_for(tmp_path)
    assert run(env).returncode == 0
    device = final_identity(tmp_path)
    key = tmp_path / "ids/default/device.json"
    good = key.read_bytes()
    cuts = list(range(0, len(good), max(1, len(good) // scale(24, 200))))
    variants = [good[:n] for n in cuts] + [b"\x00" * 64, b"{}", b"[]", good.replace(b"-----", b"=====", 1)]
    lost = 0
    for data in variants:
        key.write_bytes(data)
        done = run(env)
        tally.inputs()
        assert done.returncode == 3, (data[:40], done.returncode, done.stderr)
        assert str(key) in done.stderr
        assert "--regenerate" in done.stderr
        assert key.read_bytes() == data  # kept for forensics, never overwritten
        pub = json.loads((tmp_path / "ids/default/device.pub.json").read_text())["deviceId"]
        lost += int(pub != device)
    key.write_bytes(good)
    db = tmp_path / "state/state/openclaw.sqlite"
    db.write_bytes(db.read_bytes()[:100])  # OpenClaw's store damaged: the slot is the source of truth
    done = run(env)
    tally.inputs()
    if done.returncode == 0:
        lost += int(final_identity(tmp_path) != device)
    else:
        assert clear_refusal(done), done.stderr
        assert "openclaw.sqlite" in done.stderr
    tally.identities_lost(lost)
    assert lost == 0


def test_database_locked_by_another_writer(tmp_path: Path, tally: Tally) -> None:
    env = env_for(tmp_path)
    assert run(env).returncode == 0
    device = final_identity(tmp_path)
    db = tmp_path / "state/state/openclaw.sqlite"
    with sqlite3.connect(db) as conn:  # OpenClaw's row gone: the entrypoint must write it again
        conn.execute("DELETE FROM device_identities")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None);"
         "c.execute('BEGIN EXCLUSIVE'); print('LOCKED', flush=True); time.sleep(60)", str(db)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "LOCKED"
        done = run(env)
        tally.fault("OpenClaw database locked")
        tally.inputs()
    finally:
        holder.kill()
        holder.wait()
    tally.measure("entrypoint with the OpenClaw database locked: exit code", done.returncode, "")
    if done.returncode != 0:
        assert clear_refusal(done), (done.returncode, done.stderr)
        assert "openclaw.sqlite" in done.stderr or "locked" in done.stderr.lower(), done.stderr
    again = run(env)
    assert again.returncode == 0, again.stderr
    tally.identities_lost(int(final_identity(tmp_path) != device))
    assert final_identity(tmp_path) == device


def test_legacy_json_of_another_device_in_a_sqlite_era_state_dir(tmp_path: Path, tally: Tally) -> None:
    legacy_env = env_for(tmp_path / "old", "json")
    assert run(legacy_env).returncode == 0
    legacy = tmp_path / "old/state/identity/device.json"
    env = env_for(tmp_path / "new")
    assert run(env).returncode == 0
    device = json.loads((tmp_path / "new/ids/default/device.pub.json").read_text())["deviceId"]
    target = tmp_path / "new/state/identity/device.json"
    target.write_bytes(legacy.read_bytes())
    done = run(env)
    tally.inputs()
    pub = json.loads((tmp_path / "new/ids/default/device.pub.json").read_text())["deviceId"]
    tally.identities_lost(int(pub != device))
    assert pub == device
    if done.returncode != 0:
        assert clear_refusal(done), done.stderr
        assert "device.json" in done.stderr
    assert target.exists()  # never deleted
