"""Issue 10, defect 1: the engine `scripts/docker-engine.sh ensure` starts must not hold the script's lock.

`with_lock` (scripts/lib.sh) holds fd 9 on ``$CACHE/.docker.lock``; a dockerd started from inside it with
a plain ``&`` inherited that fd (and so did containerd and every shim), and the next ``ensure`` — the
second `make up` — waited in ``flock`` for as long as the engine ran. This test runs the real start path
twice against a real, private second dockerd (its own socket, data root, exec root and pid file; no
bridge, no iptables: it never touches the machine's engine), checks in /proc that no process holds the
lock afterwards, and stops the engine the way the scripts do (by the PID they recorded).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need

pytestmark = [pytest.mark.integration, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "scripts" / "docker-engine.sh"


def lock_holders(lock: Path) -> list[str]:
    """'<pid> <command>' of every process with ``lock`` open (any fd)."""
    target = str(lock.resolve())
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == target:
                    cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    found.append(f"{proc.name} {cmd.strip()[:120]}")
                    break
            except OSError:
                continue
    return found


@pytest.fixture
def private_engine_env() -> Iterator[dict[str, str]]:
    need(os.geteuid() == 0, "root", "Run `make test` as root (the test starts a private dockerd).")
    need(shutil.which("dockerd") is not None, "dockerd", "Run `scripts/docker-engine.sh ensure` as root.")
    # A short path: containerd's socket lives under the exec root, and unix socket paths max out at 107.
    base = Path(tempfile.mkdtemp(prefix="ocl", dir="/tmp"))
    sock = base / "docker.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "OPENCLAW_"))}
    env.update(
        OPENCLAW_PAIRING_CACHE=str(base / "cache"),
        DOCKER_HOST=f"unix://{sock}",
        OPENCLAW_DOCKERD_ARGS=(
            f"-H unix://{sock} --data-root {base}/data --exec-root {base}/x --pidfile {base}/own.pid "
            "--bridge=none --iptables=false --ip6tables=false --ip-masq=false"
        ),
    )
    try:
        yield env
    finally:
        subprocess.run([str(ENGINE), "stop"], env=env, capture_output=True, timeout=60)
        pid_file = base / "own.pid"
        if pid_file.exists():  # the engine outlived `stop`: never leave it behind
            pid = int(pid_file.read_text().strip() or 0)
            if pid and Path(f"/proc/{pid}").exists():
                os.kill(pid, 9)
        subprocess.run(["rm", "-rf", str(base)], capture_output=True, timeout=120)


def ensure(env: dict[str, str], timeout: float) -> float:
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            [str(ENGINE), "ensure"], env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        lock = Path(env["OPENCLAW_PAIRING_CACHE"]) / ".docker.lock"
        pytest.fail(
            f"`docker-engine.sh ensure` hung for {timeout:.0f} s; processes holding {lock}: "
            f"{lock_holders(lock) or 'none'}"
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return time.monotonic() - t0


def test_the_engine_ensure_starts_holds_no_lock_and_a_second_ensure_returns(
    private_engine_env: dict[str, str],
) -> None:
    env = private_engine_env
    cache = Path(env["OPENCLAW_PAIRING_CACHE"])
    ensure(env, timeout=120)  # starts the private dockerd
    pid = int((cache / "dockerd.pid").read_text())
    assert Path(f"/proc/{pid}").exists(), "ensure recorded a dockerd PID that is not running"
    holders = lock_holders(cache / ".docker.lock")
    assert not holders, f"long-lived processes hold the engine lock (the next ensure would hang): {holders}"
    second = ensure(env, timeout=30)  # the second `make up`: the engine answers, nothing to wait for
    assert second < 15, f"the second ensure took {second:.1f} s"
    proc = subprocess.run([str(ENGINE), "stop"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert not Path(f"/proc/{pid}").exists(), "stop left the dockerd it started running"
