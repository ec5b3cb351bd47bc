"""``nodes list|approve|reject``: ``openclaw nodes pending|approve|reject`` at in-process speed.

A node host's *capability surface* (the commands it declares) needs its own approval since OpenClaw
2026.3.31 (``node.pair.*``); device pairing alone leaves its commands disabled. Same connection rules as
``list``/``approve`` (sidecar/cli/devices.py): ``gateway-client``/``backend`` on the gateway's loopback,
or a device of ours with ``--state-dir``. Scopes, least privilege like OpenClaw: ``operator.pairing`` to
list and reject; to approve, what the gateway says the surface needs (``requiredApproveScopes``:
``operator.write`` for ordinary commands, ``operator.admin`` for admin-sensitive ones like system.run).
``--json`` prints the ``node.pair.list`` / ``node.pair.approve`` / ``node.pair.reject`` payloads.
On a release without node command gating (2026.2.x) the list is simply empty.
"""

from __future__ import annotations

import argparse
from typing import Any

from sidecar.cli.devices import _run
from sidecar.cli.devices_output import emit_json, format_node_listing
from sidecar.cli.gateway_options import GatewayOptions, add_gateway_arguments, base_scopes, make_client
from sidecar.errors import GatewayRequestError


def _not_pending(request_id: str) -> str:
    return (
        f"No pending node capability request matches {request_id}. Run `openclaw-sidecar nodes list` and "
        "retry with the current request ID (a node that reconnects with another surface gets a new one)."
    )


async def _list(opts: GatewayOptions, args: argparse.Namespace) -> int:
    async with make_client(opts, base_scopes(opts)) as client:
        listing = await client.list_node_pairing()
    for problem in listing.problems:
        print(f"warning: ignored a malformed entry from the gateway: {problem}")
    if args.json:
        emit_json(listing.to_json())
    else:
        print(format_node_listing(listing))
    return 0


async def _approve(opts: GatewayOptions, args: argparse.Namespace) -> int:
    request_id = args.request_id.strip()
    async with make_client(opts, base_scopes(opts)) as client:
        node = (await client.list_node_pairing()).find(request_id)
    if node is None:
        raise GatewayRequestError(_not_pending(request_id), code="INVALID_REQUEST")
    needed = tuple(dict.fromkeys((*base_scopes(opts), *node.approve_scopes())))
    async with make_client(opts, needed) as client:  # ask for exactly what this approval needs
        result = await client.approve_node(request_id)
    if args.json:
        emit_json(result)
    else:
        print(f"Approved node {node.node_id} ({request_id}): {len(node.commands)} commands")
    return 0


async def _reject(opts: GatewayOptions, args: argparse.Namespace) -> int:
    async with make_client(opts, base_scopes(opts)) as client:
        result = await client.reject_node(args.request_id.strip())
    if args.json:
        emit_json(result)
    else:
        print(f"Rejected node {result.get('nodeId', '?')} ({args.request_id})")
    return 0


def register(subparsers: Any) -> None:
    nodes = subparsers.add_parser("nodes", help="node capability approvals (openclaw nodes pending/approve)")
    sub = nodes.add_subparsers(dest="nodes_command", metavar="<list|approve|reject>", required=True)
    p = sub.add_parser("list", aliases=["pending"], help="pending and approved node capability surfaces")
    add_gateway_arguments(p)
    p.set_defaults(handler=lambda a: _run(a, _list))
    p = sub.add_parser("approve", help="approve a node's pending capability surface by its request id")
    p.add_argument("request_id", metavar="requestId")
    add_gateway_arguments(p)
    p.set_defaults(handler=lambda a: _run(a, _approve))
    p = sub.add_parser("reject", help="reject a node's pending capability surface")
    p.add_argument("request_id", metavar="requestId")
    add_gateway_arguments(p)
    p.set_defaults(handler=lambda a: _run(a, _reject))
