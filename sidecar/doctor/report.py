"""Doctor's output: a short human report, or ``--json`` with a stable, versioned schema.

JSON schema, version 1 (new keys may be added; existing ones keep their meaning):

    {"version": 1,
     "exitCode": 0 | 1 | 2,
     "findings": [{"id", "severity", "title", "seen", "why", "fix", "fixable"}, ...],
     "checks": {"<name>": {"status": "ok"|"problems"|"unchecked"|"skipped", "summary": str}, ...},
     "fixes": [{"id", "ok", "action"}, ...]}        # what --fix did (empty without --fix)

Human output puts problems first, one block each — what was seen, why it matters, the fix — then one
line per healthy or skipped check, so a user sees at a glance what was and was not looked at.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sidecar.doctor.diagnose import Diagnosis
from sidecar.doctor.fix import FixResult

SCHEMA_VERSION = 1
_ORDER = {"error": 0, "warning": 1, "unchecked": 2, "info": 3}
_MARK = {"error": "✗", "warning": "!", "unchecked": "?", "info": "i"}
_EXIT_TEXT = {0: "healthy", 1: "problems found", 2: "could not check everything"}


def to_json(diagnosis: Diagnosis, fixes: Sequence[FixResult] = ()) -> dict[str, Any]:
    return {
        "version": SCHEMA_VERSION,
        "exitCode": diagnosis.exit_code,
        "findings": [f.to_json() for f in diagnosis.findings],
        "checks": {
            o.name: {"status": o.status, "summary": o.skipped if o.skipped is not None else o.summary}
            for o in diagnosis.outcomes
        },
        "fixes": [r.to_json() for r in fixes],
    }


def render_json(diagnosis: Diagnosis, fixes: Sequence[FixResult] = ()) -> str:
    return json.dumps(to_json(diagnosis, fixes), indent=2, ensure_ascii=False) + "\n"


def render_text(diagnosis: Diagnosis, fixes: Sequence[FixResult] = (), *, verbose: bool = False) -> str:
    lines: list[str] = []
    for r in fixes:
        lines.append(f"{'fixed' if r.ok else 'NOT fixed'}: {r.finding_id}: {r.action}")
    if fixes:
        lines.append("")
    findings = sorted(diagnosis.findings, key=lambda f: _ORDER.get(f.severity, 9))
    for f in findings:
        lines.append(f"{_MARK.get(f.severity, '-')} [{f.severity}] {f.title}  ({f.id})")
        lines.append(f"    seen: {f.seen}")
        if f.severity != "info" or verbose:
            lines.append(f"    why:  {f.why}")
            lines.append(
                f"    fix:  {f.fix}" + ("  [doctor --fix repairs this]" if f.fixable and not fixes else "")
            )
        lines.append("")
    skipped = []
    for o in diagnosis.outcomes:
        if o.status == "ok" and o.summary:
            lines.append(f"ok       {o.name}: {o.summary}")
        elif o.status == "skipped" and verbose:
            lines.append(f"skipped  {o.name}: {o.skipped}")
        elif o.status == "skipped":
            skipped.append(o.name)
    if skipped:
        lines.append(f"skipped  {', '.join(skipped)} (not applicable here; --verbose-report says why)")
    code = diagnosis.exit_code
    problems = sum(1 for f in diagnosis.findings if f.is_problem)
    lines.append(f"doctor: {_EXIT_TEXT[code]} ({problems} problem(s)); exit {code}")
    return "\n".join(lines) + "\n"
