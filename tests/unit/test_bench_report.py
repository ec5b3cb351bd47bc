"""The seconds-long smoke of `make bench` that `make test` runs: the simulated fleet through the real policy
and reconcile pass (structure only: everyone labelled approved, no stranger; never a time), and the
report renderer on a small results document (tables, targets, the README block between its markers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import report, simulate


def results() -> dict[str, Any]:
    lat = {"n": 3, "p50": 20.0, "p95": 30.0, "p99": 40.0, "max": 40.0, "mean": 25.0}
    slow = {"n": 3, "p50": 1500.0, "p95": 2500.0, "p99": 2900.0, "max": 2900.0, "mean": 1800.0}
    row = {"requests": 3, "approved": 3, "cpu_s": 0.1, "samples_ms": [10, 20, 40]}
    return {
        "started": "2026-12-06T00:00:00Z",
        "wall_s": 60,
        "smoke": True,
        "targets": {
            "p99_ms": 50,
            "p50_speedup_vs_watcher_1s": 50,
            "pending_100_s": 3.0,
            "wrong_approvals": 0,
            "cost_growth_10_to_10000": 2.0,
            "re_pairings_per_100": 0,
            "sidecar_rss_mib": 60,
            "sidecar_idle_cpu_pct": 0.5,
            "entrypoint_existing_ms": 150,
        },
        "machine": {
            "cpu": "test",
            "cpus": 2,
            "memory_gib": 1,
            "kernel": "k",
            "python": "3",
            "docker": "d",
            "openclaw": "2026.9.6",
            "node": "v24",
            "loadavg_start": [1, 1, 1],
            "loadavg_end": [1, 1, 1],
            "shared": "shared test machine",
        },
        "latency": {
            "pace_s": 1.0,
            "approaches": {
                "sidecar": {**row, "latency_ms": lat, "stranger_approved": False},
                "watcher-1s": {**row, "latency_ms": slow, "stranger_approved": True},
                "loop-5s": {**row, "latency_ms": slow, "stranger_approved": True},
            },
            "flood": {
                "pending": 3,
                "first_request_to_all_approved_s": 0.5,
                "last_request_to_all_approved_s": 0.4,
                "requests_spread_s": 0.1,
                "latency_ms": lat,
                "wrong_approvals": 0,
            },
        },
        "redeploy": {
            "recreations": 2,
            "stock_new_requests": 2,
            "ours_new_requests": 0,
            "node_requests_seen": 1,
            "seconds_per_recreation": lat,
        },
        "simulated": simulate.run((10, 30)),
    }


def test_simulated_fleet_approves_every_labelled_request_and_no_stranger() -> None:
    rows = simulate.run((10, 30))
    assert {(r["n"], r["pattern"]) for r in rows} == {
        (10, "flood"),
        (30, "flood"),
        (10, "stream"),
        (30, "stream"),
    }
    for r in rows:
        assert r["approved"] == r["n"]
        assert r["wrong_approvals"] == 0
        assert r["left_pending"] == max(1, r["n"] // 100)


def test_report_tables_targets_and_readme_block(tmp_path: Path) -> None:
    r = results()
    md = report.markdown(r)
    assert "| request → approval p99 ≤ 50 ms | 40 ms | met |" in md
    assert "| ≥ 50× faster than the 1 s watcher at p50 | 75× | met |" in md
    assert "0 in 2 (only 2 run, see section 4)" in md
    assert "| 1 s watcher (NemoClaw-style) | 3/3 | 1.50 s |" in md
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{report.README_START}\nold table\n{report.README_END}\n\n## after\n")
    report.update_readme(readme, report.readme_block(r))
    text = readme.read_text()
    assert "old table" not in text
    assert text.endswith("## after\n")
    assert (
        "| new pairing requests per 2 `--force-recreate`s | **0** | 2 (identity in the writable layer) |"
        in text
    )
    report.update_readme(readme, report.readme_block(r))  # idempotent: one block, rewritten in place
    assert readme.read_text() == text


def test_plot_is_written(tmp_path: Path) -> None:
    report.plot(results(), tmp_path / "latency.png")
    assert (tmp_path / "latency.png").stat().st_size > 10_000
