"""Static guard for issue 10, defect 1: no script starts a background process that keeps the lock fd.

`with_lock` (scripts/lib.sh) holds fd 9; a process started with a plain ``&`` inherits it and holds the
lock for as long as it runs. Every background start in scripts/ must close fd 9 (``9>&-``, which
``detach`` does). The behaviour itself is tested with a real dockerd in
tests/integration/test_engine_lock.py.
"""

from __future__ import annotations

import re
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
BACKGROUND = re.compile(r"(?<![&>])&\s*(#.*)?$")  # a trailing `&`, not `&&` and not a `>&` redirection


def background_lines() -> list[tuple[str, int, str]]:
    found = []
    for script in sorted(SCRIPTS.glob("*.sh")):
        for n, line in enumerate(script.read_text().splitlines(), 1):
            code = line.split(" #", 1)[0].rstrip()
            if code.lstrip().startswith("#"):
                continue
            if BACKGROUND.search(code):
                found.append((script.name, n, code.strip()))
    return found


def test_every_background_process_in_the_scripts_closes_the_lock_fd() -> None:
    lines = background_lines()
    assert lines, "expected at least the detach helper in scripts/lib.sh"
    leaking = [f"{name}:{n}: {code}" for name, n, code in lines if "9>&-" not in code]
    assert not leaking, "background processes that inherit the lock fd 9 (use `detach`):\n" + "\n".join(
        leaking
    )


def test_dockerd_is_started_through_detach() -> None:
    engine = (SCRIPTS / "docker-engine.sh").read_text()
    assert re.search(r"^\s*detach \S+ dockerd\b", engine, re.M), (
        "docker-engine.sh must start dockerd with detach"
    )
