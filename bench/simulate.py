"""Simulated fleets: 10 to 10,000 workloads and pending requests through the real policy and reconcile pass.

In process, no gateway and no Docker: the real :class:`~sidecar.approver.reconcile.Reconciler` (list,
snapshot, fingerprint, ``decide``, act, audit) with the unit tests' fake gateway (approve moves a request to
``paired`` as the real one does) and a fixed workload snapshot. Each labelled workload publishes its own
key and has its own address; 1 % more workloads are unlabelled strangers whose requests must stay pending.

Two arrival patterns per N:

- **flood**: all N requests are pending when one pass runs (a sidecar (re)connecting to a full queue);
- **stream**: requests arrive 10 at a time with a pass after each arrival (the event-driven case: every
  ``device.pair.requested`` triggers a pass that re-lists and re-decides what is pending).

The cost per request (pass time / N) should not grow with N.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import time
from dataclasses import replace
from typing import Any

from sidecar.approver.audit import AuditLog
from sidecar.approver.reconcile import Reconciler
from sidecar.gateway.models import PendingRequest
from sidecar.identity.keys import DeviceIdentity, PublicIdentity
from sidecar.metrics import Metrics
from sidecar.settings import Mode, PolicySettings, Settings
from sidecar.sources.workloads import Workload
from tests.unit.pairing_fixtures import NOW, FakeClient, FakeClock, FakeGateway, FakeSource, workload

PROJECT = "demo"
BATCH = 10


def fleet(n: int) -> tuple[list[Workload], list[PendingRequest], set[str]]:
    """n labelled workloads and n // 100 (at least 1) unlabelled ones, each with one pending request."""
    strangers = max(1, n // 100)
    base = int(ipaddress.ip_address("10.64.0.2"))
    workloads, requests, stranger_ids = [], [], set()
    for i in range(n + strangers):
        who: PublicIdentity = DeviceIdentity.generate().public()
        ip = str(ipaddress.ip_address(base + i))
        labelled = i < n
        w = workload(f"agent-{i}", who, ip, labels=None if labelled else {})
        workloads.append(replace(w, id=f"{i:064x}"))
        rid = f"req-{i:06d}"
        requests.append(
            PendingRequest(
                request_id=rid,
                device_id=who.device_id,
                public_key=who.public_key,
                ts=NOW - 1_000 + i // 1000,
                role="operator",
                roles=("operator",),
                scopes=("operator.read",),
                remote_ip=ip,
                platform="linux",
            )
        )
        if not labelled:
            stranger_ids.add(rid)
    return workloads, requests, stranger_ids


def reconciler(workloads: list[Workload]) -> Reconciler:
    policy = PolicySettings(
        mode=Mode.STRICT,
        project=PROJECT,
        project_auto=False,
        rate_limit_global=10**9,
        rate_limit_per_container=10**9,
    )
    settings = Settings(trusted=True, policy=policy, audit_log=os.devnull, listen=None)
    return Reconciler(
        settings,
        policy,
        source=FakeSource(tuple(workloads)),
        audit=AuditLog(os.devnull),
        metrics=Metrics(),
        clock=FakeClock(),
        hold=lambda: None,
        gateway_version=lambda: "2026.9.6",
    )


async def _run(n: int, pattern: str) -> dict[str, Any]:
    workloads, requests, strangers = fleet(n)
    gw = FakeGateway()
    client = FakeClient(gw)
    rec = reconciler(workloads)
    stop = asyncio.Event()
    passes = 0
    started = time.perf_counter()
    cpu0 = time.process_time()
    if pattern == "flood":
        gw.add(*requests)
        await rec.run(client, stop)
        passes = 1
    else:
        for i in range(0, len(requests), BATCH):
            batch = requests[i : i + BATCH]
            gw.add(*batch)
            for r in batch:  # what the event handler does before it triggers the pass
                rec.saw(r, NOW)
            await rec.run(client, stop)
            passes += 1
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    approved = {rid for method, rid in gw.rpcs if method == "approve"}
    return {
        "n": n,
        "pattern": pattern,
        "passes": passes,
        "seconds": elapsed,
        "cpu_s": cpu,
        "us_per_request": elapsed / n * 1e6,
        "approved": len(approved - strangers),
        "wrong_approvals": len(approved & strangers),
        "left_pending": len(gw.pending),
    }


def run(sizes: tuple[int, ...] = (10, 100, 1000, 10_000)) -> list[dict[str, Any]]:
    rows = []
    for pattern in ("flood", "stream"):
        for n in sizes:
            rows.append(asyncio.run(_run(n, pattern)))
    return rows


if __name__ == "__main__":
    import sys

    for row in run(tuple(int(x) for x in sys.argv[1:]) or (10, 100, 1000)):
        print(row)
