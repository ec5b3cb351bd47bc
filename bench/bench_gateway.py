"""Benchmark: the native gateway client and CLI side by side with the real OpenClaw CLI, same gateway.

For each real gateway version (started here, in the private network namespace `make bench` provides):

- ``openclaw-sidecar list --json`` as a new process   vs  ``openclaw devices list --json``
- ``openclaw-sidecar approve <id>`` as a new process  vs  ``openclaw devices approve <id> --json``
- in-process connect + ``device.pair.list`` and connect + ``device.pair.approve`` (fresh connection each)

Pending requests for the approve rows come from fresh device keys connecting from a second namespace (a
remote peer), created before each timed call and not timed. Targets: ≤ 0.35 s per ``openclaw-sidecar``
process, ≤ 35 ms in-process median. Prints a table; writes JSON to bench/results/.

Run: ``make bench`` or ``scripts/run-bench.sh bench/bench_gateway.py`` (root; needs the private
namespace). Options: ``--runs N`` (default 7), ``--versions 2026.9.6,2026.2.26``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sidecar.gateway.client import GatewayClient  # noqa: E402
from sidecar.gateway.scopes import scopes_to_approve  # noqa: E402
from tests.harness import netns  # noqa: E402
from tests.harness.devices import request_from  # noqa: E402
from tests.harness.gateway import VERSIONS, RealGateway, installed, openclaw_bin  # noqa: E402

TARGET_PROCESS_S = 0.35
TARGET_INPROCESS_MS = 35.0
SIDECAR = Path(sys.executable).parent / "openclaw-sidecar"


CPU: list[float] = []  # CPU seconds (user + sys) of the last timed child processes: load-independent


def timed(fn: Callable[[], Any]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return elapsed


def stats(samples: list[float], cpu: list[float] | None = None) -> dict[str, float]:
    row = {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
    }
    if cpu:
        row["cpu_median"] = statistics.median(cpu)
    return row


def processes(samples: list[float]) -> dict[str, float]:
    """Stats for the last len(samples) timed child processes, with their CPU time."""
    cpu = CPU[-len(samples) :]
    return stats(samples, cpu)


def run_checked(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}… exited {done.returncode}: {done.stderr[-500:]}")
    return done


class Bench:
    def __init__(self, gw: RealGateway, ns: netns.ClientNetns, runs: int) -> None:
        self.gw, self.ns, self.runs = gw, ns, runs
        self.sidecar_env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_")}
        self.sidecar_env.update(OPENCLAW_GATEWAY_URL=gw.url, OPENCLAW_GATEWAY_TOKEN=gw.token)
        self.openclaw = [str(openclaw_bin(gw.version))]
        self.openclaw_flags = ["--url", gw.url, "--token", gw.token, "--json"]

    def pending_id(self) -> str:
        attempt = request_from(self.ns, self.gw, scopes=("operator.read",))
        assert attempt.request_id, attempt
        return attempt.request_id

    def measure(self) -> dict[str, Any]:
        gw, n = self.gw, self.runs
        # warm-up: compile caches, the 2026.2.26 CLI's own silent pairing, page cache for both
        run_checked([*self.openclaw, "devices", "list", *self.openclaw_flags], gw.env())
        run_checked([str(SIDECAR), "list", "--json"], self.sidecar_env)
        rows: dict[str, Any] = {}
        rows["list: openclaw-sidecar process"] = processes(
            [timed(lambda: run_checked([str(SIDECAR), "list", "--json"], self.sidecar_env)) for _ in range(n)]
        )
        rows["list: openclaw devices process"] = processes(
            [
                timed(
                    lambda: run_checked([*self.openclaw, "devices", "list", *self.openclaw_flags], gw.env())
                )
                for _ in range(n)
            ]
        )
        ours, theirs, ours_cpu, theirs_cpu = [], [], [], []
        for _ in range(n):
            rid = self.pending_id()
            ours.append(timed(lambda rid=rid: run_checked([str(SIDECAR), "approve", rid], self.sidecar_env)))
            ours_cpu.append(CPU[-1])
            rid = self.pending_id()
            argv = [*self.openclaw, "devices", "approve", rid, *self.openclaw_flags]
            theirs.append(timed(lambda argv=argv: run_checked(argv, gw.env())))
            theirs_cpu.append(CPU[-1])
        rows["approve: openclaw-sidecar process"] = stats(ours, ours_cpu)
        rows["approve: openclaw devices process"] = stats(theirs, theirs_cpu)
        rows["in-process connect+list"] = stats(asyncio.run(self.in_process_list()))
        ids = [self.pending_id() for _ in range(n)]
        rows["in-process connect+approve"] = stats(asyncio.run(self.in_process_approve(ids)))
        return rows

    async def in_process_list(self) -> list[float]:
        samples = []
        for _ in range(self.runs + 1):
            started = time.perf_counter()
            async with GatewayClient(self.gw.url, token=self.gw.token, identity=None) as client:
                await client.list_pairing()
            samples.append(time.perf_counter() - started)
        return samples[1:]  # first one warms the imports and the loop

    async def in_process_approve(self, ids: list[str]) -> list[float]:
        async with GatewayClient(self.gw.url, token=self.gw.token, identity=None) as lister:
            listing = await lister.list_pairing()
        scopes = tuple(dict.fromkeys(s for p in listing.pending for s in scopes_to_approve(p)))
        samples = []
        for rid in ids:
            started = time.perf_counter()
            async with GatewayClient(
                self.gw.url, token=self.gw.token, identity=None, scopes=scopes
            ) as client:
                await client.approve(rid)
            samples.append(time.perf_counter() - started)
        return samples


def fmt(row: dict[str, float], ms: bool = False) -> str:
    unit, k, d = ("ms", 1000.0, 0) if ms else ("s", 1.0, 2)
    return f"{row['median'] * k:6.{d + 1}f} {unit} ({row['min'] * k:.{d}f}–{row['max'] * k:.{d}f})"


def report(version: str, rows: dict[str, Any]) -> list[str]:
    n, load = rows["list: openclaw-sidecar process"]["n"], rows["loadavg"]
    lines = [f"\nOpenClaw {version} (n={n}; median (min–max); load average {load[0]:.1f} → {load[1]:.1f})"]
    for op in ("list", "approve"):
        ours, theirs = rows[f"{op}: openclaw-sidecar process"], rows[f"{op}: openclaw devices process"]
        ok = "ok" if ours["median"] <= TARGET_PROCESS_S else "MISSED"
        lines.append(
            f"  {op:8} new process   openclaw-sidecar {fmt(ours)} cpu {ours['cpu_median']:.2f} s   "
            f"openclaw devices {fmt(theirs)} cpu {theirs['cpu_median']:.2f} s   "
            f"×{theirs['median'] / ours['median']:.1f} faster   target ≤{TARGET_PROCESS_S} s: {ok}"
        )
    for op in ("list", "approve"):
        row = rows[f"in-process connect+{op}"]
        ok = "ok" if row["median"] * 1000 <= TARGET_INPROCESS_MS else "MISSED"
        target = f"target ≤{TARGET_INPROCESS_MS:.0f} ms: {ok}"
        lines.append(f"  {op:8} in-process    connect+{op:8} {fmt(row, ms=True)}   {target}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--versions", default=",".join(VERSIONS))
    args = parser.parse_args()
    if not netns.can_make_netns():
        print(
            "bench_gateway: needs root and the private namespace: scripts/run-bench.sh bench/bench_gateway.py"
        )
        return 2
    versions = [v for v in args.versions.split(",") if v]
    missing = [v for v in versions if not installed(v)]
    if missing:
        print(f"bench_gateway: openclaw {', '.join(missing)} not installed: run scripts/provision-node.sh")
        return 2
    results: dict[str, Any] = {
        "bench": "gateway",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine()},
        "targets": {"process_s": TARGET_PROCESS_S, "in_process_ms": TARGET_INPROCESS_MS},
        "versions": {},
    }
    ns = netns.ClientNetns.create(f"bench{secrets.token_hex(2)}", index=7)
    lines: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-gw-") as tmp:
            for version in versions:  # one gateway at a time: the idle one would add noise
                gw = RealGateway(version, Path(tmp) / version)
                gw.start()
                try:
                    gw.wait_ready()
                    load_before = os.getloadavg()[0]
                    rows = Bench(gw, ns, args.runs).measure()
                    rows["loadavg"] = [load_before, os.getloadavg()[0]]
                    results["versions"][gw.version] = rows
                    lines += report(gw.version, rows)
                finally:
                    gw.stop()
    finally:
        ns.destroy()
    print("\n".join(lines))
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"bench_gateway-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
