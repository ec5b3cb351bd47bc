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
import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sidecar import envvars
from sidecar.errors import ConfigError, GatewayRequestError, MissingScope, PairingError

if TYPE_CHECKING:
    from sidecar.gateway.client import GatewayClient
    from sidecar.gateway.models import PairingList, PendingRequest

DEFAULT_URL = envvars.DEFAULT_GATEWAY_URL
IDENTITY_FILE = envvars.LISTER_IDENTITY_FILE


# --- options shared by every gateway command ------------------------------------------------------


@dataclass(frozen=True)
class GatewayOptions:
    url: str
    token: str | None
    state_dir: str | None
    admin: bool
    timeout: float

    def __repr__(self) -> str:  # never the token
        token = "set" if self.token else "unset"
        return f"GatewayOptions(url={self.url!r}, token={token}, state_dir={self.state_dir!r})"


def add_gateway_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("gateway connection")
    group.add_argument(
        "--url", help=f"gateway WebSocket URL (env OPENCLAW_GATEWAY_URL, default {DEFAULT_URL})"
    )
    group.add_argument(
        "--token",
        help="shared gateway token (env OPENCLAW_GATEWAY_TOKEN; prefer the env: arguments show in ps)",
    )
    group.add_argument(
        "--state-dir",
        help="present the persisted device identity <dir>/identity.json, for use away from the gateway's "
        "loopback (env OPENCLAW_PAIRING_STATE_DIR; default: no identity)",
    )
    group.add_argument(
        "--admin",
        action="store_true",
        help="also request operator.admin (needed to approve node-role devices)",
    )
    group.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per connect and per call (default 10)"
    )
    parser.add_argument(
        "--json", action="store_true", help="machine-readable output (openclaw devices … --json shapes)"
    )


def gateway_options(args: argparse.Namespace, environ: Mapping[str, str]) -> GatewayOptions:
    url: str = args.url.strip() if args.url else envvars.GATEWAY_URL.read(environ)
    from sidecar.gateway.urls import check_url

    check_url(url)
    if args.timeout <= 0:
        raise ConfigError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    token = args.token if args.token is not None else envvars.GATEWAY_TOKEN.raw(environ)
    state_dir = args.state_dir or environ.get(envvars.pairing_var("state_dir"), "").strip() or None
    return GatewayOptions(
        url, (token or "").strip() or None, state_dir, bool(args.admin), float(args.timeout)
    )


def make_client(opts: GatewayOptions, scopes: tuple[str, ...]) -> GatewayClient:
    from sidecar.gateway.client import GatewayClient

    identity = None
    if opts.state_dir:
        from pathlib import Path

        from sidecar.identity.store import load_or_create

        identity, _ = load_or_create(Path(opts.state_dir) / IDENTITY_FILE)
    return GatewayClient(
        opts.url,
        token=opts.token,
        identity=identity,
        scopes=scopes,
        display_name="openclaw-sidecar cli" if identity else None,
        connect_timeout=opts.timeout,
        call_timeout=opts.timeout,
    )


def base_scopes(opts: GatewayOptions) -> tuple[str, ...]:
    return ("operator.pairing", "operator.admin") if opts.admin else ("operator.pairing",)


def granted_scopes(client: GatewayClient) -> tuple[str, ...]:
    hello = client.hello
    if hello is not None and hello.auth_scopes is not None:
        return hello.auth_scopes
    return client.info.scopes


# --- output ---------------------------------------------------------------------------------------


def emit_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def json_error(exc: PairingError) -> dict[str, Any]:
    from sidecar.cli import EXIT_UNREACHABLE, exit_code_for

    kind = "gateway_transport_error" if exit_code_for(exc) == EXIT_UNREACHABLE else "cli_error"
    return {"ok": False, "error": {"type": kind, "message": str(exc)}}


def _age(ts_ms: int) -> str:
    seconds = max(0, int(time.time() - ts_ms / 1000))
    return (
        f"{seconds}s" if seconds < 120 else f"{seconds // 60}m" if seconds < 7200 else f"{seconds // 3600}h"
    )


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def format_listing(listing: PairingList) -> str:
    if not listing.pending and not listing.paired:
        return "No device pairing entries."
    parts: list[str] = []
    if listing.pending:
        rows = [["REQUEST", "DEVICE", "NAME", "ROLES", "SCOPES", "CLIENT", "IP", "AGE", "KIND"]]
        for p in listing.pending:
            rows.append(
                [
                    p.request_id,
                    p.device_id[:12],
                    p.display_name or "-",
                    ",".join(p.roles) or "-",
                    ",".join(p.scopes) or "-",
                    f"{p.client_id or '?'}/{p.client_mode or '?'}",
                    p.remote_ip or "local",
                    _age(p.ts),
                    "repair" if p.is_repair else "new",
                ]
            )
        parts.append(f"Pending ({len(listing.pending)})\n{_table(rows)}")
    if listing.paired:
        rows = [["DEVICE", "NAME", "ROLES", "SCOPES", "CLIENT", "IP", "APPROVED VIA"]]
        for d in listing.paired:
            rows.append(
                [
                    d.device_id,
                    d.display_name or "-",
                    ",".join(d.roles) or "-",
                    ",".join(d.scopes) or "-",
                    f"{d.client_id or '?'}/{d.client_mode or '?'}",
                    d.remote_ip or "local",
                    d.approved_via or "-",
                ]
            )
        parts.append(f"Paired ({len(listing.paired)})\n{_table(rows)}")
    return "\n".join(parts)


def warn_problems(listing: PairingList) -> None:
    for problem in listing.problems:
        print(f"warning: ignored a malformed entry from the gateway: {problem}", file=sys.stderr)


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
