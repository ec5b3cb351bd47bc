"""The finding catalogue: every problem ``doctor`` can report, with a stable id, why it matters and the fix.

Why a catalogue rather than messages scattered through the checks: the ids are a contract (scripts match
``--json`` output on them, ``docs/troubleshooting.md`` is generated from this table, and a unit test fails
when the two drift). A check only says *what it saw* and fills the placeholders of the fix; the words
that explain a problem live in ``sidecar/doctor/catalogue/``, once; this module indexes them.
"""

from __future__ import annotations

from collections.abc import Mapping

from sidecar.doctor.catalogue import ENTRIES as _ENTRIES
from sidecar.doctor.finding import (
    APPROVE_HINT,
    PERSIST_HINT,
    PROBLEM_SEVERITIES,
    SECTIONS,
    SEVERITIES,
    Entry,
    Finding,
)

__all__ = [
    "APPROVE_HINT",
    "CATALOGUE",
    "PERSIST_HINT",
    "PROBLEM_SEVERITIES",
    "SECTIONS",
    "SEVERITIES",
    "Entry",
    "Finding",
    "finding",
]


CATALOGUE: Mapping[str, Entry] = {entry.id: entry for entry in _ENTRIES}


def finding(finding_id: str, seen: str, **params: object) -> Finding:
    """Build a finding from the catalogue; every placeholder of the fix must be given (KeyError if not)."""
    entry = CATALOGUE[finding_id]
    values = {k: str(v) for k, v in params.items()}
    fix = entry.fix.format(**values)
    why = entry.why.format(**values)  # placeholders in the explanation too: never a literal "{uid}"
    return Finding(entry.id, entry.severity, entry.title, seen, why, fix, entry.fixable)
