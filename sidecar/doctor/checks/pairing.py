"""Pairing state at the gateway for one device: paired (which roles and scopes), pending, superseded, gone.

Why ask the gateway: the error text is a snapshot, and error B's requestId goes stale quickly — pending
requests expire after 5 minutes, and since 2026.6 a retry that asks for another role or other scopes
*supersedes* the request under a new id. A user approving the id from their error then gets "No pending
device request matches". So doctor lists the current state (``device.pair.list``) and says which id to
approve now.

How it connects: like ``openclaw devices`` on the gateway host — ``gateway-client``/``backend`` with the
shared token and no device, which the gateway admits with ``operator.pairing`` on its loopback and never
turns into a pairing request. Elsewhere that gets no scopes; then the identity in
``--pairing-state-dir`` (the sidecar's ``identity.json``) is presented, read-only. Doctor only lists: it
never approves, rejects or connects *as the agent* (which could itself supersede the agent's request).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sidecar.doctor.checks import Outcome
from sidecar.doctor.classify import names_full_state
from sidecar.doctor.findings import Finding, finding
from sidecar.doctor.options import DoctorOptions
from sidecar.envvars import LISTER_IDENTITY_FILE
from sidecar.errors import (
    AuthFailed,
    ConfigError,
    DeviceIdentityRequired,
    GatewayError,
    GatewayStarting,
    IdentityError,
    MissingScope,
    PairingRequired,
    ProtocolMismatch,
)

if TYPE_CHECKING:
    from sidecar.gateway.models import PairingList, PendingRequest
    from sidecar.identity.keys import DeviceIdentity

PENDING_TTL_MS = 300_000
UNKNOWN_REQUEST = "<requestId from `openclaw devices list`>"


def _age(ms: int) -> str:
    seconds = max(0, ms // 1000)
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


def _describe(p: PendingRequest, now_ms: int) -> str:
    age = now_ms - p.ts
    left = PENDING_TTL_MS - age
    expiry = f"expires in about {_age(left)}" if left > 0 else "past its 5-minute lifetime"
    kind = "repair (device already paired)" if p.is_repair else "new pairing"
    asks = f"role {','.join(p.roles) or p.role or '?'}, scopes {','.join(p.scopes) or 'none'}"
    where = p.remote_ip or "loopback"
    return f"request {p.request_id} ({kind}) for device {p.device_id[:12]}… asks {asks} from {where}; " + (
        f"{_age(age)} old, {expiry}"
    )


def analyze(
    listing: PairingList, device_id: str | None, request_id: str | None, now_ms: int
) -> tuple[list[Finding], str]:
    """Pure: the findings for ``device_id`` / ``request_id`` in ``listing``, and a one-line summary."""
    by_id = {p.request_id: p for p in listing.pending}
    if device_id is None and request_id in by_id:
        device_id = by_id[request_id].device_id
    mine = sorted((p for p in listing.pending if p.device_id == device_id), key=lambda p: p.ts)
    paired = next((d for d in listing.paired if d.device_id == device_id), None)
    findings: list[Finding] = []
    summary = ""
    if paired is not None:
        summary = (
            f"device {paired.device_id[:12]}… is paired: roles {','.join(paired.roles) or '-'}, scopes "
            f"{','.join(paired.scopes) or 'none'}"
            + (f" (approved via {paired.approved_via})" if paired.approved_via else "")
        )
        if request_id and request_id not in by_id and not mine:
            summary += f"; request {request_id} is no longer pending (the device has been approved since)"
        findings.append(finding("pairing.paired", summary))
    for p in mine:
        findings.append(finding("pairing.pending", _describe(p, now_ms), request_id=p.request_id))
    if request_id and request_id not in by_id:
        if mine:
            current = mine[-1]
            findings.append(
                finding(
                    "pairing.superseded",
                    f"{request_id} is no longer pending; the device's current {_describe(current, now_ms)}",
                    request_id=current.request_id,
                )
            )
        elif paired is None:
            findings.append(
                finding(
                    "pairing.request-gone",
                    f"request {request_id} is not pending at the gateway"
                    + (f" and device {device_id[:12]}… is not paired" if device_id else ""),
                )
            )
            return findings, summary
    if device_id and paired is None and not mine:
        findings.append(
            finding(
                "pairing.unknown-device",
                f"device {device_id} is neither paired nor pending at the gateway",
                device_id=device_id,
            )
        )
    return findings, summary


def _lister_identity(opts: DoctorOptions) -> DeviceIdentity | None:
    if opts.pairing_state_dir is None:
        return None
    from sidecar.identity.device_file import read_identity_file

    try:
        return read_identity_file(Path(opts.pairing_state_dir) / LISTER_IDENTITY_FILE)
    except IdentityError:
        return None


async def _list_once(opts: DoctorOptions, identity: DeviceIdentity | None) -> PairingList:
    from sidecar.gateway.client import GatewayClient
    from sidecar.identity.device_file import fallback_device

    assert opts.gateway_url is not None
    state = Path(opts.pairing_state_dir) / LISTER_IDENTITY_FILE if opts.pairing_state_dir else None
    client = GatewayClient(
        opts.gateway_url,
        token=opts.token,
        identity=identity,
        scopes=("operator.pairing",),
        display_name="openclaw-sidecar doctor",
        connect_timeout=opts.timeout,
        call_timeout=opts.timeout,
        # 2026.3.31 grants a device-less local client no scopes: the lister's device, else a key for now
        device_fallback=None if identity else fallback_device(state, create=False),
    )
    async with client:
        return await client.list_pairing()


async def list_pairing(opts: DoctorOptions) -> PairingList:
    """device-less first (gateway loopback); on a scope refusal, the --pairing-state-dir identity."""
    try:
        return await _list_once(opts, None)
    except (MissingScope, PairingRequired, DeviceIdentityRequired):
        identity = _lister_identity(opts)
        if identity is None:
            raise
        return await _list_once(opts, identity)


def _failure(exc: Exception, url: str) -> tuple[Finding, ...]:
    text = f"{url}: {exc}"
    if names_full_state(str(exc)):  # 2026.9.6 answers UNAVAILABLE: the gateway is up, its store is full
        return (finding("gateway.state-disk-full", text),)
    if isinstance(exc, AuthFailed):
        return (finding("auth.token-mismatch", f"the gateway rejected doctor's credentials ({text})"),)
    if isinstance(exc, ProtocolMismatch):
        return (finding("protocol.mismatch", text),)
    if isinstance(exc, GatewayStarting):
        return finding("gateway.starting", text), finding("pairing.cannot-list", text)
    if isinstance(exc, MissingScope | PairingRequired | DeviceIdentityRequired):
        return (finding("pairing.cannot-list", text),)
    return (finding("gateway.unreachable", text),)


def check(
    opts: DoctorOptions, device_id: str | None, request_id: str | None, now_ms: int | None = None
) -> Outcome:
    if not opts.gateway_url:
        return Outcome("pairing", skipped="no gateway URL (--gateway-url or OPENCLAW_GATEWAY_URL)")
    if not device_id and not request_id:
        return Outcome(
            "pairing", skipped="no device to look up (no identity found, no --device-id, no requestId)"
        )
    try:
        listing = asyncio.run(list_pairing(opts))
    except (GatewayError, ConfigError) as exc:
        return Outcome("pairing", _failure(exc, opts.gateway_url))
    findings, summary = analyze(listing, device_id, request_id, now_ms or int(time.time() * 1000))
    node = next((d for d in listing.paired if d.device_id == device_id and "node" in d.roles), None)
    if node is not None:  # a paired node host: its commands need a second approval (2026.3.31+)
        from sidecar.doctor.checks import node_surface

        findings += node_surface.check(opts, node.device_id)
    return Outcome("pairing", tuple(findings), summary)
