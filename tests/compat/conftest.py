"""`make test-compat`: the same checks against every release of the matrix (tests/harness/releases.py).

scripts/run-compat.sh provisions the releases and runs ``pytest tests/compat`` in the private network
namespace with ``OPENCLAW_TEST_RELEASES`` set, so the ``gateway`` fixture (tests/conftest.py) is
parametrized over those releases and runs one gateway at a time. Tests are ordered by release, so each
gateway starts once.

Each module is one *check* of the matrix (``test_identity.py`` → ``identity``). With
``--compat-report FILE`` this plugin records every test's outcome per (release, check) and writes them as
JSON at the end; ``python -m tests.compat.render FILE`` turns that into docs/compatibility.md. A check
passes for a release when all its tests passed for that release.
"""

from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.harness.releases import MATRIX, release_key

ROOT = Path(__file__).resolve().parents[2]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--compat-report", default=None, help="write release x check outcomes as JSON here")


def release_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec is not None else {}
    value = params.get("gateway", params.get("release"))
    return value if isinstance(value, str) else None


def check_of(item: pytest.Item) -> str:
    return item.path.stem.removeprefix("test_").replace("_", "-")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def key(item: pytest.Item) -> tuple[int, tuple[int, int, int]]:
        release = release_of(item) or ""
        return (MATRIX.index(release) if release in MATRIX else len(MATRIX), release_key(release or "0.0.0"))

    items.sort(key=key)  # stable: within a release, file order


class Recorder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.started = datetime.datetime.now(datetime.UTC)
        self.results: list[dict[str, Any]] = []

    def add(self, report: pytest.TestReport, item_release: str | None, check: str) -> None:
        self.results.append(
            {
                "release": item_release,
                "check": check,
                "test": report.nodeid,
                "outcome": report.outcome,
                "when": report.when,
                "seconds": round(report.duration, 2),
                "message": str(report.longrepr)[-1500:] if report.failed else "",
            }
        )

    def write(self) -> None:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(ROOT),
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                "sidecar",
                "entrypoint.py",
                "tests/compat",
                "tests/harness",
                "tests/conftest.py",
            ],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        data = {
            "started": self.started.isoformat(timespec="seconds"),
            "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "commit": commit,
            "dirty": bool(dirty),
            "results": self.results,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(data, indent=1) + "\n")


_RECORDER = pytest.StashKey[Recorder]()


def pytest_configure(config: pytest.Config) -> None:
    target = config.getoption("--compat-report")
    if target:
        config.stash[_RECORDER] = Recorder(Path(target))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    recorder = item.config.stash.get(_RECORDER, None)
    if recorder is not None and (report.when == "call" or report.outcome != "passed"):
        recorder.add(report, release_of(item), check_of(item))
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    recorder = session.config.stash.get(_RECORDER, None)
    if recorder is not None:
        recorder.write()
