"""How the CLI prints pairing state: ``openclaw devices``-shaped JSON and tables, and error objects.

Why its own module: output shapes are a contract with scripts (``--json`` mirrors ``openclaw devices …
--json``), kept apart from how commands talk to the gateway.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

from sidecar.errors import PairingError
from sidecar.exitcodes import EXIT_UNREACHABLE, exit_code_for

if TYPE_CHECKING:
    from sidecar.gateway.models import PairingList
    from sidecar.gateway.node_records import NodePairingList


# --- output ---------------------------------------------------------------------------------------


def emit_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def json_error(exc: PairingError) -> dict[str, Any]:
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


def format_node_listing(listing: NodePairingList) -> str:
    """``openclaw-sidecar nodes list``: pending capability surfaces, then approved ones."""
    if not listing.pending and not listing.paired:
        return "No node capability requests (nothing pending, nothing approved)."
    parts: list[str] = []
    if listing.pending:
        rows = [["REQUEST", "NODE", "NAME", "COMMANDS", "NEEDS", "IP", "AGE"]]
        for n in listing.pending:
            admin = f" ({len(n.admin_commands)} admin-sensitive)" if n.admin_commands else ""
            rows.append(
                [
                    n.request_id,
                    n.node_id[:12],
                    n.display_name or "-",
                    f"{len(n.commands)}{admin}",
                    ",".join(n.approve_scopes()),
                    n.remote_ip or "local",
                    _age(n.ts),
                ]
            )
        parts.append(f"Pending ({len(listing.pending)})\n{_table(rows)}")
    if listing.paired:
        rows = [["NODE", "NAME", "COMMANDS", "IP"]]
        for p in listing.paired:
            commands = p.get("commands")
            rows.append(
                [
                    str(p.get("nodeId", "?")),
                    str(p.get("displayName") or "-"),
                    str(len(commands)) if isinstance(commands, list) else "-",
                    str(p.get("remoteIp") or "local"),
                ]
            )
        parts.append(f"Approved ({len(listing.paired)})\n{_table(rows)}")
    return "\n".join(parts)
