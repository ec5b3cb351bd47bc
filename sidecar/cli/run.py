"""``run``, ``once``, ``explain``, ``config``: the pairing sidecar's own commands.

Why this module is thin: it parses arguments, prints, and maps outcomes to exit codes. Building the
service and keeping it alive is ``sidecar.service``; deciding is ``sidecar.policy`` and
``sidecar.approver``. Top-level imports are the standard library only (``openclaw-sidecar --help`` must
stay fast); the service, docker, websockets and yaml are imported inside the handlers.

Exit codes (sidecar.exitcodes):

- ``run``: 0 after a clean stop (SIGTERM/SIGINT); 3 invalid configuration; 4 the Docker engine cannot be
  reached at start and stop was requested before it could, or the gateway stayed unreachable for
  OPENCLAW_PAIRING_EXIT_AFTER_GATEWAY_LOSS seconds; 1 the loop crashed.
- ``once``: 0 the pass ran and nothing needs attention; 5 (``EXIT_ATTENTION``) at least one request needs
  a human (rejected, would-approve/would-reject without the trusted flag, held, or an RPC failed);
  3 config; 4 gateway or Docker unreachable.
- ``explain``: 0 the request is pending and the decision is shown; 1 no such pending request; 3; 4.
- ``config --print``: 0, or 3 when the configuration is invalid (every problem is listed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from sidecar.errors import SourceError
from sidecar.exitcodes import EXIT_ATTENTION, EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE

if TYPE_CHECKING:
    from sidecar.policy import Decision
    from sidecar.service import Parts
    from sidecar.settings import Settings

log = logging.getLogger("sidecar.cli.run")


def load_settings(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    from sidecar.settings import load_settings

    return load_settings(environ=os.environ if environ is None else environ, config_path=args.config)


# --- run -----------------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    from sidecar.service import configure_logging, run_forever

    settings = load_settings(args)
    configure_logging(settings.log_level, settings.json_logs or args.json_logs)
    log.info(
        "openclaw pairing sidecar: mode %s, trusted %s, gateway %s",
        settings.mode,
        "yes" if settings.trusted else f"NO (set {_trusted_var()}=1 to approve)",
        settings.gateway_url,
    )
    return run_forever(settings)


def _trusted_var() -> str:
    from sidecar.trust import TRUSTED_ENV_VAR

    return TRUSTED_ENV_VAR


# --- once / explain ------------------------------------------------------------------------------


def _one_shot(args: argparse.Namespace, body: Callable[[Parts], Awaitable[int]]) -> int:
    from sidecar.service import build, configure_logging

    settings = load_settings(args)
    configure_logging("DEBUG" if args.verbose > 1 else settings.log_level, settings.json_logs)

    async def main() -> int:
        parts = await build(settings)
        try:
            return await body(parts)
        finally:
            parts.audit.close()

    try:
        return asyncio.run(main())
    except SourceError as exc:  # Docker unreachable is "unreachable", like the gateway
        print(f"openclaw-sidecar: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE


def _cmd_once(args: argparse.Namespace) -> int:
    async def body(parts: Parts) -> int:
        attention = await parts.approver.once(timeout=args.timeout)
        trusted = parts.settings.trusted
        summary = {"needsAttention": attention, "trusted": trusted, "mode": str(parts.settings.mode)}
        if args.json:
            print(json.dumps(summary))
        else:
            what = "need" if attention != 1 else "needs"
            note = "" if trusted else f" (observe-only: {_trusted_var()} is not set)"
            print(
                f"once: {attention} request(s) {what} attention{note}; details in the audit log",
                file=sys.stderr,
            )
        return EXIT_ATTENTION if attention else EXIT_OK

    return _one_shot(args, body)


def decision_json(decision: Decision, trusted: bool, request_id: str) -> dict[str, Any]:
    return {
        "requestId": request_id,
        "action": decision.action.value,
        "recordedAs": decision.audit_action(trusted),
        "check": decision.check,
        "reason": decision.reason,
        "transient": decision.transient,
        "trusted": trusted,
        "evidence": decision.evidence,
    }


def format_decision(decision: Decision, trusted: bool, request_id: str) -> str:
    """What a human needs: the verdict, the one reason, the container, the checks that passed."""
    evidence = decision.evidence
    lines = [
        f"request   {request_id}",
        f"decision  {decision.action.value}  (check: {decision.check})",
        f"reason    {decision.reason}",
    ]
    if decision.acts and not trusted:
        lines.append(
            f"effect    none: {_trusted_var()} is not set; `run` would only record "
            f"{decision.audit_action(False)}"
        )
    elif decision.acts:
        lines.append(f"effect    `run` would send device.pair.{decision.action.value}")
    if decision.transient:
        lines.append("note      transient: the same request may be decided differently later")
    w = decision.workload
    if w is not None:
        ips = ", ".join(f"{ip} ({net})" for net, ip in sorted(w.ips.items())) or "none"
        lines.append(
            f"container {w.name} ({w.short_id}) service={w.service or '-'} project={w.project or '-'}"
        )
        lines.append(f"          image {w.image or '-'}  ips {ips}")
        if w.identity is not None:
            lines.append(f"          publishes deviceId {w.identity.device_id}")
        elif w.identity_error:
            lines.append(f"          identity: {w.identity_error}")
    passed = evidence.get("checksPassed") or []
    if passed:
        lines.append("passed")
        lines.extend(f"  - {p.get('check')}: {p.get('reason')}" for p in passed if isinstance(p, Mapping))
    return "\n".join(lines)


def _cmd_explain(args: argparse.Namespace) -> int:
    from sidecar.approver import NOT_PENDING

    request_id = args.request_id.strip()

    async def body(parts: Parts) -> int:
        decision = await parts.approver.explain(request_id, timeout=args.timeout)
        trusted = parts.settings.trusted
        if args.json:
            print(json.dumps(decision_json(decision, trusted, request_id), indent=2, default=str))
        else:
            print(format_decision(decision, trusted, request_id))
        return EXIT_REFUSED if decision.check == NOT_PENDING else EXIT_OK

    return _one_shot(args, body)


# --- config --------------------------------------------------------------------------------------


def _cmd_config(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    effective = settings.redacted()
    if args.json:
        print(json.dumps(effective, indent=2, default=str))
    else:
        import yaml

        print(yaml.safe_dump(effective, sort_keys=False, default_flow_style=False).rstrip())
    return EXIT_OK


# --- argparse ------------------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="FILE", help="YAML settings file (env OPENCLAW_PAIRING_CONFIG); env overrides it"
    )


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run",
        help="run the pairing sidecar (approves only with OPENCLAW_TRUSTED_ENV=1)",
        description="Watch the gateway and Docker; approve pending requests that provably come from "
        "labelled containers. Stops within 5 s of SIGTERM/SIGINT and approves nothing once stopping.",
    )
    _common(p)
    p.add_argument(
        "--json-logs", action="store_true", help="JSON log lines (also OPENCLAW_PAIRING_JSON_LOGS)"
    )
    p.set_defaults(handler=_cmd_run)

    p = subparsers.add_parser(
        "once",
        help="one reconcile pass, acting as `run` would; exit 5 if anything needs attention",
        description="List pending requests, decide each, act (only with OPENCLAW_TRUSTED_ENV=1), audit, "
        "exit. Exit 0: nothing needs attention; 5: something does (see the audit log).",
    )
    _common(p)
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to reach the gateway (default 30)")
    p.set_defaults(handler=_cmd_once)

    p = subparsers.add_parser(
        "explain",
        help="what the policy would decide for a pending request, and why (sends nothing)",
    )
    p.add_argument("request_id", metavar="requestId")
    _common(p)
    p.add_argument("--json", action="store_true", help="machine-readable decision")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to reach the gateway (default 30)")
    p.set_defaults(handler=_cmd_explain)

    p = subparsers.add_parser("config", help="show the effective configuration (secrets redacted)")
    _common(p)
    p.add_argument("--print", action="store_true", help="print it (the default action)")
    p.add_argument("--json", action="store_true", help="as JSON instead of YAML")
    p.set_defaults(handler=_cmd_config)
