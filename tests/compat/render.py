"""Write the measured matrix into docs/compatibility.md: ``python -m tests.compat.render REPORT.json``.

REPORT is what ``pytest tests/compat --compat-report REPORT`` wrote (tests/compat/conftest.py). Only the
block between the two markers is replaced; the hand-written part of the page stays as it is.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.harness.releases import MATRIX, release_key

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "compatibility.md"
BEGIN = "<!-- matrix: written by `make test-compat` (python -m tests.compat.render); do not edit -->"
END = "<!-- end of matrix -->"
CHECKS = ("identity", "pairing-cli", "sidecar", "doctor", "gateway-config")
SKELETON = f"""# Compatibility with OpenClaw releases

{BEGIN}
{END}
"""


def table(data: dict[str, Any]) -> str:
    outcomes: dict[tuple[str, str], list[str]] = defaultdict(list)
    failures: list[str] = []
    for r in data["results"]:
        outcomes[(r["release"], r["check"])].append(r["outcome"])
        if r["outcome"] == "failed":
            first = next((line for line in r["message"].splitlines() if line.startswith("E ")), "")
            failures.append(f"- `{r['test']}`: {first[1:].strip()[:300]}")
    releases = sorted({r["release"] for r in data["results"] if r["release"]}, key=release_key)
    checks = [c for c in CHECKS if any(k[1] == c for k in outcomes)]
    checks += sorted({k[1] for k in outcomes} - set(checks))
    head = "| release | " + " | ".join(checks) + " |"
    rows = [head, "|---" * (len(checks) + 1) + "|"]
    for release in releases:
        cells = []
        for check in checks:
            got = outcomes.get((release, check), [])
            if not got:
                cells.append("—")
            elif all(o == "passed" for o in got):
                cells.append(f"pass ({len(got)})")
            elif "failed" in got:
                cells.append(f"**FAIL** ({got.count('failed')}/{len(got)})")
            else:
                cells.append(f"skipped ({got.count('skipped')}/{len(got)})")
        mark = "" if release in MATRIX else " (not in the matrix)"
        rows.append(f"| {release}{mark} | " + " | ".join(cells) + " |")
    commit = data["commit"][:12] + (" + uncommitted changes" if data.get("dirty") else "")
    lines = [
        f"Measured {data['started'][:10]} ({data['started']} – {data['finished']} UTC) at commit `{commit}` "
        "by `make test-compat`: each release's real npm package, its real gateway and clients, in a private "
        "network namespace. A cell counts the tests of that check for that release; pass means all passed.",
        "",
        *rows,
        "",
    ]
    if failures:
        lines += ["Failures:", "", *failures, ""]
    return "\n".join(lines)


def render(report: Path, doc: Path = DOC) -> None:
    data = json.loads(report.read_text())
    text = doc.read_text() if doc.exists() else SKELETON
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    before, rest = text.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    doc.write_text(f"{before}{BEGIN}\n\n{table(data)}\n{END}{after}")


if __name__ == "__main__":
    render(Path(sys.argv[1]))
