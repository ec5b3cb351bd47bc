"""Gateway refusals → the exception classes callers branch on (pure; part of the protocol layer).

Covers both generations of error text (openclaw-protocol.md §5.4–5.6): 2026.2.x puts the structured
``details.code`` on fewer errors and closes pairing with the bare reason ``"pairing required"``; 2026.6+
adds codes such as ``MISSING_SCOPE`` / ``PROTOCOL_MISMATCH`` and echoes the requestId in the close reason
``"pairing required: <requirement> (requestId: <id>)"``. We classify on ``details.code`` first and fall
back to the message text the gateway is known to send, so both generations map to the same class.
Every message says what the gateway said and what to do next; none contains a token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sidecar.errors import (
    AuthFailed,
    DeviceIdentityRequired,
    GatewayClosed,
    GatewayError,
    GatewayRequestError,
    GatewayStarting,
    MissingScope,
    PairingRequired,
    ProtocolMismatch,
)

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")  # PAIRING_CONNECT_REQUEST_ID_PATTERN
_CLOSE_REQUEST_ID_RE = re.compile(r"\(requestId:\s*([^\s)]+)\)", re.IGNORECASE)
_MISSING_SCOPE_RE = re.compile(r"missing scope:\s*([A-Za-z0-9._:-]+)")

PAIRING_REASONS = ("not-paired", "role-upgrade", "scope-upgrade", "metadata-upgrade")
# Server messages (≥2026.6) and the Node CLI's own phrasings, both → reason.
_REASON_BY_TEXT = (
    ("device is not approved yet", "not-paired"),
    ("higher role than currently approved", "role-upgrade"),
    ("more scopes than currently approved", "scope-upgrade"),
    ("device identity changed and must be re-approved", "metadata-upgrade"),
    ("device pairing required", "not-paired"),
    ("role upgrade pending approval", "role-upgrade"),
    ("scope upgrade pending approval", "scope-upgrade"),
    ("device metadata change pending approval", "metadata-upgrade"),
)
_DEVICE_AUTH_TEXT = (
    "device identity mismatch",
    "device signature expired",
    "device nonce required",
    "device nonce mismatch",
    "device signature invalid",
    "device public key invalid",
)
_BAD_FRAME_TEXT = ("invalid handshake", "invalid request frame", "invalid connect params")
STARTUP_RETRY_MIN_MS, STARTUP_RETRY_DEFAULT_MS, STARTUP_RETRY_MAX_MS = 100, 500, 2000


@dataclass(frozen=True)
class ErrorShape:
    """``res.error``: what the gateway said no with."""

    code: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)
    retryable: bool = False
    retry_after_ms: int | None = None


def normalize_request_id(value: object) -> str | None:
    """A requestId as the gateway would echo it, or None (never trust a malformed one)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if REQUEST_ID_RE.match(value) else None


def pairing_from_text(text: str) -> tuple[str, str | None] | None:
    """(reason, requestId) from a pairing message or close reason; None when it is not about pairing.

    ``reason`` is "" when the text names no requirement (2026.2.x's bare ``"pairing required"``).
    """
    lowered = text.strip().lower()
    reason = next((r for t, r in _REASON_BY_TEXT if t in lowered), None)
    if reason is None and "pairing required" not in lowered:
        return None
    match = _CLOSE_REQUEST_ID_RE.search(text)
    return (reason or "", normalize_request_id(match.group(1)) if match else None)


def _approve_hint(request_id: str | None) -> str:
    if request_id:
        return f"approve it on the gateway host with: openclaw devices approve {request_id}"
    return (
        "list the pending requests with `openclaw devices list` on the gateway host and approve this device"
    )


def _kw(err: ErrorShape) -> dict[str, Any]:
    return {
        "code": err.code,
        "details": dict(err.details),
        "retryable": err.retryable,
        "retry_after_ms": err.retry_after_ms,
    }


def _startup_delay_ms(value: int | None) -> int:
    ms = STARTUP_RETRY_DEFAULT_MS if value is None else value
    return max(STARTUP_RETRY_MIN_MS, min(STARTUP_RETRY_MAX_MS, ms))


def _pairing_required(err: ErrorShape, close_reason: str | None) -> PairingRequired:
    details = err.details
    request_id = normalize_request_id(details.get("requestId"))
    reason = details.get("reason") if details.get("reason") in PAIRING_REASONS else None
    parsed = pairing_from_text(err.message)
    from_close = pairing_from_text(close_reason) if close_reason else None
    if request_id is None and from_close is not None:
        request_id = from_close[1]
    if reason is None:
        reason = next((p[0] for p in (parsed, from_close) if p and p[0]), "")
    what = f"reason {reason}" if reason else "no reason given"
    message = (
        f"gateway requires approval of this device ({err.message}; {what}"
        f"{f', requestId {request_id}' if request_id else ''}): {_approve_hint(request_id)}"
    )
    kw = _kw(err)
    return PairingRequired(message, request_id=request_id, reason=reason, **kw)


