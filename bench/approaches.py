"""The approvers compared, each started against the same real gateway and stopped after its round.

- ``sidecar``: ``python -m sidecar run`` (strict mode, OPENCLAW_TRUSTED_ENV on, the default reconcile
  interval of 30 s as users run it), event-driven; the global
  rate limit raised for fleets (``OPENCLAW_PAIRING_RATE_LIMIT_GLOBAL``; the default, 30 per minute, holds a
  larger burst back on purpose);
- ``watcher-1s``: the NemoClaw-style watcher: every 1 s ``openclaw devices list --json``, then
  ``openclaw devices approve <id>`` for each pending request, one after the other;
- ``loop-5s``: the same with a 5 s sleep (the common shell loop).

Both CLI loops approve whatever is pending: an unlabelled stranger's request included.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import cpu_seconds, rss_mib
from tests.harness.agents import Sidecar, start_sidecar
from tests.harness.gateway import RealGateway, openclaw_bin

IDS = "import json, sys; [print(p['requestId']) for p in json.load(sys.stdin)['pending']]"
LOOP = """
while true; do
  for id in $("$OC" devices list --json | python3 -c "$IDS"); do
    "$OC" devices approve "$id" >/dev/null 2>&1
  done
  sleep "$POLL"
done
"""
RECONCILE_INTERVAL_S = 30  # the production default (the test harness uses 5 s)
FLEET_ENV = {
    "OPENCLAW_PAIRING_RECONCILE_INTERVAL": f"{RECONCILE_INTERVAL_S}s",
    "OPENCLAW_PAIRING_RATE_LIMIT_GLOBAL": "100000",
    "OPENCLAW_PAIRING_ALLOW_NODE_ROLE": "true",
    "OPENCLAW_PAIRING_ALLOW_NODE_ADMIN_COMMANDS": "true",
}


@dataclass
class Running:
    name: str
    pid: int
    sidecar: Sidecar | None = None
    loop: subprocess.Popen[bytes] | None = None
    cpu_at_start: float = 0.0

    def cpu_s(self) -> float:
        """CPU seconds since start: the sidecar process, or the loop's shell and every CLI it ran."""
        if self.sidecar is not None:
            return cpu_seconds(self.pid) - self.cpu_at_start
        return _group_cpu(self.pid) - self.cpu_at_start

    def rss_mib(self, peak: bool = False) -> float:
        return rss_mib(self.pid, peak)

    def stop(self) -> None:
        if self.sidecar is not None:
            self.sidecar.stop()
        if self.loop is not None:
            os.killpg(self.loop.pid, signal.SIGTERM)
            self.loop.wait(30)


def _group_cpu(pid: int) -> float:
    """CPU of the loop shell including its reaped children (each CLI process counts once it exited)."""
    return cpu_seconds(pid)


def start(name: str, gw: RealGateway, workdir: Path, project: str) -> Running:
    workdir.mkdir(parents=True, exist_ok=True)
    if name == "sidecar":
        sc = start_sidecar(gw, workdir, project=project, trusted=True, env=FLEET_ENV)
        return Running(name, sc.proc.pid, sidecar=sc, cpu_at_start=0.0)
    poll = {"watcher-1s": "1", "loop-5s": "5"}[name]
    loop = subprocess.Popen(
        ["bash", "-c", LOOP],
        env=gw.env(OC=str(openclaw_bin(gw.version)), POLL=poll, IDS=IDS),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return Running(name, loop.pid, loop=loop)


def describe() -> dict[str, Any]:
    return {
        "sidecar": "our sidecar: event-driven, strict mode (key published by a labelled container + its IP)",
        "watcher-1s": "NemoClaw-style watcher: `openclaw devices list --json` every 1 s, approve each id",
        "loop-5s": "shell loop: the same every 5 s",
    }
