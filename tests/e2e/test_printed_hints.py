"""Issue 10, defect 4: every command `make up` prints works verbatim on the machine that printed it.

scripts/up.sh runs for real on a copy of the checkout's scripts/ and compose/ (the shipped files,
unchanged), with a compose/.env like the one it writes for a user plus a project name and a free port of
this test's own. It must write COMPOSE_FILE (the local-images overlay included) into compose/.env; then
each `cd … && docker compose …` it printed is run with bash, verbatim, from the directory make ran in,
with no OPENCLAW_*/COMPOSE_* variables in the environment — as a user would paste it. The recreate hint
must recreate the agent, which connects with its approved device and makes no new request.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import PREFIX
from tests.e2e.stack import ROOT, Images, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

HINT = re.compile(r"(cd \S+ && docker compose [^)\n]*?)\s*(?:\)|$)", re.M)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "COMPOSE_", "DOCKER_SOCKET"))
    }
    env.update(extra)
    return env


@pytest.fixture
def checkout(e2e_images: Images, tmp_path: Path) -> Iterator[Path]:
    """scripts/ and compose/ as shipped, build/images.env as build-images.sh wrote it, a user's .env."""
    co = tmp_path / "checkout"
    shutil.copytree(ROOT / "scripts", co / "scripts")
    shutil.copytree(ROOT / "compose", co / "compose", ignore=shutil.ignore_patterns(".env"))
    (co / "build").mkdir()
    shutil.copy(ROOT / "build" / "images.env", co / "build" / "images.env")
    project = f"{PREFIX}-hints"
    (co / "compose" / ".env").write_text(
        (ROOT / "compose" / ".env.example").read_text()
        + f"OPENCLAW_GATEWAY_TOKEN=hints-{os.urandom(8).hex()}\n"
        + "OPENCLAW_TRUSTED_ENV=1\n"
        + "OPENCLAW_AGENTS_NETWORK_INTERNAL=true\n"
        + f"OPENCLAW_GATEWAY_PORT={free_port()}\n"
        + f"COMPOSE_PROJECT_NAME={project}\n"
        + f"OPENCLAW_PAIRING_IMAGE={e2e_images.pairing}\n"
    )
    try:
        yield co
    finally:
        subprocess.run(
            ["docker", "compose", "down", "--volumes", "--remove-orphans", "-t", "2"],
            cwd=co / "compose",
            env=clean_env(),
            capture_output=True,
            timeout=180,
        )


