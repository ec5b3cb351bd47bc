"""Counters for the reliability suite: what each test broke, tried and found, summed per category.

A test asks for the ``tally`` fixture and reports as it goes::

    tally.fault("gateway kill -9")          # one fault injected
    tally.inputs(n)                         # inputs tried (hypothesis examples, entrypoint runs, requests)
    tally.wrong_approvals(n)                # approvals the oracle says are wrong (asserted 0 afterwards)
    tally.identities_lost(n)                # identities replaced or lost (asserted 0)
    tally.requests_missed(n)                # legitimate requests never approved (asserted 0)
    tally.measure("recovery after kill -9", 4.2, "s")

The figures are recorded even when the test then fails, so the table shows what a failing run saw. The
plugin in conftest.py prints the table at the end of the session and writes it into RELIABILITY.md.
"""

from __future__ import annotations

import datetime
import os
import re
import subprocess
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CATEGORIES = ("faults", "identity", "bad input", "adversaries", "load", "recovery")
COLUMNS = ("cases", "passed", "faults injected", "inputs tried", "wrong approvals", "identities lost",
           "requests missed")  # fmt: skip
SOAK = os.environ.get("RELIABILITY_SOAK") == "1"


def scale(quick: int, soak: int) -> int:
    """A size for ``make test`` (quick) or ``make test-soak``."""
    return soak if SOAK else quick


@dataclass
class Row:
    cases: int = 0
    passed: int = 0
    faults: int = 0
    inputs: int = 0
    wrong: int = 0
    lost: int = 0
    missed: int = 0

    def cells(self) -> list[int]:
        return [self.cases, self.passed, self.faults, self.inputs, self.wrong, self.lost, self.missed]


@dataclass
class Measurement:
    test: str
    what: str
    value: float
    unit: str


@dataclass
class Board:
    """All counters of one session."""

    rows: dict[str, Row] = field(default_factory=lambda: defaultdict(Row))
    measurements: list[Measurement] = field(default_factory=list)
    fault_kinds: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    reused: list[str] = field(default_factory=list)
    deselected: int = 0
    selected: int = 0

    def total(self) -> Row:
        out = Row()
        for row in self.rows.values():
            for name in vars(out):
                setattr(out, name, getattr(out, name) + getattr(row, name))
        return out

    def table(self) -> str:
        header = ["category", *COLUMNS]
        lines = [header, ["---"] * len(header)]
        for cat in CATEGORIES:
            if cat in self.rows:
                lines.append([cat, *map(str, self.rows[cat].cells())])
        lines.append(["**total**", *(f"**{v}**" for v in self.total().cells())])
        return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)

    def measurement_table(self) -> str:
        if not self.measurements:
            return ""
        lines = ["| measured | value | test |", "|---|---|---|"]
        for m in self.measurements:
            value = f"{m.value:.0f}" if abs(m.value) >= 100 else f"{m.value:.2f}".rstrip("0").rstrip(".")
            lines.append(f"| {m.what} | {value} {m.unit} | {m.test} |")
        return "\n".join(lines)

    def fault_table(self) -> str:
        if not self.fault_kinds:
            return ""
        return ", ".join(f"{kind} ×{n}" for kind, n in sorted(self.fault_kinds.items()))


BOARD = Board()


class Tally:
    """The counters of one test, added to its category's row."""

    def __init__(self, board: Board, category: str, test: str) -> None:
        assert category in CATEGORIES, category
        self.board, self.category, self.test = board, category, test
        self.row = board.rows[category]

    def fault(self, kind: str, n: int = 1) -> None:
        self.row.faults += n
        self.board.fault_kinds[kind] += n

    def inputs(self, n: int = 1) -> None:
        self.row.inputs += n

    def wrong_approvals(self, n: int) -> None:
        self.row.wrong += n

    def identities_lost(self, n: int) -> None:
        self.row.lost += n

    def requests_missed(self, n: int) -> None:
        self.row.missed += n

    def measure(self, what: str, value: float, unit: str) -> None:
        self.board.measurements.append(Measurement(self.test, what, value, unit))


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "--", "sidecar",
             "entrypoint.py", "tests/reliability"],
            capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        return out + (" (+ uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def report(board: Board, duration_s: float, command: str) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        f"Run {now}, commit {git_commit()}, `{command}`, {duration_s:.0f} s"
        f" ({'soak sizes' if SOAK else 'make test sizes'}).",
        "",
        board.table(),
    ]
    if board.fault_kinds:
        parts += ["", "Faults injected: " + board.fault_table() + "."]
    if board.reused:
        parts += ["", "Counted from the rest of the suite (same run): " + "; ".join(board.reused) + "."]
    if board.measurements:
        parts += ["", board.measurement_table()]
    return "\n".join(parts)


SECTION = re.compile(r"(<!-- run:(?P<name>[a-z-]+) -->\n)(.*?)(<!-- /run:(?P=name) -->)", re.S)


def write_section(path: Path, name: str, body: str) -> None:
    """Replace the ``<!-- run:name -->`` section of RELIABILITY.md with ``body`` (kept as written)."""
    text = path.read_text() if path.exists() else ""
    block = f"<!-- run:{name} -->\n{body}\n<!-- /run:{name} -->"
    for m in SECTION.finditer(text):
        if m.group("name") == name:
            text = text[: m.start()] + block + text[m.end() :]
            break
    else:
        text = text.rstrip("\n") + f"\n\n{block}\n"
    path.write_text(text)


def names(items: Iterable[str]) -> list[str]:
    return sorted(set(items))
