"""A paired node's second approval: is its capability surface (its commands) approved, pending or refused?

Since OpenClaw 2026.3.31 a node host's commands stay disabled until ``openclaw nodes approve`` (or the
sidecar) approves its declared surface (``node.pair.*``); the device pairing alone leaves a node that is
"connected" but can run nothing. Doctor asks the gateway (``node.list`` for the node's live state,
``node.pair.list`` for pending requests) and says which one it is, with the fix. Releases without node
command gating (2026.2.x) list nothing and report no ``approvalState``: nothing to say.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sidecar.doctor.findings import Finding, finding
from sidecar.doctor.options import DoctorOptions
from sidecar.errors import GatewayError

if TYPE_CHECKING:
    from sidecar.gateway.node_records import NodePairingList


def analyze(device_id: str, nodes: Sequence[Mapping[str, Any]], listing: NodePairingList) -> list[Finding]:
    """Pure: findings for the node ``device_id`` from ``node.list`` entries and ``node.pair.list``."""
    pending = [p for p in listing.pending if p.node_id == device_id]
    node = next((n for n in nodes if n.get("nodeId") == device_id), None)
    state = node.get("approvalState") if node else None
    if pending:
        p = pending[-1]
        admin = f", {len(p.admin_commands)} of them admin-sensitive" if p.admin_commands else ""
        seen = (
            f"node {device_id[:12]}…'s capability surface (request {p.request_id}: {len(p.commands)} "
            f"commands{admin}) awaits approval; its commands are disabled until then"
        )
        return [finding("pairing.node-commands-pending", seen, request_id=p.request_id)]
    if node is not None and state not in (None, "approved") and listing.approved(device_id) is None:
        declared = node.get("pendingDeclaredCommands") or node.get("commands") or []
        seen = (
            f"node {device_id[:12]}… is paired (connected: {bool(node.get('connected'))}) but its capability "
            f"surface is {state} with no pending request: it was rejected or expired ({len(declared)} "
            "declared commands)"
        )
        return [finding("pairing.node-commands-rejected", seen)]
    return []


async def _ask(opts: DoctorOptions) -> tuple[list[Mapping[str, Any]], NodePairingList]:
    from sidecar.gateway.client import GatewayClient

    assert opts.gateway_url is not None
    client = GatewayClient(
        opts.gateway_url,
        token=opts.token,
        identity=None,
        scopes=("operator.pairing", "operator.read"),
        display_name="openclaw-sidecar doctor",
        connect_timeout=opts.timeout,
        call_timeout=opts.timeout,
    )
    async with client:
        listing = await client.list_node_pairing()
        payload = await client.call("node.list", {})
    nodes = payload.get("nodes") if isinstance(payload, dict) else None
    return [n for n in nodes or [] if isinstance(n, dict)], listing


def check(opts: DoctorOptions, device_id: str) -> list[Finding]:
    """Findings for a paired node; none when the gateway cannot say (the pairing check reports that)."""
    try:
        nodes, listing = asyncio.run(_ask(opts))
    except GatewayError:
        return []
    return analyze(device_id, nodes, listing)
