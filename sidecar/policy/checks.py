"""The named checks of the approval ladder (kubelet-csr-approver style): small, pure, one question each.

Every check takes the :class:`Context` and returns an :class:`~sidecar.policy.decision.Outcome` with a
reason a human can act on; the reason goes verbatim into the audit log. Checks never read a clock
(``ctx.now_ms``) and never do I/O. The ladders that order them per mode are in ``ladder.py``; the
rules are documented in ``docs/policy.md`` and each one has rows in ``tests/unit/test_policy_*.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sidecar.gateway import scopes as gateway_scopes
from sidecar.gateway.models import PairedDevice, PendingRequest
from sidecar.identity.keys import normalize_public_key
from sidecar.policy.decision import Outcome, fail, hold, passed, skip
from sidecar.policy.history import History
from sidecar.policy.net import gateway_networks, normalize_ip, workload_ips
from sidecar.settings import PRIVILEGED_ROLE, PRIVILEGED_SCOPE, PolicySettings
from sidecar.sources.workloads import Workload

PENDING_TTL_MS = 300_000  # the gateway's DEVICE_PAIRING_PENDING_TTL_MS; a request older than this is gone
DEFAULT_ROLE = "operator"  # what the gateway assumes when a request names no role


@dataclass(frozen=True)
class Context:
    request: PendingRequest
    workloads: tuple[Workload, ...]
    paired: Mapping[str, PairedDevice]
    settings: PolicySettings
    history: History
    now_ms: int
    workload: Workload | None = None  # set by the check that attributes the request to a container

    @property
    def remote_ip(self) -> str | None:
        return normalize_ip(self.request.remote_ip) if self.request.remote_ip else None

    @property
    def public_key(self) -> str | None:
        try:
            return normalize_public_key(self.request.public_key)
        except ValueError:
            return None

    def in_scope(self, w: Workload) -> bool:
        return self.settings.project is None or w.project == self.settings.project

    def labelled(self, w: Workload) -> bool:
        value = w.labels.get(self.settings.label_opt_in, "")
        return value.strip().lower() == self.settings.label_opt_in_value.strip().lower()

    @property
    def candidates(self) -> tuple[Workload, ...]:
        """Labelled, running containers in the project scope: the only ones that can be approved."""
        return tuple(w for w in self.workloads if w.running and self.labelled(w) and self.in_scope(w))

    @property
    def requested_roles(self) -> frozenset[str]:
        roles = {r for r in (*self.request.roles, self.request.role) if r}
        return frozenset(roles or {DEFAULT_ROLE})

    @property
    def requested_scopes(self) -> frozenset[str]:
        return frozenset(s for s in self.request.scopes if s)


def _short(value: str) -> str:
    return value[:12] + "…" if len(value) > 12 else value


def _names(workloads: Iterable[Workload]) -> str:
    return ", ".join(sorted(w.name for w in workloads))


def _words(text: str) -> frozenset[str]:
    return frozenset(part.strip() for part in text.replace(" ", ",").split(",") if part.strip())


# --- 1. requests that are not (or no longer) ours to decide ------------------------------------------


def check_silent(ctx: Context) -> Outcome:
    if ctx.request.silent:
        return skip("silent request: the gateway approves it by itself")
    return passed("not a silent request")


def check_expired(ctx: Context) -> Outcome:
    refreshed = ctx.request.extra.get("refreshedAtMs") if ctx.request.extra else None
    start = max(ctx.request.ts, refreshed if isinstance(refreshed, int) else 0)
    if ctx.now_ms - start > PENDING_TTL_MS:
        return skip(
            f"expired: pending since ts={start}, longer than the gateway's {PENDING_TTL_MS // 1000} s TTL"
        )
    return passed(f"pending for {max(0, ctx.now_ms - start) // 1000} s of the {PENDING_TTL_MS // 1000} s TTL")


def check_resolved(ctx: Context) -> Outcome:
    decision = ctx.history.resolution(ctx.request.request_id)
    if decision is not None:
        return skip(f"already resolved ({decision}) according to device.pair.resolved")
    return passed("not resolved yet")


def check_superseded(ctx: Context) -> Outcome:
    newer = ctx.history.newer_request(ctx.request)
    if newer is not None:
        return skip(f"superseded by the newer request {newer} of the same device", newerRequestId=newer)
    return passed("the device's newest request")


# --- 2.–3. who is asking ---------------------------------------------------------------------------


def _not_ours(ctx: Context) -> Outcome:
    """Explain why no candidate matched, naming near misses (unlabelled, stopped, other project)."""
    req, ip = ctx.request, ctx.remote_ip
    for w in ctx.workloads:
        same_id = w.identity is not None and w.identity.device_id == req.device_id
        same_ip = ip is not None and ip in workload_ips(w)
        if not (same_id or same_ip):
            continue
        why = (
            f"is not labelled {ctx.settings.label_opt_in}={ctx.settings.label_opt_in_value}"
            if not ctx.labelled(w)
            else "is not running"
            if not w.running
            else f"is in compose project {w.project!r}, not {ctx.settings.project!r}"
        )
        what = "publishes this deviceId" if same_id else f"has address {ip}"
        return skip(f"not ours: container {w.name} {what} but {why}", container=w.evidence())
    where = f" and none has address {ip}" if ip else ""
    return skip(f"not ours: no labelled running container publishes deviceId {_short(req.device_id)}{where}")


def check_identity(ctx: Context) -> Outcome:
    """Strict mode: deviceId AND publicKey equal the published identity of exactly one candidate.

    When nothing publishes the identity, the request is attributed by ``remoteIp`` to the labelled
    container it claims to come from: a different key from that container is a *failure* (reject), a
    container whose identity cannot be read yet is *held*, and an unknown address is *not ours*.
    """
    req, key, ip = ctx.request, ctx.public_key, ctx.remote_ip
    if key is None:
        return skip(f"publicKey of request {req.request_id} is not an Ed25519 key; cannot compare")
    same_id = [w for w in ctx.candidates if w.identity and w.identity.device_id == req.device_id]
    exact = [w for w in same_id if w.identity and w.identity.public_key == key]
    if len(exact) == 1:
        w = exact[0]
        return passed(f"deviceId and publicKey match the identity published by container {w.name}", w)
    if len(exact) > 1:
        return fail(
            f"deviceId {_short(req.device_id)} is published by {len(exact)} labelled containers "
            f"({_names(exact)}): a copied identity cannot be attributed to one container"
        )
    if same_id:
        w = same_id[0]
        return fail(f"publicKey differs from the one container {w.name} publishes for this deviceId", w)
    claimed = [w for w in ctx.candidates if ip is not None and ip in workload_ips(w)]
    if len(claimed) > 1:
        return skip(
            f"remoteIp {ip} belongs to {len(claimed)} labelled containers ({_names(claimed)}): ambiguous"
        )
    if not claimed:
        return _not_ours(ctx)
    w = claimed[0]
    if w.identity is None:
        why = w.identity_error or "not read yet"
        return hold(
            f"request comes from container {w.name} ({ip}), which publishes no readable identity ({why})", w
        )
    return fail(
        f"request from container {w.name} ({ip}) carries deviceId {_short(req.device_id)} which is not the "
        f"identity the container publishes (deviceId {_short(w.identity.device_id)})",
        w,
        publishedDeviceId=w.identity.device_id,
    )


def check_remote_ip(ctx: Context) -> Outcome:
    """Strict mode: a remoteIp must be one of the matched container's addresses, never a bridge gateway."""
    w = ctx.workload
    assert w is not None, "check_remote_ip runs after the identity check"
    if ctx.request.remote_ip is None:
        return passed("no remoteIp (a loopback peer of the gateway); the identity match decides")
    ip = ctx.remote_ip
    if ip is None:
        return fail(f"remoteIp {ctx.request.remote_ip!r} is not an IP address", w)
    gateway_of = gateway_networks(ctx.workloads).get(ip)
    if gateway_of:
        return fail(
            f"remoteIp {ip} is the gateway address of network {gateway_of}: the connection came through a "
            f"published port or the host, not from container {w.name}",
            w,
        )
    mine = workload_ips(w)
    if ip not in mine:
        return fail(f"remoteIp {ip} is not an address of container {w.name} ({', '.join(sorted(mine))})", w)
    return passed(f"remoteIp {ip} is container {w.name}'s address on network {mine[ip]}")


