"""gateway-config: compose/gateway/install-config.sh installs a config this release's closed schema accepts.

The script picks its file by the release it finds behind the app dir (here: the npm install), and the
release's own CLI judges it: ``openclaw config validate`` where it exists; 2026.2.26 has no ``validate``
(``too many arguments for 'config'``) but checks the config on every command, so ``config get`` there.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import need
from tests.harness.gateway import VERSIONS, installed, openclaw_bin, openclaw_env

pytestmark = [pytest.mark.gateway]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "compose" / "gateway" / "install-config.sh"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
INVALID = re.compile(r"invalid config|config is invalid|config invalid", re.I)


@pytest.mark.parametrize("release", VERSIONS)
def test_install_config_picks_a_file_the_release_accepts(release: str, tmp_path: Path) -> None:
    need(installed(release), f"openclaw {release}", "Run `make test-compat` (it provisions it).")
    home = tmp_path / "home"
    (home / ".openclaw").mkdir(parents=True)
    env = openclaw_env(home, OPENCLAW_GATEWAY_TOKEN="t" * 32)
    app = openclaw_bin(release).parents[1] / "openclaw"
    picked = subprocess.run(
        ["sh", str(SCRIPT)],
        env={**env, "OPENCLAW_APP_DIR": str(app)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert picked.returncode == 0, picked.stderr
    assert "installed openclaw" in picked.stderr
    cli = str(openclaw_bin(release))
    done = subprocess.run([cli, "config", "validate"], env=env, capture_output=True, text=True, timeout=120)
    out = ANSI.sub("", done.stdout + done.stderr)
    if "too many arguments for 'config'" in out:  # no `config validate` in this release
        done = subprocess.run(
            [cli, "config", "get", "gateway.mode"], env=env, capture_output=True, text=True, timeout=120
        )
        out = ANSI.sub("", done.stdout + done.stderr)
    assert done.returncode == 0, f"openclaw {release} rejects what install-config.sh installed:\n{out}"
    assert not INVALID.search(out), out
