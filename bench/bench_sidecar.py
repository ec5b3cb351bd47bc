"""Approval latency and footprint: our sidecar versus the approve-everything loop users run today.

Both approaches face the same real gateway (2026.9.6) and the same kind of agents: containers on a
test-made Docker network, each connecting with a fresh device key. Latency is measured identically for
both, from the gateway's own clock: ``device.pair.requested.ts`` → ``device.pair.resolved.ts``.

- **sidecar**: ``python -m sidecar run`` (strict mode, trusted flag on), event-driven.
- **cli-loop**: the common script (NemoClaw's watcher, OpenVoiceUI's script): every 5 s
  ``openclaw devices list --json`` then ``openclaw devices approve <id>`` for every pending request.

Each run also adds one *unlabelled* agent: the sidecar must leave it pending; the loop approves it.
Run with ``make bench`` (inside a private network namespace). Results: bench/results/sidecar.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker

from sidecar.gateway.client import GatewayClient
from sidecar.gateway.models import GatewayEvent
from sidecar.identity.keys import DeviceIdentity
from tests.harness import netns
from tests.harness.agents import OPT_IN, start_agent, start_sidecar, wait_until
from tests.harness.devices import reset_pairing
from tests.harness.gateway import RealGateway, openclaw_bin

AGENTS = int(os.environ.get("BENCH_AGENTS", "8"))
POLL_S = 5
RUN_ID = secrets.token_hex(4)
RUN_LABEL = {"openclaw.bench-run": RUN_ID}
IDS = "import json, sys; [print(p['requestId']) for p in json.load(sys.stdin)['pending']]"
LOOP = """
while true; do
  for id in $("$OC" devices list --json | python3 -c "$IDS"); do
    "$OC" devices approve "$id" >/dev/null 2>&1
  done
  sleep "$POLL"
done
"""


class Watcher(threading.Thread):
    """Records the gateway's own timestamps for every request and resolution."""

    def __init__(self, gw: RealGateway) -> None:
        super().__init__(daemon=True)
        self.gw, self.requested, self.resolved = gw, {}, {}
        self.ready, self.done = threading.Event(), threading.Event()

    def on_event(self, event: GatewayEvent) -> None:
        payload = event.payload if isinstance(event.payload, dict) else {}
        if event.event == "device.pair.requested":
            self.requested[payload["requestId"]] = payload["ts"]
        elif event.event == "device.pair.resolved":
            self.resolved[payload["requestId"]] = (payload["decision"], payload["ts"])

    def run(self) -> None:
        async def main() -> None:
            async with GatewayClient(self.gw.url, token=self.gw.token, identity=None) as client:
                client.subscribe(self.on_event)
                self.ready.set()
                await asyncio.to_thread(self.done.wait)

        asyncio.run(main())

    def latency_ms(self, request_id: str) -> int | None:
        if request_id not in self.resolved or request_id not in self.requested:
            return None
        decision, ts = self.resolved[request_id]
        return ts - self.requested[request_id] if decision == "approved" else None


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_agents(
    client: Any, net: Any, gw_url: str, gw: RealGateway, work: Path, project: str
) -> dict[str, str]:
    """Start the labelled agents and one unlabelled one; returns requestId → kind."""
    kinds: dict[str, str] = {}
    for i in range(AGENTS):
        key = DeviceIdentity.generate()
        _, rid = start_agent(
            client,
            net.name,
            gw_url,
            gw.token,
            work,
            name=f"a{i}",
            project=project,
            labels={**RUN_LABEL, **OPT_IN},
            key=key,
            publishes=key,
        )
        kinds[rid] = "labelled"
    key = DeviceIdentity.generate()
    _, rid = start_agent(
        client,
        net.name,
        gw_url,
        gw.token,
        work,
        name="stranger",
        project=project,
        labels=RUN_LABEL,
        key=key,
        publishes=key,
    )
    kinds[rid] = "unlabelled"
    return kinds


