"""Fixtures for the end-to-end suite: the shipped compose files, real images, a real Docker engine.

- ``e2e_images`` (session): the image references to run. Reads build/images.env (written by
  scripts/build-images.sh, which `make test` runs first); builds the images if it is missing, without a
  registry unless OPENCLAW_IMAGE_SOURCE says otherwise.
- ``compat_images`` (session): the same for the JSON-identity-era release (``COMPAT_VERSION``, from
  scripts/lib.sh); build-images.sh writes its result to a file of its own, not build/images.env.
- ``stack_factory`` (function): ``stack_factory(trusted=True, overlays=(), images=None, env=None)`` → a
  ``ComposeStack`` (of ``e2e_images`` unless ``images`` is given) with a project name unique to this run
  and test. Every project is taken down with its volumes after the test;
  containers and networks a test adds carry ``openclaw.test-run=<run id>`` and are removed too. A session
  sweep removes anything left with this run's project-name prefix (e.g. after an interrupted test).

Skips like the rest of the suite: outside CI a missing engine or compose v2 skips with how to enable it;
with OPENCLAW_TEST_REQUIRE=1 / CI=true it fails.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.conftest import RUN_ID, need
from tests.e2e.stack import COMPAT_VERSION, PINNED_VERSION, ROOT, ComposeStack, Images, run

PREFIX = f"ocpe2e{RUN_ID}"
_counter = itertools.count(1)


def _ok(argv: Sequence[str]) -> bool:
    try:
        return subprocess.run(list(argv), capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _read_images_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def build_images(version: str, env_path: Path) -> Images:
    """Run scripts/build-images.sh for ``version`` (it rebuilds only what changed) and read its result."""
    previous = _read_images_env(env_path) if env_path.exists() else {}
    env = {k: v for k, v in os.environ.items() if k not in ("OPENCLAW_IMAGE", "OPENCLAW_IMAGES_ENV")}
    env.update(OPENCLAW_VERSION=version, OPENCLAW_IMAGES_ENV=str(env_path))
    env.setdefault(
        "OPENCLAW_IMAGE_SOURCE", "auto" if previous.get("OPENCLAW_IMAGES_LOCAL") == "0" else "local"
    )
    proc = subprocess.run(
        [str(ROOT / "scripts" / "build-images.sh")], capture_output=True, text=True, env=env, timeout=1800
    )
    need(
        proc.returncode == 0,
        f"the stack's images for OpenClaw {version}",
        f"`OPENCLAW_VERSION={version} scripts/build-images.sh` failed (make test provisions it first):\n"
        f"{proc.stderr[-3000:]}",
    )
    values = _read_images_env(env_path)
    return Images(
        openclaw=values.get("OPENCLAW_IMAGE", f"openclaw-local:{version}"),
        pairing=values.get("OPENCLAW_PAIRING_IMAGE", "openclaw-pairing:local"),
        local=values.get("OPENCLAW_IMAGES_LOCAL", "1") == "1",
        version=values.get("OPENCLAW_VERSION", version),
    )


@pytest.fixture(scope="session")
def e2e_images() -> Iterator[Images]:
    need(
        _ok(["docker", "info"]),
        "a Docker engine",
        "Start Docker, or run `make test` as root on Debian (it installs and starts dockerd).",
    )
    need(
        _ok(["docker", "compose", "version"]),
        "docker compose v2",
        "Run `scripts/docker-engine.sh compose` (make test does).",
    )
    # Always ask build-images.sh: it rebuilds only what changed (content-hash labels), so the suite never
    # runs a stale sidecar image, and takes about a second when everything is up to date. The release is
    # always the pinned one (never a user's compose/.env).
    yield build_images(PINNED_VERSION, ROOT / "build" / "images.env")
    _sweep()


@pytest.fixture(scope="session")
def compat_images(e2e_images: Images) -> Images:
    return build_images(COMPAT_VERSION, ROOT / "build" / f"images-{COMPAT_VERSION}.env")


def _sweep() -> None:
    """Remove whatever this run's projects left behind (containers, networks, volumes), by label."""
    for kind in ("container", "network", "volume"):
        out = run(
            [
                "docker",
                kind,
                "ls",
                "-q" if kind != "container" else "-aq",
                "--filter",
                "label=com.docker.compose.project",
            ],
            check=False,
        )
        ids = out.split()
        if not ids:
            continue
        data = json.loads(run(["docker", kind, "inspect", *ids], check=False) or "[]")
        for item in data:
            labels = (item.get("Config") or {}).get("Labels") if kind == "container" else item.get("Labels")
            if (labels or {}).get("com.docker.compose.project", "").startswith(PREFIX):
                ref = item.get("Id") or item.get("Name")
                run(
                    ["docker", kind, "rm", "-f", ref] if kind != "network" else ["docker", kind, "rm", ref],
                    check=False,
                )
    for kind, flag in (("container", "-aq"), ("network", "-q")):
        ids = run(
            ["docker", kind, "ls", flag, "--filter", f"label=openclaw.test-run={RUN_ID}"], check=False
        ).split()
        if ids:
            run(["docker", kind, "rm", *(["-f"] if kind == "container" else []), *ids], check=False)


@pytest.fixture
def stack_factory(
    e2e_images: Images, tmp_path: Path, run_label: dict[str, str]
) -> Iterator[Callable[..., ComposeStack]]:
    made: list[ComposeStack] = []

    def make(
        *,
        trusted: bool = True,
        overlays: Sequence[str] = (),
        images: Images | None = None,
        env: dict[str, str] | None = None,
        files: Sequence[Path] = (),
    ) -> ComposeStack:
        n = next(_counter)
        stack = ComposeStack(
            name=f"{PREFIX}-{n}",
            workdir=tmp_path / f"stack{n}",
            images=images or e2e_images,
            trusted=trusted,
            overlays=tuple(overlays),
            run_label=dict(run_label),
            env=dict(env or {}),
            more_files=tuple(files),
        )
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.cleanup()
