"""The reliability suite's plugin: a ``tally`` fixture per test and the summary table at the end.

Each module names its category (``CATEGORY = "faults"``, one of tally.CATEGORIES). A test counts as a case
when its call phase ran; it passed when nothing failed. At the end of the session the table is printed
and, when the whole of tests/reliability ran (no ``-k``, no single files), written into RELIABILITY.md
(section ``make-test``, or ``make-test-soak`` under ``make test-soak``).

A few tests elsewhere in the suite already break things on purpose (the Docker engine restart, 20
concurrent entrypoints, SIGKILL during identity creation, the fail-closed property test); when they run
in the same session they are counted in the table too (``REUSED``), not duplicated here.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.reliability import tally as t

HERE = Path(__file__).resolve().parent
# tests/unit is a rootdir-less test directory: its shared fakes import as top-level modules.
sys.path.insert(0, str(HERE.parent / "unit"))

# nodeid prefix -> (category, faults injected per run, fault kind, inputs tried per run)
REUSED: dict[str, tuple[str, int, str, int]] = {
    "tests/e2e/test_stack_survives_restarts.py::test_the_stack_survives_a_docker_engine_restart": (
        "recovery", 1, "dockerd restart (compose stack)", 0),
    "tests/e2e/test_stack_survives_restarts.py::test_any_start_order": (
        "recovery", 3, "container stop, any start order (compose stack)", 0),
    "tests/e2e/test_compose_stack.py::test_gateway_restart_the_sidecar_reconnects": (
        "faults", 1, "gateway restart (compose stack)", 0),
    "tests/unit/test_entrypoint.py::test_twenty_entrypoints_at_once": ("identity", 0, "", 20),
    "tests/unit/test_entrypoint.py::test_sigkill_at_random_points": (
        "identity", 20, "entrypoint kill -9 (random point)", 20),
    "tests/unit/test_identity_device_file.py::test_sigkill": ("identity", 1, "key-file writer kill -9", 1),
    "tests/unit/test_approver_property.py::": ("bad input", 0, "", 0),
    "tests/integration/test_sidecar_real.py::test_labelled_container_connecting_with_another_key": (
        "adversaries", 0, "", 1),
}  # fmt: skip

_started = time.monotonic()
_modules_here = {p.name for p in HERE.glob("test_*.py")}
_selected_modules: set[str] = set()


def _ours(nodeid: str) -> bool:
    return nodeid.startswith("tests/reliability/")


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> t.Tally:
    category = getattr(request.module, "CATEGORY", None)
    assert category in t.CATEGORIES, f"{request.module.__name__} must set CATEGORY to one of {t.CATEGORIES}"
    return t.Tally(t.BOARD, category, request.node.name)


def pytest_deselected(items: list[pytest.Item]) -> None:
    t.BOARD.deselected += sum(_ours(item.nodeid) for item in items)


def pytest_collection_finish(session: pytest.Session) -> None:
    for item in session.items:
        if _ours(item.nodeid):
            t.BOARD.selected += 1
            _selected_modules.add(Path(str(item.fspath)).name)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and not (report.when == "setup" and report.failed):
        return
    if _ours(report.nodeid):
        category = _category_of(report.nodeid)
        row = t.BOARD.rows[category]
        row.cases += 1
        row.passed += int(report.passed)
        return
    for prefix, (category, faults, kind, inputs) in REUSED.items():
        if report.nodeid.startswith(prefix) and report.when == "call" and report.passed:
            row = t.BOARD.rows[category]
            row.cases += 1
            row.passed += 1
            row.faults += faults
            row.inputs += inputs
            if faults:
                t.BOARD.fault_kinds[kind] += faults
            t.BOARD.reused.append(report.nodeid.split("::", 1)[1].split("[")[0])


_CATEGORY_BY_MODULE: dict[str, str] = {}


def _category_of(nodeid: str) -> str:
    module = nodeid.split("::", 1)[0]
    if module not in _CATEGORY_BY_MODULE:
        import importlib

        mod = importlib.import_module(module.removesuffix(".py").replace("/", "."))
        _CATEGORY_BY_MODULE[module] = mod.CATEGORY
    return _CATEGORY_BY_MODULE[module]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    board = t.BOARD
    if not board.rows:
        return
    command = "make test-soak" if t.SOAK else "make test"
    body = t.report(board, time.monotonic() - _started, command)
    terminalreporter.section("reliability summary")
    for line in body.splitlines():
        terminalreporter.write_line(line)
    complete = board.deselected == 0 and _selected_modules == _modules_here
    target = t.ROOT / "RELIABILITY.md"
    if complete:
        t.write_section(target, "make-test-soak" if t.SOAK else "make-test", body)
        terminalreporter.write_line(f"(written to {target})")
    else:
        terminalreporter.write_line("(a partial run of tests/reliability: RELIABILITY.md left as it is)")
