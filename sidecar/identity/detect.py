"""Which storage the agent's OpenClaw reads its identity from: ``json`` (≤ 2026.7) or ``sqlite`` (≥ 2026.8).

Writing the wrong one is not harmless: an identity only in SQLite is ignored by ≤ 2026.7 (it generates a
random key, i.e. a new device), and a leftover ``identity/device.json`` makes ≥ 2026.8 refuse to start.
So ``auto`` decides from evidence, cheapest and most authoritative first, and refuses to guess:

1. ``OPENCLAW_VERSION`` (explicit, e.g. set in the agent image);
2. the installed package: the ``openclaw`` found on ``PATH`` (symlinks resolved) → the nearest
   ``package.json`` named ``openclaw``; then the usual install roots (``/app``, global ``node_modules``).
   Reading one small JSON file costs ~0.1 ms; ``openclaw --version`` would cost ~170 ms, so it is never run;
3. what the state dir already holds: a ``device_identities`` table in ``state/openclaw.sqlite`` → sqlite,
   ``identity/device.json`` (and no such table) → json;
4. nothing → ConfigError asking for ``OPENCLAW_IDENTITY_FORMAT`` or ``OPENCLAW_VERSION``.

Measured on the npm releases: 2026.7.35, the last of the 2026.7 line, still reads ``identity/device.json``
(it ships the ``device_identities`` DDL but never loads from it); 2026.8.1, the first 2026.8 release,
reads SQLite. This module draws the line at 2026.8.0: every 2026.8 version, betas included, is sqlite.
(So step 3 can be wrong for a 2026.7 state dir that OpenClaw itself gave an empty identity table: name
the release instead, as the compose stack does with OPENCLAW_VERSION.)
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sidecar.errors import ConfigError

SQLITE_SINCE = (2026, 8, 0)
FORMATS = ("auto", "json", "sqlite", "file")
_VERSION_RE = re.compile(r"(\d{4})\.(\d{1,2})\.(\d{1,3})")
_INSTALL_ROOTS = (
    Path("/app"),
    Path("/usr/local/lib/node_modules/openclaw"),
    Path("/usr/lib/node_modules/openclaw"),
    Path("/opt/openclaw"),
)


@dataclass(frozen=True)
class Detected:
    """The chosen format and the evidence, for logs and error messages."""

    format: str  # "json" | "sqlite" | "file"
    reason: str
    release: str | None = None  # the OpenClaw version the format was decided from, if it was


def parse_version(text: str) -> tuple[int, int, int] | None:
    """'2026.9.6', 'v2026.9.6', 'OpenClaw 2026.9.6 (eb377ac)', '2026.9.6-beta.1' → (2026, 9, 6)."""
    match = _VERSION_RE.search(text)
    if match is None:
        return None
    year, month, patch = (int(g) for g in match.groups())
    return year, month, patch


def format_for_version(version: tuple[int, int, int]) -> str:
    return "sqlite" if version >= SQLITE_SINCE else "json"


def _package_version(package_json: Path) -> str | None:
    try:
        data = json.loads(package_json.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("name") != "openclaw":
        return None
    version = data.get("version")
    return version if isinstance(version, str) else None


def installed_version(env: Mapping[str, str]) -> tuple[str, Path] | None:
    """(version, package.json) of the OpenClaw installed for this agent, or None if none is found."""
    candidates: list[Path] = []
    found = shutil.which("openclaw", path=env.get("PATH", os.defpath))
    if found is not None:
        real = Path(os.path.realpath(found))
        candidates.extend(parent / "package.json" for parent in list(real.parents)[:4])
    candidates.extend(root / "package.json" for root in _INSTALL_ROOTS)
    for candidate in candidates:
        version = _package_version(candidate)
        if version is not None:
            return version, candidate
    return None


def state_dir_format(state_dir: Path) -> Detected | None:
    """Infer the format from what an earlier run of OpenClaw (or of this entrypoint) left in the state dir."""
    db = state_dir / "state" / "openclaw.sqlite"
    if db.is_file():
        from sidecar.identity.openclaw_state import sqlite_has_identity_table  # sqlite3 only when needed

        if sqlite_has_identity_table(db):
            return Detected("sqlite", f"{db} has a device_identities table")
    legacy = state_dir / "identity" / "device.json"
    if legacy.is_file():
        return Detected("json", f"{legacy} exists and no SQLite identity table does")
    return None


def detect_format(requested: str, env: Mapping[str, str], state_dir: Path) -> Detected:
    """Resolve ``OPENCLAW_IDENTITY_FORMAT`` (``requested``) to json, sqlite or file; see the module doc."""
    if requested != "auto":
        return Detected(requested, f"OPENCLAW_IDENTITY_FORMAT={requested}")
    declared = env.get("OPENCLAW_VERSION", "").strip()
    if declared:
        version = parse_version(declared)
        if version is None:
            raise ConfigError(
                f"OPENCLAW_VERSION={declared!r} is not an OpenClaw version like 2026.9.6; fix it, or unset "
                "it and set OPENCLAW_IDENTITY_FORMAT=json|sqlite|file"
            )
        return Detected(format_for_version(version), f"OPENCLAW_VERSION={declared}", declared)
    installed = installed_version(env)
    if installed is not None:
        text, where = installed
        version = parse_version(text)
        if version is not None:
            return Detected(format_for_version(version), f"openclaw {text} installed ({where})", text)
    from_state = state_dir_format(state_dir)
    if from_state is not None:
        return from_state
    raise ConfigError(
        "OPENCLAW_IDENTITY_FORMAT=auto found no OpenClaw installation (no 'openclaw' on PATH with a "
        f"package.json, none under {', '.join(str(r) for r in _INSTALL_ROOTS)}) and nothing in {state_dir} "
        "to go by. Set OPENCLAW_VERSION to the agent's OpenClaw version (e.g. 2026.9.6), or "
        "OPENCLAW_IDENTITY_FORMAT=sqlite (OpenClaw >= 2026.8), json (<= 2026.7) or file (not OpenClaw)."
    )
