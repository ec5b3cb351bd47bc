"""The checks, grouped by concern; each returns an :class:`Outcome` and never raises for what it finds.

Why outcomes and not exceptions: doctor must report *everything* it can see in one run, so a check that
cannot look (no gateway, no Docker) says so in its outcome and the others still run. ``summary`` is the
one line shown for a healthy check ("device 56475aa7… in slot default, on a volume"); ``facts`` carries
what later checks need (the device id found on disk, whether the identity is persistent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sidecar.doctor.findings import Finding


@dataclass(frozen=True)
class Outcome:
    name: str
    findings: tuple[Finding, ...] = ()
    summary: str = ""
    skipped: str | None = None  # why the check did not apply (not a failure)
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """skipped | ok | problems | unchecked (could not look; nothing wrong was seen)."""
        if self.skipped is not None:
            return "skipped"
        if any(f.is_problem for f in self.findings):
            return "problems"
        if any(f.severity == "unchecked" for f in self.findings):
            return "unchecked"
        return "ok"


def skipped(name: str, why: str) -> Outcome:
    return Outcome(name, skipped=why)
