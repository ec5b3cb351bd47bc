"""What a finding is: a catalogue row (``Entry``) and one problem seen here (``Finding``); sections, hints.

Why a catalogue rather than messages scattered through the checks: the ids are a contract (scripts match
``--json`` output on them, ``docs/troubleshooting.md`` is generated from this table, and a unit test fails
when the two drift). A check only says *what it saw* and fills the placeholders of the fix; the words
that explain a problem live here, once.

Severity: ``error`` (this breaks pairing now, or explains the error the user pasted), ``warning`` (it will
break later: the next redeploy, the next upgrade), ``info`` (a fact worth knowing, never a failure) and
``unchecked`` (doctor could not look: the gateway or Docker was unreachable, the text was not recognised).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

SEVERITIES = ("error", "warning", "info", "unchecked")
PROBLEM_SEVERITIES = frozenset({"error", "warning"})


@dataclass(frozen=True)
class Entry:
    """One catalogue row. ``fix`` is a template; ``{name}`` placeholders are filled by the check."""

    id: str
    severity: str
    section: str
    title: str
    why: str
    fix: str
    fixable: bool = False  # `doctor --fix` repairs it (only safe, local changes; never an approval)

    def placeholders(self) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(self.fix) if name}


@dataclass(frozen=True)
class Finding:
    """One problem seen on this system: the catalogue row plus what was seen and the concrete fix."""

    id: str
    severity: str
    title: str
    seen: str
    why: str
    fix: str
    fixable: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity,
            "title": self.title,
            "seen": self.seen,
            "why": self.why,
            "fix": self.fix,
            "fixable": self.fixable,
        }

    @property
    def is_problem(self) -> bool:
        return self.severity in PROBLEM_SEVERITIES


SECTIONS = {
    "error-a": "Error A: 1008 device identity required",
    "error-b": "Error B: 1008 pairing required",
    "connection": "Other connection refusals",
    "url": "Secure context",
    "identity": "Identity on disk",
    "pairing": "Pairing state at the gateway",
    "docker": "Docker",
    "subagent": "Sub-agents",
    "hazard": "Config and script hazards",
}

APPROVE_HINT = (
    "on the gateway host: openclaw devices approve {request_id} (the exact id; `--latest` only previews "
    "since 2026.4). To automate it for labelled containers, run openclaw-sidecar with "
    "OPENCLAW_TRUSTED_ENV=1 and label the agent container openclaw.pairing.auto-approve=true"
)
PERSIST_HINT = (
    'mount a volume at {path} (compose: `volumes: ["openclaw-identity:{path}"]`) and recreate the '
    "container; the identity created there is kept across `docker compose up --force-recreate`, so the "
    "device is approved once"
)