def compose_in(co: Path, *args: str) -> str:
    proc = subprocess.run(
        ["docker", "compose", *args], cwd=co / "compose", env=clean_env(), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def devices(co: Path) -> dict[str, Any]:
    """The gateway's own view (the real OpenClaw CLI in the gateway container)."""
    out = compose_in(
        co, "exec", "-T", "openclaw-gateway", "node", "dist/index.js", "devices", "list", "--json"
    )
    data: dict[str, Any] = json.loads(out[out.index("{") :])
    return data


def make_up(checkout: Path, tmp_path: Path, *, story_timeout: int) -> subprocess.CompletedProcess[str]:
    """scripts/up.sh (what `make up` runs after building images) in the copy, as a user's shell would."""
    return subprocess.run(
        ["bash", str(checkout / "scripts" / "up.sh")],
        cwd=checkout,
        env=clean_env(OPENCLAW_PAIRING_CACHE=str(tmp_path / "cache"), STORY_TIMEOUT=str(story_timeout)),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_every_compose_command_make_up_prints_runs_verbatim(
    checkout: Path, tmp_path: Path, e2e_images: Images
) -> None:
    up = make_up(checkout, tmp_path, story_timeout=150)
    printed = up.stdout + up.stderr
    assert up.returncode == 0, printed[-4000:]
    env_file = (checkout / "compose" / ".env").read_text()
    assert re.search(r"^COMPOSE_FILE=docker-compose\.yml:docker-compose\.local\.yml$", env_file, re.M), (
        env_file
    )
    # Zero-touch (issue 12): nothing restarted, first-attempt connect, commands approved, with timings.
    assert "agent connected at its first attempt" in printed, printed[-4000:]
    assert "agent's commands approved" in printed, printed[-4000:]
    assert "restarting the agent" not in printed
    assert re.search(r"pre-pairing request \(device \w+\) \d+ ms after the request", printed), printed[-4000:]

    hints = HINT.findall(printed)
    recreate = [h for h in hints if "--force-recreate agent" in h]
    assert recreate == ["cd compose && docker compose up -d --force-recreate agent"], printed[-3000:]
    before = compose_in(checkout, "ps", "-q", "agent").strip()
    before_listing = devices(checkout)
    for hint in dict.fromkeys(hints):
        ran = subprocess.run(
            ["bash", "-c", hint], cwd=checkout, env=clean_env(), capture_output=True, text=True, timeout=300
        )
        assert ran.returncode == 0, (
            f"printed command failed: {hint}\n{ran.stdout[-1500:]}\n{ran.stderr[-1500:]}"
        )

    after = compose_in(checkout, "ps", "-q", "agent").strip()
    assert after
    # The sidecar kept the Docker socket's group through the hints (0515b1d: a printed `docker compose up`
    # recreated it with group 0 once the socket's group was not 0, e.g. 105 here after an engine start).
    gid = str(os.stat("/var/run/docker.sock").st_gid)
    assert re.search(rf"^DOCKER_SOCKET_GID={gid}$", env_file, re.M), env_file
    sidecar = compose_in(checkout, "ps", "-q", "pairing-sidecar").strip()
    inspected = json.loads(
        subprocess.run(["docker", "inspect", sidecar], capture_output=True, text=True).stdout
    )
    assert inspected[0]["HostConfig"]["GroupAdd"] == [gid], inspected[0]["HostConfig"]["GroupAdd"]
    assert after != before, "the recreate hint did not recreate the agent"

    def connected() -> bool:
        logs = subprocess.run(["docker", "logs", after], capture_output=True, text=True, timeout=60)
        return "gateway connected" in logs.stdout + logs.stderr

    wait_for("the recreated agent to connect", connected, 90, 1.0)
    logs = subprocess.run(["docker", "logs", after], capture_output=True, text=True, timeout=60)
    assert "pairing required" not in logs.stdout + logs.stderr, "the recreated agent asked to pair again"
    listing = devices(checkout)
    assert listing["pending"] == [], listing
    assert [d["deviceId"] for d in listing["paired"]] == [d["deviceId"] for d in before_listing["paired"]]

    # Day two: the gateway was killed hard (kill -9, OOM, engine crash) holding OpenClaw 2026.9's owner
    # lease under another host name (a container of an earlier stack version: its id). OpenClaw refuses to
    # start until the lease expires; `make up` says why and waits for it instead of failing.
    gateway = compose_in(checkout, "ps", "-q", "openclaw-gateway").strip()
    subprocess.run(["docker", "kill", "-s", "KILL", gateway], check=True, capture_output=True, timeout=60)
    volume = json.loads(compose_in(checkout, "config", "--format", "json"))["name"] + "_gateway-state"
    forge_foreign_lease(e2e_images.pairing, volume, seconds_left=40)
    again = make_up(checkout, tmp_path, story_timeout=60)
    printed = again.stdout + again.stderr
    assert again.returncode == 0, printed[-4000:]
    assert "'Another Gateway owner lease is still active'" in printed, printed[-4000:]
    assert "the gateway is up: the old lease expired" in printed, printed[-4000:]
    assert devices(checkout)["pending"] == []


def forge_foreign_lease(image: str, volume: str, seconds_left: int) -> None:
    """Make the gateway-owner lease in ``volume`` look held by a gateway under another host name.

    Written with Python's sqlite3 in the pairing image (no host path of the volume is assumed). The
    gateway is stopped; its killed predecessor's row is there (it released nothing).
    """
    script = (
        "import json, sqlite3, time\n"
        "db = sqlite3.connect('/s/state/openclaw.sqlite')\n"
        "row = db.execute(\"select payload_json from state_leases where scope='gateway-owner'\").fetchone()\n"
        "assert row, 'no gateway-owner lease: the killed gateway released it?'\n"
        "payload = json.loads(row[0]); payload['owner']['host'] = 'c0ffee000000'\n"
        "now = int(time.time() * 1000)\n"
        'db.execute("update state_leases set payload_json=?, expires_at=?, heartbeat_at=? '
        "where scope='gateway-owner'\", (json.dumps(payload), now + SECONDS * 1000, now))\n"
        "db.commit()\n"
    ).replace("SECONDS", str(seconds_left))
    subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--user", "1000:1000", "-v", f"{volume}:/s",
         "--entrypoint", "python3", image, "-c", script],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
