"""The node half of a reconcile pass: ``node.pair.list`` → the node policy per surface → act → audit.

Runs after the device half, on the same workload snapshot and paired list, with the same memory,
history, gate (``actions.carry_out``) and audit — so the trusted flag, ``once``, metrics and the audit
cover node surfaces exactly like device requests (records carry ``kind: node``). A release without node
capability approval (2026.2.x lists nothing; an older or stripped gateway may not know the method) is
normal: an unknown-method answer is logged once and the node half is skipped from then on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Protocol

from sidecar.approver.actions import Outcome
from sidecar.approver.memory import RequestMemory, _digest
from sidecar.approver.ports import Clock, PairingClient
from sidecar.errors import GatewayError, GatewayRequestError, MissingScope
from sidecar.gateway.models import PairedDevice
from sidecar.gateway.node_records import NodeRequest
from sidecar.metrics import Metrics
from sidecar.policy import Decision
from sidecar.policy.history import History
from sidecar.policy.nodes import decide_node
from sidecar.settings import PolicySettings
from sidecar.sources.workloads import Workload

log = logging.getLogger("sidecar.approver")


class Reconciler(Protocol):
    """What the node half uses of ``reconcile.Reconciler`` (a Protocol: no import circle)."""

    nodes_unsupported: bool
    metrics: Metrics
    clock: Clock
    memory: RequestMemory
    history: History
    policy: PolicySettings

    def hold(self) -> None: ...

    def reserve(self, decision: Decision) -> None: ...

    async def act(
        self, client: PairingClient, decision: Decision, rid: str, stop: asyncio.Event, *, kind: str
    ) -> Outcome: ...

    def record(self, decision: Decision, outcome: str, rid: str) -> None: ...


class PassResult(Protocol):
    pending: int
    records: list[tuple[Decision, str]]


def node_fingerprint(
    node: NodeRequest, workloads_fp: str, paired: PairedDevice | None, history: History
) -> str:
    return _digest(
        [
            node.to_json(),
            workloads_fp,
            paired.to_json() if paired else None,
            history.resolution(node.request_id),
        ]
    )


async def node_pass(
    r: Reconciler,
    client: PairingClient,
    workloads: tuple[Workload, ...],
    workloads_fp: str,
    paired: Mapping[str, PairedDevice],
    stop: asyncio.Event,
    result: PassResult,
) -> set[str]:
    """Decide every pending node surface; returns their request ids (the memory keeps them)."""
    if r.nodes_unsupported:
        return set()
    try:
        listing = await client.list_node_pairing()
    except MissingScope as exc:
        r.metrics.rpc_errors.labels(method="node.pair.list").inc()
        log.warning("node.pair.list refused (%s): node capability surfaces are not decided", exc)
        return set()
    except GatewayRequestError as exc:  # e.g. unknown method: a release without node capability approval
        r.nodes_unsupported = True
        log.info("node.pair.list not available on this gateway (%s): node surfaces are not decided", exc)
        return set()
    except GatewayError as exc:
        r.metrics.rpc_errors.labels(method="node.pair.list").inc()
        log.warning("node.pair.list failed: %s", exc)
        return set()
    for problem in listing.problems:
        log.warning("skipping an unreadable pending node surface: %s", problem)
    result.pending += len(listing.pending)
    now = r.clock.now_ms()
    for node in sorted(listing.pending, key=lambda n: (n.ts, n.request_id)):
        if stop.is_set():
            break
        r.memory.saw(node.request_id, r.clock.monotonic())
        try:
            record = await _handle(r, client, node, workloads, workloads_fp, paired, stop, now)
        except Exception:  # one bad surface must not starve the others; nothing was sent for it
            log.exception("deciding node surface %s failed; leaving it pending", node.request_id)
            continue
        if record is not None:
            result.records.append(record)
        if r.memory.wants_retry(node.request_id):
            r.hold()
    return {n.request_id for n in listing.pending}


async def _handle(
    r: Reconciler,
    client: PairingClient,
    node: NodeRequest,
    workloads: tuple[Workload, ...],
    workloads_fp: str,
    paired: Mapping[str, PairedDevice],
    stop: asyncio.Event,
    now: int,
) -> tuple[Decision, str] | None:
    rid = node.request_id
    if rid in r.memory.done:
        return None
    fp = node_fingerprint(node, workloads_fp, paired.get(node.node_id), r.history)
    if r.memory.unchanged(rid, fp):
        return None
    decision = decide_node(node, workloads, paired, r.policy, r.history, now)
    if r.memory.same_again(rid, fp, decision):
        return None
    r.reserve(decision)
    outcome = await r.act(client, decision, rid, stop, kind="node")
    r.memory.remember(rid, fp, decision, outcome.retry)
    r.record(decision, outcome.text, rid)
    return decision, outcome.text
