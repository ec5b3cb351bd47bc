"""What is asked for: role and scopes within the container's allowance, repairs and upgrades.

The privileged grants (``node`` role, ``operator.admin``) need the sidecar's own configuration in addition
to any label: a label alone can never grant them. Coverage follows the gateway's rules
(``sidecar.gateway.scopes.covers``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sidecar.gateway import scopes as gateway_scopes
from sidecar.identity.keys import normalize_public_key
from sidecar.policy.context import Context, short, words
from sidecar.policy.decision import Outcome, fail, passed, skip
from sidecar.settings import PRIVILEGED_ROLE, PRIVILEGED_SCOPE
from sidecar.sources.workloads import Workload


def _privileged(ctx: Context) -> Outcome | None:
    s, w = ctx.settings, ctx.workload
    if PRIVILEGED_ROLE in ctx.requested_roles and not s.allow_node_role:
        return fail(
            f"role {PRIVILEGED_ROLE} needs allow_node_role in sidecar config; a label cannot grant it",
            w,
        )
    if PRIVILEGED_SCOPE in ctx.requested_scopes and not s.allow_admin_scope:
        return fail(
            f"scope {PRIVILEGED_SCOPE} needs allow_admin_scope in sidecar config; a label cannot grant it",
            w,
        )
    return None


def allowance(ctx: Context, w: Workload) -> tuple[frozenset[str], frozenset[str]]:
    """(roles, scopes) the container may be granted: its labels or the defaults, minus what config forbids."""
    s = ctx.settings
    roles = words(w.labels[s.label_roles]) if s.label_roles in w.labels else s.default_roles
    scopes = words(w.labels[s.label_scopes]) if s.label_scopes in w.labels else s.default_scopes
    if not s.allow_node_role:
        roles -= {PRIVILEGED_ROLE}
    if not s.allow_admin_scope:
        scopes -= {PRIVILEGED_SCOPE}
    return roles, scopes


def uncovered(granted: Iterable[str], asked: Iterable[str]) -> frozenset[str]:
    """Asked scopes that ``granted`` does not cover (gateway rules: admin ⊇ operator.*, write ⊇ read)."""
    have = tuple(granted)
    return frozenset(s for s in asked if not gateway_scopes.covers(have, (s,)))


def check_role_scope(ctx: Context) -> Outcome:
    w = ctx.workload
    assert w is not None, "check_role_scope runs after the request is attributed"
    gate = _privileged(ctx)
    if gate is not None:
        return gate
    roles, scopes = allowance(ctx, w)
    allowed = {"allowedRoles": sorted(roles), "allowedScopes": sorted(scopes)}
    extra_roles = ctx.requested_roles - roles
    if extra_roles:
        return fail(
            f"role {', '.join(sorted(extra_roles))} is not allowed for container {w.name} "
            f"(allowed: {', '.join(sorted(roles)) or 'none'})",
            w,
            **allowed,
        )
    missing = uncovered(scopes, ctx.requested_scopes)
    if missing:
        return fail(
            f"scopes {', '.join(sorted(missing))} are not allowed for container {w.name} "
            f"(allowed: {', '.join(sorted(scopes)) or 'none'})",
            w,
            **allowed,
        )
    asked = ", ".join(sorted(ctx.requested_scopes)) or "no scopes"
    return passed(
        f"role {', '.join(sorted(ctx.requested_roles))} with {asked} is within the allowance of {w.name}",
        **allowed,
    )


def check_privileged(ctx: Context) -> Outcome:
    """dev-approve-all: anything goes except what only the sidecar's config can allow."""
    return _privileged(ctx) or passed(
        "neither the node role nor operator.admin is asked for without config allowing it"
    )


# Why a skip, not an approval: the gateway admits a paired device whose request adds nothing (no new role,
# scope or platform/deviceFamily), so approving changes nothing but rotates the device's token. Such a
# request is what a connect racing the approval of the device's previous request leaves behind: the
# gateway read "not paired", the approval landed, then it filed a new request (isRepair, new id) for the
# now paired device (reproduced on 2026.2.26 and 2026.9.6; tests/reliability/test_faults.py checks that
# such requests are skipped, never approved). It expires by itself.
ALREADY_PAIRED = (
    "device {device} is already paired with the same public key, role and scopes: nothing to approve "
    "(a request left by a connect that raced the approval; the device is admitted as it is)"
)


def check_repair(ctx: Context) -> Outcome:
    """Repairs/upgrades only for a device already paired with the same key (allowance checked before);
    a request that asks for nothing beyond the pairing is skipped (``ALREADY_PAIRED``)."""
    req, prior = ctx.request, ctx.paired.get(ctx.request.device_id)
    if prior is None:
        if req.is_repair:
            return fail(
                f"isRepair is set but device {short(req.device_id)} is not paired (removed meanwhile?)",
                ctx.workload,
            )
        return passed("first pairing of this device")
    try:
        same_key = normalize_public_key(prior.public_key) == ctx.public_key
    except ValueError:
        same_key = False
    if not same_key:
        return fail(
            f"device {short(req.device_id)} is paired with a different public key; a key change "
            "needs a human (openclaw devices remove, then pair again)",
            ctx.workload,
        )
    kinds = [
        kind
        for kind, present in (
            ("role-upgrade", bool(ctx.requested_roles - {*prior.roles, prior.role})),
            ("scope-upgrade", bool(uncovered(prior.scopes, ctx.requested_scopes))),
            ("metadata-upgrade", (req.platform, req.device_family) != (prior.platform, prior.device_family)),
        )
        if present
    ]
    if not kinds:
        return skip(ALREADY_PAIRED.format(device=short(req.device_id)), ctx.workload, upgrades=kinds)
    return passed(
        f"{', '.join(kinds)} of a device already paired with the same public key, within the allowance",
        upgrades=kinds,
    )