def check_ip_match(ctx: Context) -> Outcome:
    """Mode ip: the remoteIp is the address of exactly one candidate (the identity is not proven)."""
    ip = ctx.remote_ip
    if ip is None:
        return skip("mode ip attributes requests by remoteIp, and this request has none (or not an IP)")
    gateway_of = gateway_networks(ctx.workloads).get(ip)
    if gateway_of:
        return skip(f"remoteIp {ip} is the gateway address of network {gateway_of}; cannot attribute it")
    matches = [w for w in ctx.candidates if ip in workload_ips(w)]
    if len(matches) > 1:
        return skip(
            f"remoteIp {ip} belongs to {len(matches)} labelled containers ({_names(matches)}): ambiguous"
        )
    if not matches:
        return _not_ours(ctx)
    w = matches[0]
    published = w.identity
    if published is not None and (
        published.device_id != ctx.request.device_id or published.public_key != ctx.public_key
    ):
        return fail(
            f"container {w.name} publishes deviceId {_short(published.device_id)}, but the request "
            f"from its address carries deviceId {_short(ctx.request.device_id)}",
            w,
        )
    return passed(
        f"remoteIp {ip} is the address of exactly one labelled running container, {w.name} "
        "(mode ip: the address is trusted, the key is not proven)",
        w,
    )


