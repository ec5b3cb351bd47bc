"""Issue 10, defect 8 (and the CI sequence of defect 1): what the make targets and .ci/run run."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]


def test_make_bench_provisions_node_once() -> None:
    need(shutil.which("make") is not None, "make", "apt-get install make")
    dry = subprocess.run(["make", "-n", "bench"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    by_make = dry.stdout.count("provision-node.sh")
    by_script = (ROOT / "scripts" / "run-bench.sh").read_text().count("scripts/provision-node.sh")
    assert by_make + by_script == 1, f"make bench provisions Node {by_make + by_script} times:\n{dry.stdout}"


def test_ci_runs_the_readme_commands_in_sequence_each_with_a_time_limit() -> None:
    steps = re.findall(r"^step (\d+) (make \S+)", (ROOT / ".ci" / "run").read_text(), re.M)
    assert [cmd for _, cmd in steps] == [
        "make up",
        "make up",
        "make down",
        "make up",
        "make test",
        "make down",
    ]
    assert sum(int(limit) for limit, _ in steps) < 90 * 60, "the limits must fit CI's 90 minutes"
