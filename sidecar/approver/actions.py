"""Carrying a decision out: the fail-closed gate and the only place an approve/reject RPC is sent.

All in one function so the gate reads top to bottom: a decision that does not act sends nothing; without
the trusted flag nothing is sent and the audit says ``would-approve``/``would-reject``; once ``stop`` is set
nothing is sent either (checked immediately before the RPC). When an RPC fails with a gateway error, one
re-list tells a request that is gone (superseded, expired, resolved elsewhere) from a real failure that
is retried on the next pass — without matching on error text.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from enum import Enum

from sidecar.approver.ports import PairingClient
from sidecar.errors import GatewayError, GatewayRequestError
from sidecar.metrics import Metrics
from sidecar.policy import Action, Decision
from sidecar.settings import Mode, Settings

log = logging.getLogger("sidecar.approver")
_PAST = {Action.APPROVE: "approved", Action.REJECT: "rejected", Action.IGNORE: "ignored"}


class Kind(Enum):
    NOTHING = "nothing"  # the decision does not act (ignore)
    OBSERVED = "observed"  # no trusted flag: audited as would-approve/would-reject, nothing sent
    NOT_SENT = "not-sent"  # shutdown started before the RPC
    SENT = "sent"  # the gateway accepted the approve/reject
    GONE = "gone"  # the RPC failed and the request is no longer pending
    FAILED = "failed"  # the RPC failed and the request is (or may be) still pending


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    text: str  # the audit record's ``outcome``

    @property
    def retry(self) -> bool:
        """Nothing took effect: decide this request again on the next pass."""
        return self.kind in {Kind.NOT_SENT, Kind.FAILED}

    @property
    def settled(self) -> bool:
        """Approved, rejected or gone: never decide this request again."""
        return self.kind in {Kind.SENT, Kind.GONE}

    @property
    def timed(self) -> bool:
        """The decision took effect (sent, or recorded as observe-only): its latency counts."""
        return self.kind in {Kind.SENT, Kind.OBSERVED}


async def carry_out(
    client: PairingClient,
    decision: Decision,
    rid: str,
    *,
    settings: Settings,
    stop: asyncio.Event,
    metrics: Metrics,
    kind: str = "device",
) -> Outcome:
    """Carry a decision out, or say why it was not. Logs what happened; the caller audits it.

    ``kind`` is ``device`` (``device.pair.*``) or ``node`` (``node.pair.*``, a node's capability surface).
    """
    if not decision.acts:
        return Outcome(Kind.NOTHING, "none")
    if not settings.trusted:  # observe: re-decided only when inputs change; counts no approval
        log.info("%s %s: %s", decision.audit_action(False), rid, decision.reason)
        return Outcome(Kind.OBSERVED, "observe-only: OPENCLAW_TRUSTED_ENV is not set")
    if stop.is_set():  # checked immediately before the RPC: never act after shutdown starts
        return Outcome(Kind.NOT_SENT, "not-sent: shutting down")
    verb = "approve" if decision.action is Action.APPROVE else "reject"
    method = f"{'node' if kind == 'node' else 'device'}.pair.{verb}"
    try:
        if kind == "node":
            await (client.approve_node(rid) if verb == "approve" else client.reject_node(rid))
        elif verb == "approve":
            await client.approve(rid)
        else:
            await client.reject(rid)
    except GatewayRequestError as exc:
        if await _still_pending(client, rid, kind) is False:
            log.info("%s %s: request no longer pending (superseded, expired or resolved)", method, rid)
            return Outcome(Kind.GONE, "gone: no longer pending (superseded, expired or resolved)")
        return _failed(method, rid, exc, metrics)
    except GatewayError as exc:
        return _failed(method, rid, exc, metrics)
    who = decision.workload.name if decision.workload else "?"
    if settings.mode is Mode.DEV_APPROVE_ALL and decision.action is Action.APPROVE:
        log.warning("dev-approve-all APPROVED %s from container %s without identity checks", rid, who)
    else:
        log.info("%s %s (container %s): %s", _PAST[decision.action], rid, who, decision.reason)
    return Outcome(Kind.SENT, "sent")


def _failed(method: str, rid: str, exc: GatewayError, metrics: Metrics) -> Outcome:
    metrics.rpc_errors.labels(method=method).inc()
    log.error("%s %s failed: %s", method, rid, exc)
    return Outcome(Kind.FAILED, f"error: {type(exc).__name__}: {exc}")


async def _still_pending(client: PairingClient, rid: str, kind: str) -> bool | None:
    """One re-list: True/False, or None when the re-list failed too (then it counts as still there)."""
    try:
        if kind == "node":
            return (await client.list_node_pairing()).find(rid) is not None
        return (await client.list_pairing()).find(rid) is not None
    except GatewayError:
        return None
