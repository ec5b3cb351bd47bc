"""What every part of the one-run benchmark shares: statistics, the gateway's own clock, processes, cleanup.

Nothing here times anything by itself. Latencies come from the gateway's timestamps
(``device.pair.requested.ts`` → ``device.pair.resolved.ts``), recorded by :class:`EventLog`, a plain
operator connection on the gateway's loopback that only listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sidecar.gateway.client import GatewayClient
from sidecar.gateway.models import GatewayEvent
from tests.harness.gateway import RealGateway

RUN_ID = secrets.token_hex(4)
RUN_LABEL_KEY = "openclaw.bench-run"
RUN_LABEL = {RUN_LABEL_KEY: RUN_ID}


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sample."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.499999)))
    return float(ordered[rank - 1])


def summary(samples: Sequence[float]) -> dict[str, Any]:
    """n, p50, p95, p99, max (and mean) of a sample; Nones when it is empty."""
    if not samples:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    return {
        "n": len(samples),
        "p50": percentile(samples, 50),
        "p95": percentile(samples, 95),
        "p99": percentile(samples, 99),
        "max": float(max(samples)),
        "mean": float(statistics.fmean(samples)),
    }


def wait_until(what: str, ok: Callable[[], Any], within: float, every: float = 0.05) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = ok()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within:.0f} s waiting for {what}")
        time.sleep(every)


# --- the gateway's own clock ---------------------------------------------------------------------------


@dataclass
class Request:
    request_id: str
    device_id: str
    remote_ip: str | None
    ts: int
    resolved: str | None = None  # approved | rejected
    resolved_ts: int | None = None

    @property
    def latency_ms(self) -> int | None:
        if self.resolved != "approved" or self.resolved_ts is None:
            return None
        return self.resolved_ts - self.ts


@dataclass
class EventLog:
    """Every ``device.pair.requested`` / ``device.pair.resolved`` and ``node.pair.*`` the gateway sends."""

    gw: RealGateway
    requests: dict[str, Request] = field(default_factory=dict)
    node_requested: list[dict[str, Any]] = field(default_factory=list)
    node_resolved: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ready: threading.Event = field(default_factory=threading.Event)
    _done: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _early: dict[str, tuple[str, int]] = field(default_factory=dict)

    def on_event(self, event: GatewayEvent) -> None:
        p = event.payload if isinstance(event.payload, dict) else {}
        with self._lock:
            if event.event == "device.pair.requested":
                rid = str(p.get("requestId"))
                req = Request(rid, str(p.get("deviceId")), p.get("remoteIp"), int(p.get("ts") or 0))
                if rid in self._early:
                    req.resolved, req.resolved_ts = self._early.pop(rid)
                self.requests.setdefault(rid, req)
            elif event.event == "device.pair.resolved":
                rid = str(p.get("requestId"))
                decision, ts = str(p.get("decision")), int(p.get("ts") or 0)
                if rid in self.requests:
                    self.requests[rid].resolved, self.requests[rid].resolved_ts = decision, ts
                else:
                    self._early[rid] = (decision, ts)
            elif event.event == "node.pair.requested":
                self.node_requested.append(p)
            elif event.event == "node.pair.resolved":
                self.node_resolved.append(p)

    def start(self) -> EventLog:
        def run() -> None:
            async def main() -> None:
                async with GatewayClient(self.gw.url, token=self.gw.token, identity=None) as client:
                    client.subscribe(self.on_event)
                    self._ready.set()
                    await asyncio.to_thread(self._done.wait)

            asyncio.run(main())

        self._thread = threading.Thread(target=run, daemon=True, name="event-log")
        self._thread.start()
        if not self._ready.wait(30):
            raise TimeoutError("the event log could not connect to the gateway")
        return self

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(10)

    def snapshot(self) -> list[Request]:
        with self._lock:
            return [
                Request(**{k: getattr(r, k) for k in Request.__dataclass_fields__})
                for r in self.requests.values()
            ]

    def from_ips(self, ips: Iterable[str]) -> list[Request]:
        wanted = set(ips)
        return [r for r in self.snapshot() if r.remote_ip in wanted]

    def approved(self, request_ids: Iterable[str]) -> int:
        with self._lock:
            return sum(
                1
                for rid in request_ids
                if self.requests.get(rid, Request("", "", None, 0)).resolved == "approved"
            )


# --- processes -------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a live process (and its reaped children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int, peak: bool = False) -> float:
    key = "VmHWM:" if peak else "VmRSS:"
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return 0.0


def remove_labelled(client: Any) -> None:
    """Remove every container, network and volume of this run (label openclaw.bench-run=<run id>)."""
    flt = {"label": f"{RUN_LABEL_KEY}={RUN_ID}"}
    for container in client.containers.list(all=True, filters=flt):
        for attempt in range(3):
            try:
                container.remove(force=True, v=True)
                break
            except Exception:
                if attempt == 2:
                    raise
                time.sleep(1)
    for network in client.networks.list(filters=flt):
        with contextlib.suppress(Exception):
            network.remove()
    for volume in client.volumes.list(filters=flt):
        with contextlib.suppress(Exception):
            volume.remove(force=True)
