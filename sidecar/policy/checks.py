"""The named checks of the approval ladder (kubelet-csr-approver style): small, pure, one question each.

Every check takes the :class:`~sidecar.policy.context.Context` and returns an
:class:`~sidecar.policy.decision.Outcome` with a reason a human can act on; the reason goes verbatim into
the audit log. Checks never read a clock (``ctx.now_ms``) and never do I/O. This module answers "is this
request still ours to decide?" and "who is asking?"; ``allowance.py`` answers "what is asked for?",
``limits.py`` "how often?". The ladders that order them per mode are in ``ladder.py``; the rules are
documented in ``docs/policy.md`` and every check has rows in ``tests/unit/test_policy_*.py``.
"""

from __future__ import annotations

from sidecar.identity.keys import b64url_decode, device_id_for
from sidecar.identity.release import own_key_cause
from sidecar.policy.context import PENDING_TTL_MS, Context, names, short
from sidecar.policy.decision import Outcome, fail, hold, passed, skip
from sidecar.policy.net import workload_ips
from sidecar.sources.workloads import Workload

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


def _likely_cause(w: Workload) -> str:
    """': <cause and fix>' when the workload's evidence explains a foreign key (release vs storage)."""
    cause = own_key_cause(w.identity, w.labels, w.image)
    return f": {cause}" if cause else ""


def _not_ours(ctx: Context) -> Outcome:
    """Explain why no candidate matched, naming near misses (unlabelled, stopped, other project)."""
    req, ip = ctx.request, ctx.remote_ip
    first = ctx.index.first_near_miss(req.device_id, ip)
    if first is not None:
        w = ctx.workloads[first]
        same_id = w.claimed_device_id == req.device_id
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
    return skip(f"not ours: no labelled running container publishes deviceId {short(req.device_id)}{where}")


def _key_matches(w: Workload, device_id: str, key: str) -> bool:
    """The request's key is the workload's: equal to the published key, or hashing to the pinned deviceId."""
    if w.identity is not None:
        return w.identity.device_id == device_id and w.identity.public_key == key
    if w.pinned_device_id != device_id:
        return False
    try:
        return device_id_for(b64url_decode(key)) == device_id
    except ValueError:
        return False


def check_identity(ctx: Context) -> Outcome:
    """Strict mode: deviceId AND publicKey equal the published identity of exactly one candidate.

    When nothing publishes the identity, the request is attributed by ``remoteIp`` to the labelled
    container it claims to come from: a different key from that container is a *failure* (reject), a
    container whose identity cannot be read yet is *held*, and an unknown address is *not ours*.
    """
    req, key, ip = ctx.request, ctx.public_key, ctx.remote_ip
    if key is None:
        return skip(f"publicKey of request {req.request_id} is not an Ed25519 key; cannot compare")
    same_id = list(ctx.index.candidates_by_device.get(req.device_id, ()))
    exact = [w for w in same_id if _key_matches(w, req.device_id, key)]
    if len(exact) == 1:
        w = exact[0]
        if w.identity is None:
            return passed(
                f"deviceId is the one pinned for {w.name} and is the SHA-256 of the request's publicKey", w
            )
        return passed(f"deviceId and publicKey match the identity published by container {w.name}", w)
    if len(exact) > 1:
        return fail(
            f"deviceId {short(req.device_id)} is published by {len(exact)} labelled containers "
            f"({names(exact)}): a copied identity cannot be attributed to one container"
        )
    if same_id:
        w = same_id[0]
        return fail(f"publicKey differs from the one container {w.name} publishes for this deviceId", w)
    claimed = list(ctx.index.candidates_by_ip.get(ip, ())) if ip is not None else []
    if len(claimed) > 1:
        return skip(
            f"remoteIp {ip} belongs to {len(claimed)} labelled containers ({names(claimed)}): ambiguous"
        )
    if not claimed:
        return _not_ours(ctx)
    w = claimed[0]
    if w.identity is None and w.pinned_device_id:
        return fail(
            f"request from {w.name} ({ip}) carries deviceId {short(req.device_id)} which is not the "
            f"deviceId pinned for it ({short(w.pinned_device_id)})",
            w,
            publishedDeviceId=w.pinned_device_id,
        )
    if w.identity is None:
        why = w.identity_error or "not read yet"
        return hold(
            f"request comes from container {w.name} ({ip}), which publishes no readable identity ({why})", w
        )
    return fail(
        f"request from container {w.name} ({ip}) carries deviceId {short(req.device_id)} which is not the "
        f"identity the container publishes (deviceId {short(w.identity.device_id)}){_likely_cause(w)}",
        w,
        publishedDeviceId=w.identity.device_id,
    )