def summarize(
    name: str, watcher: Watcher, kinds: dict[str, str], cpu_s: float, rss_mib: float
) -> dict[str, Any]:
    lat = [watcher.latency_ms(r) for r, k in kinds.items() if k == "labelled"]
    got = sorted(x for x in lat if x is not None)
    stranger = next(r for r, k in kinds.items() if k == "unlabelled")
    return {
        "approach": name,
        "approved": f"{len(got)}/{len(lat)}",
        "median_ms": statistics.median(got) if got else None,
        "p95_ms": got[max(0, int(len(got) * 0.95) - 1)] if got else None,
        "max_ms": got[-1] if got else None,
        "cpu_s": round(cpu_s, 2),
        "peak_rss_mib": round(rss_mib, 1),
        "approved_unlabelled": watcher.latency_ms(stranger) is not None,
    }


def remove_containers(client: Any) -> None:
    """Remove this run's containers; Docker 20.10's overlay2 sometimes needs a second try."""
    for container in client.containers.list(all=True, filters={"label": f"openclaw.bench-run={RUN_ID}"}):
        for attempt in range(3):
            try:
                container.remove(force=True)
                break
            except docker.errors.NotFound:
                break
            except docker.errors.APIError:
                if attempt == 2:
                    raise
                time.sleep(1)


def main() -> int:
    if not netns.can_make_netns():
        print("bench_sidecar needs root and a private network namespace: run `make bench`", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-sidecar-"))
    client = docker.from_env(timeout=60)
    gw = RealGateway("2026.9.6", work / "gw")
    gw.start()
    gw.wait_ready()
    network = client.networks.create(
        f"ocp-bench-{RUN_LABEL['openclaw.bench-run']}", internal=True, labels=RUN_LABEL
    )
    network.reload()
    plug = netns.plug_into_docker_network(network.attrs, 900)
    gw_url = gw.url_via(plug.ip)
    rows = []
    try:
        # --- ours ------------------------------------------------------------------------------
        watcher = Watcher(gw)
        watcher.start()
        watcher.ready.wait(30)
        (work / "ours").mkdir()
        sidecar = start_sidecar(gw, work / "ours", project=f"bench-ours-{RUN_ID}", trusted=True)
        kinds = run_agents(client, network, gw_url, gw, work / "ours", f"bench-ours-{RUN_ID}")
        labelled = [r for r, k in kinds.items() if k == "labelled"]
        wait_until("approvals", lambda: all(watcher.latency_ms(r) is not None for r in labelled), 60)
        time.sleep(2)  # give it the chance to (wrongly) approve the stranger
        rows.append(
            summarize(
                "sidecar (ours)",
                watcher,
                kinds,
                cpu_seconds(sidecar.proc.pid),
                peak_rss_mib(sidecar.proc.pid),
            )
        )
        sidecar.stop()
        watcher.done.set()
        for c in client.containers.list(
            all=True, filters={"label": f"openclaw.bench-run={RUN_LABEL['openclaw.bench-run']}"}
        ):
            c.remove(force=True)
        reset_pairing(gw)

        # --- today's approve-everything loop ---------------------------------------------------
        watcher = Watcher(gw)
        watcher.start()
        watcher.ready.wait(30)
        (work / "loop").mkdir()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        loop = subprocess.Popen(
            ["bash", "-c", LOOP],
            env=gw.env(OC=str(openclaw_bin(gw.version)), POLL=str(POLL_S), IDS=IDS),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        kinds = run_agents(client, network, gw_url, gw, work / "loop", f"bench-loop-{RUN_ID}")
        labelled = [r for r, k in kinds.items() if k == "labelled"]
        wait_until("approvals", lambda: all(watcher.latency_ms(r) is not None for r in labelled), 120, 0.5)
        time.sleep(POLL_S + 4)
        os.killpg(loop.pid, 15)
        loop.wait(30)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rows.append(summarize(f"cli-loop (poll {POLL_S} s)", watcher, kinds, cpu, after.ru_maxrss / 1024))
        watcher.done.set()
    finally:
        for c in client.containers.list(
            all=True, filters={"label": f"openclaw.bench-run={RUN_LABEL['openclaw.bench-run']}"}
        ):
            c.remove(force=True)
        plug.unplug()
        network.remove()
        gw.stop()

    header = (
        "approach",
        "approved",
        "median_ms",
        "p95_ms",
        "max_ms",
        "cpu_s",
        "peak_rss_mib",
        "approved_unlabelled",
    )
    print(f"\nRequest → approval, gateway clock, {AGENTS} labelled agents + 1 unlabelled (openclaw 2026.9.6)")
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    out = Path(__file__).parent / "results" / "sidecar.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"agents": AGENTS, "rows": rows, "time": time.time()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
