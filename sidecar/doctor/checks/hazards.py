"""Config and script hazards: settings and commands that look like they pair devices but do not.

- ``gateway.controlUi.dangerouslyDisableDeviceAuth: true`` — retired, ignored since 2026.8: error A
  comes back after an upgrade;
- ``gateway.session.inheritParentDevice`` — never existed; OpenClaw's closed schema rejects it;
- ``openclaw devices approve`` without a requestId or with ``--latest`` — preview only since 2026.4
  (exit 1, nothing approved); ``--all`` — never existed (exit 1);
- a volume at ``/app/.openclaw`` — ``/app`` is the image's code dir; the state dir is
  ``/home/node/.openclaw``.

What is scanned: the agent's ``openclaw.json`` (and ``OPENCLAW_CONFIG_PATH``), the compose files,
``.env`` and shell scripts of the working directory, and whatever ``--scan`` names (directories are
walked, skipping VCS and dependency trees). Text matching, line by line (continuations joined), comment
lines skipped — these files are JSON5, YAML and shell, and a hazard is a hazard in any of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from sidecar.doctor.checks import Outcome
from sidecar.doctor.findings import Finding, finding
from sidecar.doctor.options import DoctorOptions

MAX_FILE_BYTES = 1 << 20
MAX_FILES = 2000
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".tox"})
SCRIPT_SUFFIXES = (".sh", ".bash", ".zsh", ".yml", ".yaml", ".env", ".json", ".json5", ".ps1")
SCRIPT_NAMES = frozenset({".env", "Makefile", "Dockerfile", "Justfile", "Taskfile"})
COMPOSE_GLOBS = (
    "compose*.yml",
    "compose*.yaml",
    "docker-compose*.yml",
    "docker-compose*.yaml",
    ".env",
    "*.sh",
)
# `openclaw devices approve` flags that take a value (the value is not a requestId).
VALUE_FLAGS = frozenset({"--url", "--token", "--password", "--timeout"})

_DISABLE_AUTH_RE = re.compile(r"dangerouslyDisableDeviceAuth\W{0,6}(true|1|yes)\b", re.I)
_INHERIT_KEY_RE = re.compile(r"\binheritParentDevice\b")
_APP_MOUNT_RE = re.compile(r":/app/\.openclaw(/|\b)")
_APPROVE_RE = re.compile(r"\bdevices\s+approve\b(.*)")
_COMMAND_END_RE = re.compile(r"&&|\|\||[;|&#)`]")
_STRIP_RE = re.compile(r"[\[\]\"',]")


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, logical line) with backslash continuations joined and comments skipped."""
    buffer, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if not buffer:
            start = number
        if line.rstrip().endswith("\\"):
            buffer += line.rstrip()[:-1] + " "
            continue
        logical, buffer = buffer + line, ""
        if logical.lstrip().startswith(("#", "//")):
            continue
        yield start, logical


def approve_problem(line: str) -> str | None:
    """'all' / 'latest' when an `openclaw devices approve` on ``line`` approves nothing; else None."""
    match = _APPROVE_RE.search(_STRIP_RE.sub(" ", line))
    if match is None:
        return None
    tokens = _COMMAND_END_RE.split(match.group(1), maxsplit=1)[0].split()
    if "--all" in tokens:
        return "all"
    if "--latest" in tokens:
        return "latest"
    positional, skip = [], False
    for token in tokens:
        if skip:
            skip = False
        elif token in VALUE_FLAGS:
            skip = True
        elif not token.startswith("-"):
            positional.append(token)
    return None if positional else "latest"


def scan_text(text: str) -> dict[str, list[int]]:
    """finding id → line numbers in one file's text (pure)."""
    hits: dict[str, list[int]] = {}
    for number, line in _lines(text):
        ids = []
        if _DISABLE_AUTH_RE.search(line):
            ids.append("config.dangerously-disable-device-auth")
        if _INHERIT_KEY_RE.search(line):
            ids.append("config.inherit-parent-device-key")
        if _APP_MOUNT_RE.search(line):
            ids.append("compose.app-openclaw-device-mount")
        problem = approve_problem(line)
        if problem is not None:
            ids.append(f"script.approve-{problem}")
        for finding_id in ids:
            hits.setdefault(finding_id, []).append(number)
    return hits


def _wanted(path: Path) -> bool:
    return path.name in SCRIPT_NAMES or path.name.endswith(SCRIPT_SUFFIXES) or "compose" in path.name


def _walk(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for child in sorted(root.iterdir()) if root.is_dir() else ():
        if child.is_dir() and not child.is_symlink() and child.name not in SKIP_DIRS:
            yield from _walk(child)
        elif child.is_file() and _wanted(child):
            yield child


def targets(opts: DoctorOptions) -> list[Path]:
    """The files to scan, each once, at most MAX_FILES."""
    found: list[Path] = [opts.state_dir / "openclaw.json"]
    if opts.env.get("OPENCLAW_CONFIG_PATH"):
        found.append(Path(opts.env["OPENCLAW_CONFIG_PATH"]))
    if opts.workdir is not None and opts.workdir.is_dir():
        for pattern in COMPOSE_GLOBS:
            found.extend(sorted(opts.workdir.glob(pattern)))
    for root in opts.scan:
        found.extend(_walk(root))
    unique = list(dict.fromkeys(p for p in found if p.is_file()))
    return unique[:MAX_FILES]


def scan(paths: Iterable[Path]) -> list[Finding]:
    found: list[Finding] = []
    for path in paths:
        try:
            with path.open("rb") as fh:
                text = fh.read(MAX_FILE_BYTES).decode("utf-8", errors="replace")
        except OSError:
            continue
        for finding_id, numbers in scan_text(text).items():
            lines = ",".join(str(n) for n in numbers[:10]) + ("…" if len(numbers) > 10 else "")
            location = f"{path}:{lines}"
            found.append(finding(finding_id, f"{location}", location=location))
    return found


def check(opts: DoctorOptions) -> Outcome:
    paths = targets(opts)
    if not paths:
        return Outcome("hazards", skipped="no openclaw.json, compose file, .env or script to scan")
    found = scan(paths)
    return Outcome("hazards", tuple(found), f"scanned {len(paths)} file(s)")