def check_remote_ip(ctx: Context) -> Outcome:
    """Strict mode: a remoteIp must be one of the matched container's addresses, never a bridge gateway.

    No remoteIp (the gateway saw a loopback peer: something in its own network namespace) proves no
    container address, so the third factor is missing: left to a human, never approved (found by the
    soak's bad-input oracle; until then a loopback request with a published key was approved)."""
    w = ctx.workload
    assert w is not None, "check_remote_ip runs after the identity check"
    if ctx.request.remote_ip is None:
        return skip(
            f"no remoteIp: the gateway saw a loopback peer, not an address of container {w.name}; strict "
            "mode approves only a request from the container's own address (approve it by hand if expected)",
            w,
        )
    ip = ctx.remote_ip
    if ip is None:
        return fail(f"remoteIp {ctx.request.remote_ip!r} is not an IP address", w)
    gateway_of = ctx.index.gateways.get(ip)
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
    gateway_of = ctx.index.gateways.get(ip)
    if gateway_of:
        return skip(f"remoteIp {ip} is the gateway address of network {gateway_of}; cannot attribute it")
    matches = list(ctx.index.candidates_by_ip.get(ip, ()))
    if len(matches) > 1:
        return skip(
            f"remoteIp {ip} belongs to {len(matches)} labelled containers ({names(matches)}): ambiguous"
        )
    if not matches:
        return _not_ours(ctx)
    w = matches[0]
    published = w.identity
    if published is not None and (
        published.device_id != ctx.request.device_id or published.public_key != ctx.public_key
    ):
        return fail(
            f"container {w.name} publishes deviceId {short(published.device_id)}, but the request "
            f"from its address carries deviceId {short(ctx.request.device_id)}{_likely_cause(w)}",
            w,
        )
    return passed(
        f"remoteIp {ip} is the address of exactly one labelled running container, {w.name} "
        "(mode ip: the address is trusted, the key is not proven)",
        w,
    )


def check_dev_network(ctx: Context) -> Outcome:
    """dev-approve-all: the remoteIp is a running container's address on one of the project's networks.

    The network decides, not the container's labels or compose project: the source marks which of a
    container's networks belong to the project (``Workload.project_networks``). Never a gateway address.
    """
    ip = ctx.remote_ip
    if ip is None:
        return skip("dev-approve-all needs a remoteIp on the project networks; this request has none")
    gateway_of = ctx.index.gateways.get(ip)
    if gateway_of:
        return skip(f"remoteIp {ip} is the gateway address of network {gateway_of} (host or published port)")
    matches = [w for w in ctx.workloads if w.running and workload_ips(w).get(ip) in w.project_networks]
    if not matches:
        project = ctx.settings.project or "the project"
        return skip(f"remoteIp {ip} is not the address of a running container on a network of {project}")
    w = matches[0]
    network = workload_ips(w)[ip]
    return passed(f"remoteIp {ip} is container {w.name}'s address on project network {network}", w)


def check_surface_remote_ip(ctx: Context) -> Outcome:
    """Node surfaces: a surface announced without remoteIp is judged by its paired device (the device
    pairing needed the container's own address); one with a remoteIp must come from that address."""
    if ctx.request.remote_ip is None:
        return passed("no remoteIp on the surface; its device's pairing and key decide")
    return check_remote_ip(ctx)
