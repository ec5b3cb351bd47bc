"""The ordered ladders of checks, one per mode, and :func:`decide` — the policy's only entry point.

``decide`` runs the mode's checks in order; the first check that does not pass decides, and its name and
reason become the Decision's ``check`` and ``reason``. When every check passes the request is approved.
How a stop maps to an action:

- ``skip`` → ignore (not ours, or nothing to do: silent, expired, resolved, superseded);
- ``hold`` → ignore for now, re-evaluated on the next pass (rate limits, churn, unreadable identity);
- ``fail`` → ``settings.on_check_failure`` (reject by default): a labelled container's request that
  breaks a rule.

Pure: same inputs, same Decision; no clock (``now_ms`` is an argument), no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sidecar.gateway.models import PairedDevice, PendingRequest
from sidecar.policy import allowance as a
from sidecar.policy import checks as c
from sidecar.policy import limits as lim
from sidecar.policy.context import Context
from sidecar.policy.decision import APPROVED_CHECK, Action, Decision, Outcome, Verdict
from sidecar.policy.history import History
from sidecar.settings import Mode, PolicySettings
from sidecar.sources.workloads import Workload


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[Context], Outcome]


_SKIPS = (
    Check("silent", c.check_silent),
    Check("expired", c.check_expired),
    Check("resolved", c.check_resolved),
    Check("superseded", c.check_superseded),
)
_LIMITS = (Check("churn", lim.check_churn), Check("rate-limit", lim.check_rate_limit))

LADDERS: Mapping[Mode, tuple[Check, ...]] = {
    Mode.STRICT: (
        *_SKIPS,
        Check("identity", c.check_identity),
        Check("remote-ip", c.check_remote_ip),
        Check("role-scope", a.check_role_scope),
        Check("repair", a.check_repair),
        *_LIMITS,
    ),
    Mode.IP: (
        *_SKIPS,
        Check("ip-match", c.check_ip_match),
        Check("role-scope", a.check_role_scope),
        Check("repair", a.check_repair),
        *_LIMITS,
    ),
    Mode.DEV_APPROVE_ALL: (
        *_SKIPS,
        Check("dev-window", lim.check_dev_window),
        Check("dev-cap", lim.check_dev_cap),
        Check("dev-network", c.check_dev_network),
        Check("privileged", a.check_privileged),
    ),
}


def request_evidence(request: PendingRequest) -> dict[str, Any]:
    """The request's own facts for the audit (never tokens: pending requests carry none)."""
    return {
        "requestId": request.request_id,
        "deviceId": request.device_id,
        "publicKey": request.public_key,
        "role": request.role,
        "roles": list(request.roles),
        "scopes": list(request.scopes),
        "remoteIp": request.remote_ip,
        "isRepair": request.is_repair,
        "ts": request.ts,
        "clientId": request.client_id,
        "clientMode": request.client_mode,
        "platform": request.platform,
        "deviceFamily": request.device_family,
        "displayName": request.display_name,
    }


def _container_evidence(ctx: Context, w: Workload) -> dict[str, Any]:
    s = ctx.settings
    keys = (s.label_opt_in, s.label_identity_path, s.label_roles, s.label_scopes)
    return {**w.evidence(), "matchedLabels": {k: w.labels[k] for k in keys if k in w.labels}}


def decide(
    request: PendingRequest,
    workloads: tuple[Workload, ...] | list[Workload],
    paired: Mapping[str, PairedDevice],
    settings: PolicySettings,
    history: History,
    now_ms: int,
) -> Decision:
    """What to do with one pending request, and why. See the module docstring and docs/policy.md."""
    ctx = Context(request, tuple(workloads), paired, settings, history, now_ms)
    passed: list[dict[str, str]] = []
    details: dict[str, Any] = {}
    for check in LADDERS[settings.mode]:
        outcome = check.run(ctx)
        if outcome.workload is not None and ctx.workload is None:
            ctx = replace(ctx, workload=outcome.workload)
        details.update(outcome.evidence)
        if outcome.verdict is Verdict.PASS:
            passed.append({"check": check.name, "reason": outcome.reason})
            continue
        action = Action.IGNORE
        if outcome.verdict is Verdict.FAIL:
            action = Action(settings.on_check_failure)
        return _decision(ctx, action, check.name, outcome.reason, passed, details, outcome.transient, outcome)
    w = ctx.workload
    who = f" for container {w.name}" if w else ""
    reason = f"all {len(passed)} checks passed{who} (mode {settings.mode})"
    return _decision(ctx, Action.APPROVE, APPROVED_CHECK, reason, passed, details, False, None)


def _decision(
    ctx: Context,
    action: Action,
    check: str,
    reason: str,
    passed: list[dict[str, str]],
    details: dict[str, Any],
    transient: bool,
    outcome: Outcome | None,
) -> Decision:
    w = ctx.workload
    evidence: dict[str, Any] = {
        "mode": str(ctx.settings.mode),
        "request": request_evidence(ctx.request),
        "container": _container_evidence(ctx, w) if w else None,
        "checksPassed": passed,
    }
    if outcome is not None:
        evidence["verdict"] = outcome.verdict.value
    if details:
        evidence["details"] = details
    return Decision(action, check, reason, evidence, w, transient)