def error_from_response(err: ErrorShape, *, close_reason: str | None = None) -> GatewayRequestError:
    """Map a ``res.error`` (plus the close reason, when the gateway closed right after) to a class."""
    details, message = err.details, err.message
    raw_code = details.get("code")
    dcode = raw_code if isinstance(raw_code, str) else ""
    lowered = message.lower()
    kw = _kw(err)
    if dcode in ("DEVICE_IDENTITY_REQUIRED", "CONTROL_UI_DEVICE_IDENTITY_REQUIRED") or (
        "device identity required" in lowered or "requires device identity" in lowered
    ):
        return DeviceIdentityRequired(
            f"gateway requires a device identity for this connection ({message}): set "
            "OPENCLAW_PAIRING_STATE_DIR (or --state-dir) so the client presents a persisted identity",
            **kw,
        )
    if dcode == "PAIRING_REQUIRED" or (err.code == "NOT_PAIRED" and "pairing required" in lowered):
        return _pairing_required(err, close_reason)
    if dcode == "PROTOCOL_MISMATCH" or lowered.startswith("protocol mismatch"):
        expected = details.get("expectedProtocol")
        return ProtocolMismatch(
            f"gateway speaks protocol {expected if expected is not None else '?'}, this client 3..4 "
            f"({message}): use an OpenClaw gateway from 2026.2 or later, or upgrade openclaw-sidecar",
            **kw,
        )
    if any(lowered.startswith(t) for t in _BAD_FRAME_TEXT):
        return ProtocolMismatch(
            f"gateway rejected this client's request frame ({message}): this gateway version is not "
            "supported by openclaw-sidecar; report it with the gateway version",
            **kw,
        )
    if err.code == "UNAVAILABLE" and (err.retryable or "starting" in lowered):
        kw["retry_after_ms"] = _startup_delay_ms(err.retry_after_ms)
        kw["retryable"] = True
        return GatewayStarting(f"gateway is starting ({message}); retry shortly", **kw)
    if dcode == "MISSING_SCOPE" or "missing scope:" in lowered:
        scope = details.get("missingScope")
        if not isinstance(scope, str):
            found = _MISSING_SCOPE_RE.search(message)
            scope = found.group(1) if found else None
        return MissingScope(
            f"gateway refused: {message}: connect with scope {scope or '(unnamed)'} (node-role approvals "
            "need operator.admin; approving a request needs every scope it asks for)",
            scope=scope,
            **kw,
        )
    if dcode.startswith("DEVICE_AUTH_") or any(lowered.startswith(t) for t in _DEVICE_AUTH_TEXT):
        hint = (
            "the host clock must be within 2 minutes of the gateway's"
            if "expired" in lowered or dcode == "DEVICE_AUTH_SIGNATURE_EXPIRED"
            else "the device key or signature is wrong; check the identity under OPENCLAW_PAIRING_STATE_DIR"
        )
        return AuthFailed(f"gateway rejected the device signature ({message}): {hint}", **kw)
    if (
        dcode.startswith("AUTH_")
        or lowered.startswith("unauthorized")
        or "too many failed authentication attempts" in lowered
        or "scope mismatch" in lowered
    ):
        return AuthFailed(
            f"gateway rejected the credentials ({message}): check that OPENCLAW_GATEWAY_TOKEN (or --token) "
            "equals the gateway's gateway.auth.token",
            **kw,
        )
    if dcode == "CONTROL_UI_ORIGIN_NOT_ALLOWED" or lowered.startswith("origin not allowed"):
        return AuthFailed(f"gateway refused the connection origin ({message})", **kw)
    return GatewayRequestError(f"gateway refused: {message} ({err.code})", **kw)


def error_from_close(code: int | None, reason: str) -> GatewayError:
    """An error for a connection the gateway closed without (or before) answering our request."""
    pairing = pairing_from_text(reason) if code in (1008, None) else None
    if pairing is not None:
        reason_kind, request_id = pairing
        return PairingRequired(
            f"gateway requires approval of this device (closed {code}: {reason}): "
            + _approve_hint(request_id),
            request_id=request_id,
            reason=reason_kind,
            code="NOT_PAIRED",
        )
    lowered = reason.lower()
    if code == 1013 or lowered.startswith("gateway starting"):
        return GatewayStarting(
            f"gateway is starting (closed {code}: {reason}); retry shortly",
            code="UNAVAILABLE",
            retryable=True,
            retry_after_ms=STARTUP_RETRY_DEFAULT_MS,
        )
    if code in (1002, 1008) and reason:
        mapped = error_from_response(ErrorShape(code="INVALID_REQUEST", message=reason))
        if type(mapped) is not GatewayRequestError:
            return mapped
    return GatewayClosed(
        f"gateway closed the connection (code {code}, reason {reason!r})", code=code, reason=reason
    )
