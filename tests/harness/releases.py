"""Which OpenClaw releases a test run uses, and what the harness must know about each (measured, not guessed).

`make test` runs its usual releases (``DEFAULT``). `make test-compat` (scripts/run-compat.sh) sets
``OPENCLAW_TEST_RELEASES`` to ``MATRIX`` — the newest stable npm release of every month from 2026.2 to
2026.9, plus 2026.8.1 (the first release of the SQLite era, which the suite also pins) — and runs
tests/compat against each one's real gateway and clients.

What differs between releases and only matters to the harness (our code handles the rest, see
docs/compatibility.md):

- the gateway config schema is closed; ``gateway.nodes.pairing.*``, ``models.catalogRefresh`` and
  ``telemetry`` exist from 2026.8.1 (measured with each release's ``openclaw config validate``: every
  release before 2026.8 rejects each of them, 2026.8.1 accepts them all);
- 2026.2.26 has no ``openclaw config validate`` (``too many arguments for 'config'``); any command
  validates the config on start, so :func:`validate_command` falls back to ``config get``;
- ``openclaw node run`` has ``--no-tls`` only where its help lists it (plain ws:// is the older default);
- 2026.4.29 (alone in the matrix) installs its bundled plugins' runtime dependencies from npm before the
  gateway starts (``[plugins] staging bundled runtime deps before gateway startup (35 specs)``) and, with
  no route out, never gets ready: :func:`stages_runtime_deps` finds that code in the package, and the
  harness then turns plugins off (``plugins.enabled: false``, accepted by every release's schema).
  Pairing, identity and the node host are core, not plugins. The official image ships them staged.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from sidecar.envvars import TEST_RELEASES

MATRIX = (
    "2026.2.26",
    "2026.3.31",
    "2026.4.29",
    "2026.5.28",
    "2026.6.35",
    "2026.7.35",
    "2026.8.1",
    "2026.8.2",
    "2026.9.6",
)
# Each gateway also takes port+2 and port+3 (browser control, canvas); keep them well apart.
_FIXED_PORTS = {"2026.9.6": 18789, "2026.2.26": 18889}


def selected(env: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """The releases of this run: ``OPENCLAW_TEST_RELEASES`` (space or comma separated), else DEFAULT."""
    return tuple(dict.fromkeys(str(TEST_RELEASES.read(env)).replace(",", " ").split()))


DEFAULT = selected({})  # what `make test` runs: 2026.9.6 and 2026.2.26


def release_key(version: str) -> tuple[int, int, int]:
    parts = [int("".join(c for c in p if c.isdigit()) or 0) for p in version.split("-")[0].split(".")]
    year, month, patch = [*parts, 0, 0, 0][:3]
    return year, month, patch


def port_for(version: str) -> int:
    if version in _FIXED_PORTS:
        return _FIXED_PORTS[version]
    index = MATRIX.index(version) if version in MATRIX else len(MATRIX) + abs(hash(version)) % 50
    return 18989 + 100 * index


def protocol(version: str) -> int:
    """The gateway protocol the release speaks: measured 3 on 2026.2.26–2026.4.29, 4 from 2026.5.28."""
    return 4 if release_key(version) >= (2026, 5, 0) else 3


def node_pairing_schema(version: str) -> bool:
    """The config schema has gateway.nodes.pairing, models.catalogRefresh and telemetry (2026.8.1+)."""
    return release_key(version) >= (2026, 8, 0)


@functools.cache
def stages_runtime_deps(package: Path) -> bool:
    """The gateway of this installed package installs plugin dependencies from npm before it starts."""
    found = subprocess.run(
        ["grep", "-rqF", "--include=*.js", "staging bundled runtime deps", str(package / "dist")],
        check=False,
        timeout=120,
    )
    return found.returncode == 0
