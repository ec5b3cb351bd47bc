"""``run``, ``once``, ``explain``, ``config``: the pairing sidecar's own commands, wired from Settings.

Why these are separate from the loop itself: this module only *builds* things — settings, the Docker
workload source, the gateway session, audit, metrics, the approver, the health server — and maps
outcomes to exit codes. Everything that decides lives below it (approver, policy), so it stays testable
without a process. Top-level imports are the standard library only (``openclaw-sidecar --help`` must stay
fast); docker, websockets, prometheus_client and yaml are imported inside the handlers.

Exit codes (in addition to the dispatcher's 0 ok / 3 config / 4 unreachable):

- ``run``: 0 after a clean stop (SIGTERM/SIGINT); 3 invalid configuration; 4 the Docker engine cannot be
  reached at start and stop was requested before it could; 1 the loop crashed.
- ``once``: 0 the pass ran and nothing needs attention; 5 (``EXIT_ATTENTION``) at least one request needs
  a human (rejected, would-approve/would-reject without the trusted flag, held, or an RPC failed);
  3 config; 4 gateway or Docker unreachable.
- ``explain``: 0 the request is pending and the decision is shown; 1 no such pending request; 3; 4.
- ``config --print``: 0, or 3 when the configuration is invalid (every problem is listed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sidecar.errors import SourceError

if TYPE_CHECKING:
    from sidecar.approver import Approver, OnConnect, OnDisconnect, OnEvent, SessionFactory
    from sidecar.audit import AuditLog
    from sidecar.health import HealthServer
    from sidecar.identity.keys import DeviceIdentity
    from sidecar.metrics import Metrics
    from sidecar.policy import Decision
    from sidecar.settings import Settings
    from sidecar.sources.docker import DockerSource

log = logging.getLogger("sidecar.cli.run")

EXIT_OK, EXIT_REFUSED, EXIT_CONFIG, EXIT_UNREACHABLE, EXIT_ATTENTION = 0, 1, 3, 4, 5
STOP_DEADLINE_S = 5.0  # SIGTERM → the process is gone within this, whatever is stuck
SIDECAR_IDENTITY_FILE = "identity.json"  # in OPENCLAW_PAIRING_STATE_DIR, as `openclaw-sidecar list` uses
DOCKER_TIMEOUT_S = 5.0


# --- logging -------------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line (for log shippers); the audit trail is separate (sidecar.audit)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, json_logs: bool) -> None:
    """Logs go to stderr: stdout is the audit trail's default sink (``audit_log: -``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


# --- building the parts --------------------------------------------------------------------------