# --- 4.–5. what is asked for -------------------------------------------------------------------------


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
    roles = _words(w.labels[s.label_roles]) if s.label_roles in w.labels else s.default_roles
    scopes = _words(w.labels[s.label_scopes]) if s.label_scopes in w.labels else s.default_scopes
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


def check_repair(ctx: Context) -> Outcome:
    """Repairs/upgrades only for a device already paired with the same key (allowance checked before)."""
    req, prior = ctx.request, ctx.paired.get(ctx.request.device_id)
    if prior is None:
        if req.is_repair:
            return fail(
                f"isRepair is set but device {_short(req.device_id)} is not paired (removed meanwhile?)",
                ctx.workload,
            )
        return passed("first pairing of this device")
    try:
        same_key = normalize_public_key(prior.public_key) == ctx.public_key
    except ValueError:
        same_key = False
    if not same_key:
        return fail(
            f"device {_short(req.device_id)} is paired with a different public key; a key change "
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
    what = ", ".join(kinds) or "repair"
    return passed(
        f"{what} of a device already paired with the same public key, within the allowance", upgrades=kinds
    )


# --- 6. how often ------------------------------------------------------------------------------------


def check_churn(ctx: Context) -> Outcome:
    s = ctx.settings
    since = ctx.now_ms - s.rate_window_ms
    ids = ctx.history.request_ids_since(ctx.request.device_id, since) | {ctx.request.request_id}
    window = f"{s.rate_window_ms // 1000} s"
    if len(ids) > s.churn_threshold:
        return hold(
            f"device {_short(ctx.request.device_id)} opened {len(ids)} pairing requests in {window} "
            f"(more than {s.churn_threshold}): held back",
            ctx.workload,
            requestIds=sorted(ids),
        )
    return passed(f"{len(ids)} request id(s) from this device in {window} (threshold {s.churn_threshold})")


def check_rate_limit(ctx: Context) -> Outcome:
    s, w = ctx.settings, ctx.workload
    assert w is not None, "check_rate_limit runs after the request is attributed"
    since, window = ctx.now_ms - s.rate_window_ms, f"{s.rate_window_ms // 1000} s"
    mine, total = ctx.history.approvals_since(since, w.id), ctx.history.approvals_since(since)
    if mine >= s.rate_limit_per_container:
        return hold(
            f"container {w.name} had {mine} approvals in {window} (limit {s.rate_limit_per_container})",
            w,
        )
    if total >= s.rate_limit_global:
        return hold(f"{total} approvals in {window} reached the global budget ({s.rate_limit_global})", w)
    return passed(f"{mine} approval(s) for the container and {total} in total in {window}")


# --- dev-approve-all -----------------------------------------------------------------------------------


def check_dev_window(ctx: Context) -> Outcome:
    s, h = ctx.settings, ctx.history
    ends = h.started_ms + s.dev_window_ms
    if ctx.now_ms > ends:
        return skip(
            f"dev-approve-all time box of {s.dev_window_ms // 1000} s after start is over (ended at {ends})"
        )
    return passed(f"inside the dev-approve-all time box of {s.dev_window_ms // 1000} s (ends at {ends})")


def check_dev_cap(ctx: Context) -> Outcome:
    s, h = ctx.settings, ctx.history
    if h.approved_total >= s.dev_max_approvals:
        return skip(f"dev-approve-all cap of {s.dev_max_approvals} approvals reached")
    return passed(f"{h.approved_total} of {s.dev_max_approvals} dev-approve-all approvals used")


def check_dev_network(ctx: Context) -> Outcome:
    """dev-approve-all: the remoteIp is a running container's address on the project's networks."""
    ip = ctx.remote_ip
    if ip is None:
        return skip("dev-approve-all needs a remoteIp on the project networks; this request has none")
    gateway_of = gateway_networks(ctx.workloads).get(ip)
    if gateway_of:
        return skip(f"remoteIp {ip} is the gateway address of network {gateway_of} (host or published port)")
    matches = [w for w in ctx.workloads if w.running and ctx.in_scope(w) and ip in workload_ips(w)]
    if not matches:
        project = ctx.settings.project or "any project"
        return skip(f"remoteIp {ip} is not the address of a running container of {project}")
    w = matches[0]
    return passed(f"remoteIp {ip} is container {w.name}'s address on network {workload_ips(w)[ip]}", w)
