"""``list``, ``approve``, ``reject``, ``remove``: ``openclaw devices …`` at in-process speed.

Who we are to the gateway: by default ``gateway-client``/``backend`` with the shared token and *no*
device identity. On the gateway's loopback that is admitted with the requested scopes and never creates a
pairing request (the same trick the Node CLI uses as ``cli``/``cli``). Anywhere else, set
``OPENCLAW_PAIRING_STATE_DIR`` (or ``--state-dir``): the CLI then presents the persisted identity in
``<dir>/identity.json`` and, until someone approves it once, exits 2 naming the request to approve.

Scopes: least privilege per command, like ``openclaw devices`` in 2026.9: ``operator.pairing`` to list;
to approve, ``operator.pairing`` plus every operator scope the request asks for (2026.6+ refuses to let an
approver grant scopes it lacks), ``operator.admin`` only for node-role or admin requests.

``approve --all`` is this project's addition (OpenClaw has none): it lists, then approves each pending
request by its exact id, only with ``--yes`` *and* ``OPENCLAW_TRUSTED_ENV`` set, and reports each result.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sidecar import envvars
from sidecar.cli.devices_output import emit_json, format_listing, json_error, warn_problems
from sidecar.cli.gateway_options import (
    GatewayOptions,
    add_gateway_arguments,
    base_scopes,
    gateway_options,
    granted_scopes,
    make_client,
)
from sidecar.errors import ConfigError, GatewayRequestError, MissingScope, PairingError

if TYPE_CHECKING:
    from sidecar.gateway.client import GatewayClient
    from sidecar.gateway.models import PendingRequest


# --- commands -------------------------------------------------------------------------------------


def _run(args: argparse.Namespace, body: Any) -> int:
    """Resolve options, run ``body(opts, args)`` on a fresh event loop, print JSON errors if asked."""
    import asyncio

    try:
        opts = gateway_options(args, os.environ)
        code: int = asyncio.run(body(opts, args))
        return code
    except PairingError as exc:
        exc = explain_missing_scope(exc, args)
        if args.json:
            emit_json(json_error(exc))
        raise exc from None


REMOTE_HINT = (
    "the gateway treated this connection as remote, and a client without a paired device gets no scopes "
    "there (only the gateway's own loopback counts as local; Docker's published port never does). Run the "
    "CLI where the gateway sees it as local - for the compose stack: scripts/pairing.sh {command} (= cd "
    "compose && docker compose exec pairing-sidecar openclaw-sidecar {command}) - or give it a device with "
    "--state-dir DIR and approve that device once"
)


def explain_missing_scope(exc: PairingError, args: argparse.Namespace) -> PairingError:
    """A device-less MissingScope almost always means "remote": say so, and what to run instead."""
    if not isinstance(exc, MissingScope) or getattr(args, "state_dir", None):
        return exc
    if os.environ.get(envvars.pairing_var("state_dir")):
        return exc
    command = getattr(args, "command", None) or "list"
    if command != "list":
        command += " <same arguments>"
    return MissingScope(f"{exc}. Why: {REMOTE_HINT.format(command=command)}", scope=exc.scope)


async def _list(opts: GatewayOptions, args: argparse.Namespace) -> int:
    async with make_client(opts, base_scopes(opts)) as client:
        listing = await client.list_pairing()
    warn_problems(listing)
    if args.json:
        emit_json(listing.to_json())
    else:
        print(format_listing(listing))
    return 0


def _not_pending(request_id: str) -> str:
    return (
        f"No pending device request matches {request_id}. Run `openclaw-sidecar list` and retry with the "
        "current request ID (requests expire after 5 minutes; a device retrying differently gets a new one)."
    )


async def _approve_with_scopes(
    opts: GatewayOptions, current: GatewayClient, needed: tuple[str, ...], request_id: str
) -> dict[str, Any]:
    from sidecar.gateway.scopes import covers

    if covers(granted_scopes(current), needed):
        return await current.approve(request_id)
    async with make_client(opts, needed) as client:  # ask for exactly what this approval needs
        return await client.approve(request_id)


async def _approve_one(opts: GatewayOptions, args: argparse.Namespace) -> int:
    from sidecar.gateway.scopes import scopes_to_approve

    request_id = args.request_id.strip()
    async with make_client(opts, base_scopes(opts)) as client:
        listing = await client.list_pairing()
        request = listing.find(request_id)
        if request is None:
            warn_problems(listing)
            raise GatewayRequestError(_not_pending(request_id), code="INVALID_REQUEST")
        paired = {d.device_id: d for d in listing.paired}
        needed = scopes_to_approve(request, paired.get(request.device_id))
        result = await _approve_with_scopes(opts, client, needed, request_id)
    if args.json:
        emit_json(result)
    else:
        print(f"Approved {request.device_id} ({request_id})")
    return 0


async def _approve_all(opts: GatewayOptions, args: argparse.Namespace) -> int:
    from sidecar.gateway.scopes import ADMIN, scopes_to_approve
    from sidecar.trust import TRUSTED_ENV_VAR, is_trusted

    async with make_client(opts, base_scopes(opts)) as client:
        listing = await client.list_pairing()
    warn_problems(listing)
    if not listing.pending:
        if args.json:
            emit_json({"approved": [], "failed": [], "skipped": []})
        else:
            print("No pending device requests.")
        return 0
    trusted = is_trusted(os.environ)
    if not (args.yes and trusted):
        missing = [
            x
            for x, ok in (("--yes", args.yes), (f"{TRUSTED_ENV_VAR}=1 in the environment", trusted))
            if not ok
        ]
        print(format_listing(replace(listing, paired=())), file=sys.stderr)
        raise ConfigError(
            f"approve --all would approve the {len(listing.pending)} request(s) above without review; it is "
            f"this project's addition (OpenClaw has no --all) and needs {' and '.join(missing)}. "
            "Approve single requests by id instead."
        )
    paired = {d.device_id: d for d in listing.paired}
    plan: list[tuple[PendingRequest, tuple[str, ...]]] = []
    skipped: list[dict[str, str]] = []
    for request in listing.pending:
        needed = scopes_to_approve(request, paired.get(request.device_id))
        if ADMIN in needed and not opts.admin:
            skipped.append(
                _row(request, "needs operator.admin (node role or admin scope): rerun with --admin")
            )
        else:
            plan.append((request, needed))
    union = tuple(dict.fromkeys(s for _, needed in plan for s in needed)) or base_scopes(opts)
    approved: list[dict[str, str]] = []
    failed: list[dict[str, str]] = []
    if plan:
        async with make_client(opts, union) as client:
            for request, _ in plan:
                try:
                    await client.approve(request.request_id)
                    approved.append(_row(request))
                except GatewayRequestError as exc:
                    failed.append(_row(request, str(exc)))
    if args.json:
        emit_json({"approved": approved, "failed": failed, "skipped": skipped})
    else:
        for row in approved:
            print(f"Approved {row['deviceId']} ({row['requestId']})")
        for row in failed:
            print(f"Failed   {row['deviceId']} ({row['requestId']}): {row['error']}")
        for row in skipped:
            print(f"Skipped  {row['deviceId']} ({row['requestId']}): {row['error']}")
    return 0 if not failed and not skipped else 1


def _row(request: PendingRequest, error: str | None = None) -> dict[str, str]:
    row = {"requestId": request.request_id, "deviceId": request.device_id}
    if error is not None:
        row["error"] = error
    return row


async def _reject(opts: GatewayOptions, args: argparse.Namespace) -> int:
    async with make_client(opts, base_scopes(opts)) as client:
        result = await client.reject(args.request_id)
    if args.json:
        emit_json(result)
    else:
        print(f"Rejected {result.get('deviceId', '?')} ({args.request_id})")
    return 0


async def _remove(opts: GatewayOptions, args: argparse.Namespace) -> int:
    async with make_client(opts, base_scopes(opts)) as client:
        result = await client.remove(args.device_id)
    if args.json:
        emit_json(result)
    else:
        print(f"Removed {result.get('deviceId', args.device_id)}")
    return 0


def _cmd_approve(args: argparse.Namespace) -> int:
    if args.all == bool(args.request_id):
        raise ConfigError("approve needs exactly one of <requestId> or --all")
    return _run(args, _approve_all if args.all else _approve_one)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("list", help="list pending requests and paired devices")
    add_gateway_arguments(p)
    p.set_defaults(handler=lambda a: _run(a, _list))

    p = subparsers.add_parser("approve", help="approve a pending request by its exact id (or --all)")
    p.add_argument("request_id", nargs="?", metavar="requestId")
    p.add_argument(
        "--all",
        action="store_true",
        help="approve every pending request (ours, not OpenClaw's; needs --yes and OPENCLAW_TRUSTED_ENV=1)",
    )
    p.add_argument("--yes", action="store_true", help="confirm --all")
    add_gateway_arguments(p)
    p.set_defaults(handler=_cmd_approve)

    p = subparsers.add_parser("reject", help="reject a pending request")
    p.add_argument("request_id", metavar="requestId")
    add_gateway_arguments(p)
    p.set_defaults(handler=lambda a: _run(a, _reject))

    p = subparsers.add_parser("remove", help="remove a paired device")
    p.add_argument("device_id", metavar="deviceId")
    add_gateway_arguments(p)
    p.set_defaults(handler=lambda a: _run(a, _remove))