def load_settings(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    from sidecar.settings import Settings

    return Settings.load(environ=os.environ if environ is None else environ, config_path=args.config)


def _is_loopback_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in {"localhost", "::1"} or host.startswith("127.")


def sidecar_identity(settings: Settings) -> DeviceIdentity | None:
    """The sidecar's own device identity, only where the gateway would require one.

    On the gateway's loopback (the shipped deployment: the sidecar shares the gateway's network namespace)
    the shared token admits it as gateway-client/backend with no device and no pairing request — nothing
    depends on silent local pairing, which the gateway can switch off. Any other URL makes the sidecar a
    remote device: it presents ``<OPENCLAW_PAIRING_STATE_DIR>/identity.json`` (created once), which must be
    approved once; the gateway session logs the command.
    """
    if _is_loopback_url(settings.gateway_url):
        return None
    from sidecar.identity.store import load_or_create

    identity, _ = load_or_create(settings.state_dir / SIDECAR_IDENTITY_FILE)
    return identity


def gateway_scopes(settings: Settings) -> tuple[str, ...]:
    """``operator.pairing`` plus every scope the sidecar may hand out (2026.6+ checks the approver's)."""
    from sidecar.gateway.scopes import approver_scopes

    policy = settings.policy
    return approver_scopes(
        node_approvals=policy.allow_node_role or policy.allow_admin_scope,
        approvable_scopes={"operator.read", "operator.write", *policy.default_scopes},
    )


def session_factory(settings: Settings) -> SessionFactory:
    """The Approver's ``session_factory``: one GatewaySession over fresh GatewayClients."""
    from sidecar.gateway.client import GatewayClient
    from sidecar.gateway.session import GatewaySession

    identity = sidecar_identity(settings)
    scopes = gateway_scopes(settings)

    def client() -> GatewayClient:
        return GatewayClient(
            settings.gateway_url,
            token=settings.gateway_token,
            identity=identity,
            scopes=scopes,
            display_name="openclaw pairing sidecar" if identity else None,
        )

    def factory(on_connect: OnConnect, on_event: OnEvent, on_disconnect: OnDisconnect) -> GatewaySession:
        return GatewaySession(client, on_connect=on_connect, on_event=on_event, on_disconnect=on_disconnect)

    return factory


def docker_source(settings: Settings) -> DockerSource:
    from sidecar.sources.docker import DockerSource, DockerSourceOptions, connect

    return DockerSource(connect(timeout=DOCKER_TIMEOUT_S), DockerSourceOptions.from_settings(settings))


@dataclass
class Parts:
    settings: Settings
    source: DockerSource
    audit: AuditLog
    metrics: Metrics
    approver: Approver


async def build(
    settings: Settings, *, metrics: Metrics | None = None, stop: asyncio.Event | None = None
) -> Parts:
    """Everything the approver needs. The compose project is resolved first (ConfigError if it can't be).

    With ``stop`` (``run``), an unreachable engine is retried until it answers or ``stop`` is set; without
    it (one-shot commands) the SourceError propagates.
    """
    from sidecar.approver import Approver
    from sidecar.audit import AuditLog
    from sidecar.metrics import Metrics

    delay = 1.0
    while True:
        try:  # connecting negotiates the API version, so it is retried too
            source = await asyncio.to_thread(docker_source, settings)
            scope = await source.resolve_scope()
            break
        except SourceError as exc:
            if stop is None or stop.is_set():
                raise
            log.warning("%s (retrying in %.0f s)", exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 15.0)
    audit = AuditLog(settings.audit_log)
    metrics = metrics or Metrics()
    approver = Approver(
        settings,
        session_factory=session_factory(settings),
        source=source,
        audit=audit,
        metrics=metrics,
        project=scope.project,
    )
    return Parts(settings, source, audit, metrics, approver)


# --- run -----------------------------------------------------------------------------------------


def health_server(
    settings: Settings, parts: Callable[[], Parts | None], metrics: Callable[[], bytes]
) -> HealthServer:
    """Probes read the approver's state; before it exists the loop counts as starting, not ready."""
    from sidecar.health import HealthServer, liveness, readiness

    assert settings.listen is not None

    def beat() -> float | None:
        current = parts()
        return current.approver.state.loop_alive if current else None

    def state_flag(name: str) -> Callable[[], bool]:
        def check() -> bool:
            current = parts()
            if current is None:
                return False
            state = current.approver.state
            return bool(getattr(state, name)) and not state.stopping

        return check

    max_age = max(30.0, 3 * settings.reconcile_interval_s)
    host, port = settings.listen
    return HealthServer(
        host,
        port,
        live=liveness(beat, max_age),
        ready=readiness(
            {
                "gateway": state_flag("gateway_connected"),
                "docker": state_flag("source_connected"),
                "firstReconcile": state_flag("first_reconcile_done"),
            }
        ),
        metrics=metrics,
    )


def _hard_exit_after(seconds: float, code: int) -> None:
    """Last resort for the 5-second stop promise: a stuck SDK call or thread must not hold the process."""

    def fire() -> None:
        logging.getLogger("sidecar").error("shutdown took longer than %.0f s; exiting now", seconds)
        logging.shutdown()
        os._exit(code)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()


async def _exit_on_gateway_loss(parts: Parts, after_s: float, stop: asyncio.Event) -> bool:
    """Stop the loop when the gateway stayed unreachable for ``after_s`` seconds; True if it did.

    Why: next to the gateway (`network_mode: service:openclaw-gateway`) the sidecar lives in the gateway
    container's network namespace. When that container is restarted outside compose, the namespace is
    replaced and a sidecar that only retries would knock on a dead loopback forever; exiting lets the
    container's restart policy re-join the new one.
    """
    if after_s <= 0:
        return False
    state, lost_since = parts.approver.state, time.monotonic()
    while not stop.is_set():
        await asyncio.sleep(1.0)
        if state.gateway_connected:
            lost_since = time.monotonic()
        elif time.monotonic() - lost_since >= after_s:
            log.error("gateway unreachable for %.0f s: exiting so the restart policy can re-join it", after_s)
            stop.set()
            return True
    return False


async def run_async(settings: Settings, stop: asyncio.Event) -> int:
    """Health endpoints first (so a slow start is visible), then the parts, then the loop until ``stop``."""
    from sidecar.metrics import Metrics

    holder: dict[str, Parts] = {}
    metrics = Metrics()
    server: HealthServer | None = None
    if settings.listen is not None:
        server = health_server(settings, lambda: holder.get("parts"), metrics.render)
        server.start()
    try:
        parts = await build(settings, metrics=metrics, stop=stop)
        holder["parts"] = parts
        lost = asyncio.create_task(_exit_on_gateway_loss(parts, settings.exit_after_gateway_loss_s, stop))
        try:
            await parts.approver.run(stop)
        finally:
            lost.cancel()
            parts.audit.close()
        if lost.done() and not lost.cancelled() and lost.result():
            return EXIT_UNREACHABLE
    except SourceError:
        if stop.is_set():
            return EXIT_UNREACHABLE
        raise
    finally:
        if server is not None:
            server.stop()
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    configure_logging(settings.log_level, settings.json_logs or args.json_logs)
    log.info(
        "openclaw pairing sidecar: mode %s, trusted %s, gateway %s",
        settings.mode,
        "yes" if settings.trusted else f"NO (set {_trusted_var()}=1 to approve)",
        settings.gateway_url,
    )
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    signals_seen: list[int] = []

    def on_signal(signum: int) -> None:
        signals_seen.append(signum)
        if len(signals_seen) == 1:
            log.info("%s: stopping (no approvals from now on)", signal.Signals(signum).name)
            stop.set()  # the approver checks this right before every RPC
            _hard_exit_after(STOP_DEADLINE_S - 0.25, EXIT_REFUSED)
        else:
            os._exit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return loop.run_until_complete(run_async(settings, stop))
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()  # does not wait for worker threads stuck in the Docker SDK


def _trusted_var() -> str:
    from sidecar.trust import TRUSTED_ENV_VAR

    return TRUSTED_ENV_VAR


# --- once / explain ------------------------------------------------------------------------------


def _one_shot(args: argparse.Namespace, body: Callable[[Parts], Awaitable[int]]) -> int:
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
