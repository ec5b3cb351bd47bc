"""Node capability approvals: the same ladder as device requests, plus what the node may run.

A node's capability surface (``node.pair.*``) is approved only when it provably belongs to a labelled
container (docs/policy.md, "Node commands"):

1. ``expired`` / ``resolved`` — still pending and not decided elsewhere (skip);
2. ``node-paired`` — the node's device is paired for role ``node`` (skip: the device pairing comes first);
3. ``identity`` / ``remote-ip`` / ``role-scope`` — the device ladder's checks, asked about the *paired*
   device: its key is the one exactly one labelled container publishes, the surface request comes from
   that container's address, and the container may be a ``node`` (``allow_node_role`` + label);
4. ``node-commands`` — every declared command is within the label ``openclaw.pairing.node-commands``
   (a list, or ``*``), and admin-sensitive commands also need ``allow_node_admin_commands`` in the
   sidecar's own settings: a label alone can never grant them (the two-key rule). A surface whose
   ``requiredApproveScopes`` contains ``operator.admin`` counts as admin-sensitive whatever it declares;
5. ``rate-limit`` — as for devices.

Only mode ``strict`` approves surfaces (ip and dev-approve-all prove no key: their surfaces are ignored).
Pure, like the rest of the policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from sidecar.gateway.models import PairedDevice, PendingRequest
from sidecar.gateway.node_records import ADMIN_SENSITIVE_COMMANDS, NodeRequest
from sidecar.policy import allowance as a
from sidecar.policy import checks as c
from sidecar.policy import limits as lim
from sidecar.policy.context import PENDING_TTL_MS, Context, short, words
from sidecar.policy.decision import APPROVED_CHECK, Action, Decision, Outcome, Verdict, fail, passed, skip
from sidecar.policy.history import History
from sidecar.settings import Mode, PolicySettings
from sidecar.sources.workloads import Workload

ANY_COMMAND = "*"
NodeCheck = tuple[str, Callable[[Context, NodeRequest], Outcome]]


def node_evidence(node: NodeRequest) -> dict[str, Any]:
    return {
        "requestId": node.request_id,
        "deviceId": node.node_id,
        "nodeId": node.node_id,
        "commands": list(node.commands),
        "caps": list(node.caps),
        "requiredApproveScopes": list(node.approve_scopes()),
        "remoteIp": node.remote_ip,
        "ts": node.ts,
        "clientId": node.client_id,
        "clientMode": node.client_mode,
        "platform": node.platform,
        "displayName": node.display_name,
        "version": node.version,
    }


def _as_device_request(node: NodeRequest, device: PairedDevice | None) -> PendingRequest:
    """The surface request seen as its device's request: the paired key, the surface's address."""
    return PendingRequest(
        request_id=node.request_id,
        device_id=node.node_id,
        public_key=device.public_key if device else "",
        ts=node.ts,
        role="node",
        roles=("node",),
        remote_ip=node.remote_ip,
        client_id=node.client_id,
        client_mode=node.client_mode,
        display_name=node.display_name,
        platform=node.platform,
    )


def check_expired(ctx: Context, node: NodeRequest) -> Outcome:
    if ctx.now_ms - node.ts > PENDING_TTL_MS:
        return skip(f"expired: pending since ts={node.ts}, longer than the gateway's 300 s TTL")
    return passed(f"pending for {max(0, ctx.now_ms - node.ts) // 1000} s of the 300 s TTL")


def check_resolved(ctx: Context, node: NodeRequest) -> Outcome:
    decision = ctx.history.resolution(node.request_id)
    if decision is not None:
        return skip(f"already resolved ({decision}) according to node.pair.resolved")
    return passed("not resolved yet")


def check_node_paired(ctx: Context, node: NodeRequest) -> Outcome:
    device = ctx.paired.get(node.node_id)
    if device is None:
        return skip(f"node {short(node.node_id)} has no paired device: the device pairing comes first")
    if "node" not in {*device.roles, device.role}:
        return skip(f"device {short(node.node_id)} is paired, but not for role node")
    return passed(f"device {short(node.node_id)} is paired for role node")


def check_node_commands(ctx: Context, node: NodeRequest) -> Outcome:
    w = ctx.workload
    assert w is not None, "check_node_commands runs after the request is attributed"
    label = ctx.settings.label_node_commands
    allowed = words(w.labels.get(label, ""))
    facts = {"declaredCommands": sorted(node.commands), "allowedCommands": sorted(allowed)}
    outside = sorted(set(node.commands) - allowed) if ANY_COMMAND not in allowed else []
    if outside:
        return fail(
            f"commands {', '.join(outside)} are not allowed for container {w.name} by label {label} "
            f"(allowed: {', '.join(sorted(allowed)) or 'none'})",
            w,
            **facts,
        )
    admin = sorted(node.admin_commands)
    if admin and not ctx.settings.allow_node_admin_commands:
        return fail(
            f"commands {', '.join(admin)} are admin-sensitive: they need allow_node_admin_commands in the "
            "sidecar's config; a label cannot grant them",
            w,
            **facts,
        )
    if "operator.admin" in node.required_scopes and not ctx.settings.allow_node_admin_commands:
        # The gateway's own word (requiredApproveScopes): it counts something in this surface as
        # admin-sensitive even if our list does not (a newer release's command): the same two-key rule.
        return fail(
            "the gateway requires operator.admin to approve this surface (requiredApproveScopes), so it "
            "counts as admin-sensitive: that needs allow_node_admin_commands in the sidecar's config; a "
            "label cannot grant it",
            w,
            **facts,
        )
    what = f"{len(node.commands)} declared commands" if node.commands else "no commands"
    return passed(f"{what} within label {label} of {w.name}", **facts)


def _device_check(run: Callable[[Context], Outcome]) -> Callable[[Context, NodeRequest], Outcome]:
    return lambda ctx, _node: run(ctx)


LADDER: tuple[NodeCheck, ...] = (
    ("expired", check_expired),
    ("resolved", check_resolved),
    ("node-paired", check_node_paired),
    ("identity", _device_check(c.check_identity)),
    ("remote-ip", _device_check(c.check_surface_remote_ip)),
    ("role-scope", _device_check(a.check_role_scope)),
    ("node-commands", check_node_commands),
    ("rate-limit", _device_check(lim.check_rate_limit)),
)


def decide_node(
    node: NodeRequest,
    workloads: tuple[Workload, ...] | list[Workload],
    paired: Mapping[str, PairedDevice],
    settings: PolicySettings,
    history: History,
    now_ms: int,
) -> Decision:
    """What to do with one pending node capability surface, and why."""
    request = _as_device_request(node, paired.get(node.node_id))
    ctx = Context(request, tuple(workloads), paired, settings, history, now_ms)
    passed_checks: list[dict[str, str]] = []
    details: dict[str, Any] = {}
    if settings.mode is not Mode.STRICT:
        out = skip(f"node capability surfaces are approved in mode strict only (mode {settings.mode})")
        return _decision(ctx, node, Action.IGNORE, "mode", out, passed_checks, details)
    for name, run in LADDER:
        out = run(ctx, node)
        if out.workload is not None and ctx.workload is None:
            ctx = replace(ctx, workload=out.workload)
        details.update(out.evidence)
        if out.verdict is Verdict.PASS:
            passed_checks.append({"check": name, "reason": out.reason})
            continue
        action = Action(settings.on_check_failure) if out.verdict is Verdict.FAIL else Action.IGNORE
        return _decision(ctx, node, action, name, out, passed_checks, details)
    who = f" for container {ctx.workload.name}" if ctx.workload else ""
    reason = f"all {len(passed_checks)} node checks passed{who} (mode {settings.mode})"
    return _decision(ctx, node, Action.APPROVE, APPROVED_CHECK, passed(reason), passed_checks, details)


def _decision(
    ctx: Context,
    node: NodeRequest,
    action: Action,
    check: str,
    out: Outcome,
    passed_checks: list[dict[str, str]],
    details: dict[str, Any],
) -> Decision:
    w = ctx.workload
    evidence: dict[str, Any] = {
        "kind": "node",
        "mode": str(ctx.settings.mode),
        "request": node_evidence(node),
        "container": _container(ctx, w) if w else None,
        "checksPassed": passed_checks,
    }
    if action is not Action.APPROVE or check != APPROVED_CHECK:
        evidence["verdict"] = out.verdict.value
    if details:
        evidence["details"] = details
    return Decision(action, check, out.reason, evidence, w, out.transient)


def _container(ctx: Context, w: Workload) -> dict[str, Any]:
    s = ctx.settings
    keys = (s.label_opt_in, s.label_identity_path, s.label_roles, s.label_node_commands)
    return {**w.evidence(), "matchedLabels": {k: w.labels[k] for k in keys if k in w.labels}}


__all__ = ["ADMIN_SENSITIVE_COMMANDS", "decide_node", "node_evidence"]
