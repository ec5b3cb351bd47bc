"""The gateway config compose installs is one the running release's closed schema accepts.

compose/gateway/install-config.sh picks a file per schema era from the release it finds in the image
(package.json behind /app/dist). Here it runs against the real npm installs (OPENCLAW_APP_DIR points at
them), and the real `openclaw config validate` of that release judges the file it installed. Releases
before 2026.8 reject gateway.nodes.pairing.{sshVerify,autoApproveLocal}, models.catalogRefresh and
telemetry; the 2026.8+ file must keep them (they turn off SSH-back approval and silent loopback pairing).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import need
from tests.e2e.stack import COMPAT_VERSION, PINNED_VERSION, ROOT
from tests.harness.gateway import installed

pytestmark = pytest.mark.gateway

SCRIPT = ROOT / "compose" / "gateway" / "install-config.sh"
CACHE = Path(
    os.environ.get("OPENCLAW_PAIRING_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "openclaw-pairing"
)
NODE_BIN = next(iter(sorted(CACHE.glob("node-*/bin"))), CACHE / "node-missing" / "bin")
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# release -> the file install-config.sh must pick (2026.7.35 and 2026.8.1: the two sides of the line)
ERAS = {
    COMPAT_VERSION: "openclaw.2026.7.json5",
    "2026.8.1": "openclaw.json5",
    PINNED_VERSION: "openclaw.json5",
}


def env_for(home: Path, app: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_")}
    env.update(
        HOME=str(home),
        OPENCLAW_STATE_DIR=str(home / ".openclaw"),
        OPENCLAW_GATEWAY_TOKEN="t" * 32,
        OPENCLAW_NO_AUTO_UPDATE="1",
        DO_NOT_TRACK="1",
        PATH=f"{NODE_BIN}:{env.get('PATH', '')}",
    )
    if app is not None:
        env["OPENCLAW_APP_DIR"] = str(app)
    return env


@pytest.mark.parametrize("release", list(ERAS))
def test_install_config_picks_a_file_the_release_validates(release: str, tmp_path: Path) -> None:
    need(installed(release), f"openclaw {release}", "Run `make test` (it provisions it).")
    app = CACHE / f"openclaw-{release}" / "node_modules" / "openclaw"
    home = tmp_path / "home"
    (home / ".openclaw").mkdir(parents=True)
    picked = subprocess.run(
        ["sh", str(SCRIPT)], env=env_for(home, app), capture_output=True, text=True, timeout=60
    )
    assert picked.returncode == 0, picked.stderr
    assert f"installed {ERAS[release]} as" in picked.stderr, picked.stderr
    installed_config = home / ".openclaw" / "openclaw.json"
    assert installed_config.read_text() == (SCRIPT.parent / ERAS[release]).read_text()
    assert oct(installed_config.stat().st_mode & 0o777) == "0o600"
    cli = CACHE / f"openclaw-{release}" / "node_modules" / ".bin" / "openclaw"
    valid = subprocess.run(
        [str(cli), "config", "validate"], env=env_for(home), capture_output=True, text=True, timeout=120
    )
    out = ANSI.sub("", valid.stdout + valid.stderr)
    assert valid.returncode == 0, f"openclaw {release} rejects {ERAS[release]}:\n{out}"
    assert "Config valid" in out


def test_the_current_file_is_rejected_by_a_json_era_release(tmp_path: Path) -> None:
    """Why there are two files: 2026.7 refuses the 2026.8+ keys (the gateway would crash-loop)."""
    need(installed(COMPAT_VERSION), f"openclaw {COMPAT_VERSION}", "Run `make test` (it provisions it).")
    home = tmp_path / "home"
    (home / ".openclaw").mkdir(parents=True)
    (home / ".openclaw" / "openclaw.json").write_text((SCRIPT.parent / "openclaw.json5").read_text())
    cli = CACHE / f"openclaw-{COMPAT_VERSION}" / "node_modules" / ".bin" / "openclaw"
    valid = subprocess.run(
        [str(cli), "config", "validate"], env=env_for(home), capture_output=True, text=True, timeout=120
    )
    out = ANSI.sub("", valid.stdout + valid.stderr)
    assert valid.returncode != 0
    assert "gateway.nodes.pairing: Invalid input" in out


def test_unknown_release_gets_the_strict_file_and_a_mismatch_is_warned(tmp_path: Path) -> None:
    need(installed(PINNED_VERSION), f"openclaw {PINNED_VERSION}", "Run `make test` (it provisions it).")
    home = tmp_path / "home"
    (home / ".openclaw").mkdir(parents=True)
    nowhere = tmp_path / "app"
    (nowhere / "dist").mkdir(parents=True)
    unknown = subprocess.run(
        ["sh", str(SCRIPT)], env=env_for(home, nowhere), capture_output=True, text=True, timeout=60
    )
    assert unknown.returncode == 0, unknown.stderr
    assert "installed openclaw.json5 as" in unknown.stderr
    assert "release unknown" in unknown.stderr
    app = CACHE / f"openclaw-{COMPAT_VERSION}" / "node_modules" / "openclaw"
    need(installed(COMPAT_VERSION), f"openclaw {COMPAT_VERSION}", "Run `make test` (it provisions it).")
    told = {**env_for(home, app), "OPENCLAW_STACK_VERSION": PINNED_VERSION}
    warned = subprocess.run(["sh", str(SCRIPT)], env=told, capture_output=True, text=True, timeout=60)
    assert warned.returncode == 0, warned.stderr
    told_line = f"WARNING: OPENCLAW_VERSION={PINNED_VERSION} (compose/.env) but this image runs OpenClaw"
    assert f"{told_line} {COMPAT_VERSION}" in warned.stderr
    assert f"Set OPENCLAW_VERSION={COMPAT_VERSION} in compose/.env" in warned.stderr
