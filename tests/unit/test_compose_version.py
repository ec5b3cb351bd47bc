"""Issue 17: one setting, OPENCLAW_VERSION, drives everything release-specific in the compose stack.

Rendered with the real `docker compose config` (no engine needed), isolated from a user's compose/.env by
an env file of its own. Plus static checks: every default in the compose files is the pinned release of
scripts/lib.sh, and the local overlay names no release of its own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"
PINNED = re.search(r"^OPENCLAW_PINNED_VERSION=(\S+)", (ROOT / "scripts/lib.sh").read_text(), re.M)
assert PINNED is not None
PINNED_VERSION = PINNED.group(1)


def compose_config(tmp_path: Path, *files: str, **env: str) -> dict[str, Any]:
    need(
        shutil.which("docker") is not None
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0,
        "docker compose v2",
        "Run `scripts/docker-engine.sh compose` (make test does).",
    )
    env_file = tmp_path / "isolated.env"
    env_file.write_text("OPENCLAW_GATEWAY_TOKEN=unit-test-token\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "COMPOSE_", "DOCKER_"))}
    argv = ["docker", "compose", "--env-file", str(env_file)]
    for f in files:
        argv += ["-f", f]
    proc = subprocess.run(
        [*argv, "config", "--format", "json"],
        cwd=COMPOSE,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def test_openclaw_version_alone_switches_images_and_identity_storage(tmp_path: Path) -> None:
    """`OPENCLAW_VERSION=2026.7.35 docker compose -f docker-compose.yml -f docker-compose.local.yml config`"""
    config = compose_config(
        tmp_path, "docker-compose.yml", "docker-compose.local.yml", OPENCLAW_VERSION="2026.7.35"
    )
    services = config["services"]
    assert services["openclaw-gateway"]["image"] == "openclaw-local:2026.7.35"
    assert services["agent"]["image"] == "openclaw-local:2026.7.35"
    init_env = services["identity-init"]["environment"]
    assert init_env["OPENCLAW_IDENTITY_FORMAT"] == "auto"
    assert init_env["OPENCLAW_VERSION"] == "2026.7.35"
    assert services["openclaw-gateway"]["environment"]["OPENCLAW_STACK_VERSION"] == "2026.7.35"
    rendered = json.dumps(config)
    assert "sqlite" not in rendered.lower(), "a hard-coded SQLite identity format is left in the stack"
    assert PINNED_VERSION not in rendered, f"{PINNED_VERSION} is still hard-coded somewhere"
    # OpenClaw reads OPENCLAW_VERSION itself (as its own version): never pass it to an OpenClaw container.
    for name in ("openclaw-gateway", "agent"):
        assert "OPENCLAW_VERSION" not in services[name].get("environment", {}), name


def test_official_images_follow_the_version_and_default_to_the_pinned_release(tmp_path: Path) -> None:
    official = compose_config(tmp_path, "docker-compose.yml", OPENCLAW_VERSION="2026.8.1")["services"]
    assert official["openclaw-gateway"]["image"] == "openclaw/openclaw:2026.8.1"
    assert official["agent"]["image"] == "openclaw/openclaw:2026.8.1"
    default = compose_config(tmp_path, "docker-compose.yml", "docker-compose.local.yml")["services"]
    assert default["agent"]["image"] == f"openclaw-local:{PINNED_VERSION}"
    assert default["identity-init"]["environment"]["OPENCLAW_VERSION"] == PINNED_VERSION
    own = compose_config(tmp_path, "docker-compose.yml", OPENCLAW_IMAGE="me/claw:1")["services"]
    assert own["openclaw-gateway"]["image"] == own["agent"]["image"] == "me/claw:1"


def test_every_default_release_in_the_compose_files_is_the_pinned_one() -> None:
    defaults = {}
    for path in sorted(COMPOSE.glob("docker-compose*.yml")):
        for value in re.findall(r"\$\{OPENCLAW_VERSION:-([^}]*)\}", path.read_text()):
            defaults.setdefault(value, []).append(path.name)
    assert set(defaults) == {PINNED_VERSION}, defaults
    example = (COMPOSE / ".env.example").read_text()
    assert re.search(rf"^OPENCLAW_VERSION={re.escape(PINNED_VERSION)}$", example, re.M)


def test_the_local_overlay_names_no_release_of_its_own() -> None:
    overlay = (COMPOSE / "docker-compose.local.yml").read_text()
    images = re.findall(r"^\s*image:\s*(\S+)", overlay, re.M)
    assert images
    for image in images:
        assert not re.search(r"\d{4}\.\d+\.\d+", image.replace(f":-{PINNED_VERSION}", "")), image


@pytest.mark.parametrize("era_file", ["openclaw.json5", "openclaw.2026.7.json5"])
def test_every_era_file_keeps_the_token_from_the_environment(era_file: str) -> None:
    text = (COMPOSE / "gateway" / era_file).read_text()
    assert 'token: "${OPENCLAW_GATEWAY_TOKEN}"' in text
    assert "checkOnStart: false" in text
