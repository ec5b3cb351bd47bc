"""Every refusal the gateway is known to send (both generations) maps to the class callers branch on.

Strings and shapes: shared/notes/openclaw-protocol.md §5.3–5.6 and real-openclaw-gateway.md §9 (captured
frames). 2.26 = OpenClaw 2026.2.26 (protocol 3), 9.6 = 2026.9.6 (protocol 4).
"""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.errors import (
    AuthFailed,
    DeviceIdentityRequired,
    GatewayClosed,
    GatewayRequestError,
    GatewayStarting,
    MissingScope,
    PairingRequired,
    ProtocolMismatch,
)
from sidecar.gateway.errormap import ErrorShape, error_from_close, error_from_response, pairing_from_text

RID = "4aba016b-d7c9-4340-95a8-164716a73646"
DEV = "08d3d1b3" + "0" * 56


def shape(code: str, message: str, details: dict[str, Any] | None = None, **kw: Any) -> ErrorShape:
    return ErrorShape(code=code, message=message, details=details or {}, **kw)


# --- pairing required ------------------------------------------------------------------------------

PAIRING_9X = [
    ("device is not approved yet", "not-paired"),
    ("device is asking for a higher role than currently approved", "role-upgrade"),
    ("device is asking for more scopes than currently approved", "scope-upgrade"),
    ("device identity changed and must be re-approved", "metadata-upgrade"),
]


@pytest.mark.parametrize(("requirement", "reason"), PAIRING_9X)
def test_pairing_required_9x_with_details(requirement: str, reason: str) -> None:
    err = shape(
        "NOT_PAIRED",
        f"pairing required: {requirement}",
        {
            "code": "PAIRING_REQUIRED",
            "reason": reason,
            "requestId": RID,
            "remediationHint": "Approve this device from the pending pairing requests.",
            "deviceId": DEV,
            "requestedRole": "operator",
            "requestedScopes": ["operator.read"],
        },
    )
    exc = error_from_response(err, close_reason=f"pairing required: {requirement} (requestId: {RID})")
    assert isinstance(exc, PairingRequired)
    assert (exc.request_id, exc.reason, exc.code) == (RID, reason, "NOT_PAIRED")
    assert f"openclaw devices approve {RID}" in str(exc)


@pytest.mark.parametrize(("requirement", "reason"), PAIRING_9X)
def test_pairing_required_9x_request_id_only_in_close_reason(requirement: str, reason: str) -> None:
    err = shape("NOT_PAIRED", f"pairing required: {requirement}", {"code": "PAIRING_REQUIRED"})
    exc = error_from_response(err, close_reason=f"pairing required: {requirement} (requestId: {RID})")
    assert isinstance(exc, PairingRequired)
    assert exc.request_id == RID
    assert exc.reason == reason


@pytest.mark.parametrize("reason", ["not-paired", "role-upgrade", "scope-upgrade", "metadata-upgrade"])
def test_pairing_required_226(reason: str) -> None:
    err = shape(
        "NOT_PAIRED", "pairing required", {"code": "PAIRING_REQUIRED", "requestId": RID, "reason": reason}
    )
    exc = error_from_response(err, close_reason="pairing required")
    assert isinstance(exc, PairingRequired)
    assert (exc.request_id, exc.reason) == (RID, reason)


def test_pairing_required_without_any_request_id_says_how_to_find_it() -> None:
    exc = error_from_response(shape("NOT_PAIRED", "pairing required"), close_reason="pairing required")
    assert isinstance(exc, PairingRequired)
    assert exc.request_id is None
    assert exc.reason == ""
    assert "openclaw devices list" in str(exc)


def test_malformed_request_ids_are_not_trusted() -> None:
    err = shape("NOT_PAIRED", "pairing required", {"code": "PAIRING_REQUIRED", "requestId": "; rm -rf /"})
    exc = error_from_response(err, close_reason="pairing required (requestId: $(reboot))")
    assert isinstance(exc, PairingRequired)
    assert exc.request_id is None


@pytest.mark.parametrize(
    ("code", "reason", "kind", "request_id"),
    [
        (1008, f"pairing required: device is not approved yet (requestId: {RID})", "not-paired", RID),
        (1008, f"pairing required: {PAIRING_9X[2][0]} (requestId: {RID})", "scope-upgrade", RID),
        (1008, "pairing required", "", None),
        (1008, f"device pairing required (requestId: {RID})", "not-paired", RID),  # Node CLI phrasing
        (1008, f"role upgrade pending approval (requestId: {RID})", "role-upgrade", RID),
    ],
)  # fmt: skip
def test_pairing_from_close_alone(code: int, reason: str, kind: str, request_id: str | None) -> None:
    exc = error_from_close(code, reason)
    assert isinstance(exc, PairingRequired)
    assert (exc.reason, exc.request_id) == (kind, request_id)


def test_pairing_from_text_ignores_other_messages() -> None:
    assert pairing_from_text("device signature invalid") is None
    assert pairing_from_text(f"PAIRING REQUIRED (RequestId: {RID})") == ("", RID)


# --- everything else -------------------------------------------------------------------------------

CASES: list[tuple[str, ErrorShape, type[Exception]]] = [
    (
        "device identity required 2.26/9.6",
        shape("NOT_PAIRED", "device identity required", {"code": "DEVICE_IDENTITY_REQUIRED"}),
        DeviceIdentityRequired,
    ),
    (
        "control ui identity",
        shape(
            "INVALID_REQUEST",
            "control ui requires device identity (use HTTPS or localhost secure context)",
            {"code": "CONTROL_UI_DEVICE_IDENTITY_REQUIRED"},
        ),
        DeviceIdentityRequired,
    ),
    (
        "origin",
        shape(
            "INVALID_REQUEST",
            "origin not allowed (open the Control UI from the gateway host or allow it "
            "in gateway.controlUi.allowedOrigins)",
        ),
        AuthFailed,
    ),
    (
        "origin 9.6",
        shape("INVALID_REQUEST", "origin not allowed", {"code": "CONTROL_UI_ORIGIN_NOT_ALLOWED"}),
        AuthFailed,
    ),
    ("invalid role", shape("INVALID_REQUEST", "invalid role"), GatewayRequestError),
    (
        "starting 9.x",
        shape(
            "UNAVAILABLE",
            "gateway starting; retry shortly",
            {"reason": "startup-sidecars"},
            retryable=True,
            retry_after_ms=500,
        ),
        GatewayStarting,
    ),
    (
        "protocol mismatch 2.26",
        shape("INVALID_REQUEST", "protocol mismatch", {"expectedProtocol": 3}),
        ProtocolMismatch,
    ),
    (
        "protocol mismatch 9.6",
        shape(
            "INVALID_REQUEST",
            "protocol mismatch",
            {
                "code": "PROTOCOL_MISMATCH",
                "clientMinProtocol": 5,
                "clientMaxProtocol": 5,
                "expectedProtocol": 4,
                "minimumProbeProtocol": 3,
            },
        ),
        ProtocolMismatch,
    ),
    (
        "bad first frame",
        shape("INVALID_REQUEST", "invalid handshake: first request must be connect"),
        ProtocolMismatch,
    ),
    ("bad frame", shape("INVALID_REQUEST", "invalid request frame"), ProtocolMismatch),
    (
        "bad params",
        shape("INVALID_REQUEST", "invalid connect params: at /client: unexpected property"),
        ProtocolMismatch,
    ),
    (
        "token missing",
        shape(
            "INVALID_REQUEST",
            "unauthorized: gateway token missing (provide gateway auth token)",
            {"code": "AUTH_TOKEN_MISSING", "authReason": "token_missing"},
        ),
        AuthFailed,
    ),
    (
        "token mismatch 2.26",
        shape("INVALID_REQUEST", "unauthorized: gateway token mismatch (provide gateway auth token)"),
        AuthFailed,
    ),
    (
        "token mismatch 9.6",
        shape(
            "INVALID_REQUEST",
            "unauthorized: gateway token mismatch (provide gateway auth token)",
            {
                "code": "AUTH_TOKEN_MISMATCH",
                "authReason": "token_mismatch",
                "canRetryWithDeviceToken": False,
                "recommendedNextStep": "update_auth_credentials",
            },
        ),
        AuthFailed,
    ),
    (
        "device token mismatch",
        shape(
            "INVALID_REQUEST",
            "unauthorized: device token mismatch (rotate/reissue device token)",
            {"code": "AUTH_DEVICE_TOKEN_MISMATCH"},
        ),
        AuthFailed,
    ),
    (
        "rate limited",
        shape(
            "INVALID_REQUEST",
            "too many failed authentication attempts",
            {"code": "AUTH_RATE_LIMITED"},
            retry_after_ms=60000,
        ),
        AuthFailed,
    ),
    (
        "scope mismatch",
        shape("INVALID_REQUEST", "unauthorized: scope mismatch", {"code": "AUTH_SCOPE_MISMATCH"}),
        AuthFailed,
    ),
    ("missing scope 2.26", shape("INVALID_REQUEST", "missing scope: operator.pairing"), MissingScope),
    (
        "missing scope 9.x",
        shape(
            "FORBIDDEN",
            "missing scope: operator.pairing",
            {
                "code": "MISSING_SCOPE",
                "missingScope": "operator.pairing",
                "requiredScopes": ["operator.pairing"],
            },
        ),
        MissingScope,
    ),
    (
        "approver lacks requested scope",
        shape("INVALID_REQUEST", "missing scope: operator.read"),
        MissingScope,
    ),
    ("unknown requestId", shape("INVALID_REQUEST", "unknown requestId"), GatewayRequestError),
    ("unknown deviceId", shape("INVALID_REQUEST", "unknown deviceId"), GatewayRequestError),
    ("approval denied", shape("INVALID_REQUEST", "device pairing approval denied"), GatewayRequestError),
    ("approval not found", shape("APPROVAL_NOT_FOUND", "approval not found"), GatewayRequestError),
    ("agent timeout", shape("AGENT_TIMEOUT", "agent timed out"), GatewayRequestError),
    ("not linked", shape("NOT_LINKED", "not linked"), GatewayRequestError),
]

DEVICE_AUTH = [
    ("device identity mismatch", "device-id-mismatch", "DEVICE_AUTH_DEVICE_ID_MISMATCH"),
    ("device signature expired", "device-signature-stale", "DEVICE_AUTH_SIGNATURE_EXPIRED"),
    ("device nonce required", "device-nonce-missing", "DEVICE_AUTH_NONCE_REQUIRED"),
    ("device nonce mismatch", "device-nonce-mismatch", "DEVICE_AUTH_NONCE_MISMATCH"),
    ("device signature invalid", "device-signature", "DEVICE_AUTH_SIGNATURE_INVALID"),
    ("device public key invalid", "device-public-key", "DEVICE_AUTH_PUBLIC_KEY_INVALID"),
]
for message, reason, code9 in DEVICE_AUTH:
    legacy = {"code": "DEVICE_AUTH_INVALID", "reason": reason}
    CASES.append((f"{message} 2.26", shape("INVALID_REQUEST", message, legacy), AuthFailed))
    CASES.append(
        (f"{message} 9.6", shape("INVALID_REQUEST", message, {"code": code9, "reason": reason}), AuthFailed)
    )
    CASES.append((f"{message} bare", shape("INVALID_REQUEST", message), AuthFailed))


@pytest.mark.parametrize(("name", "err", "cls"), CASES, ids=[c[0] for c in CASES])
def test_error_mapping(name: str, err: ErrorShape, cls: type[Exception]) -> None:
    exc = error_from_response(err)
    assert type(exc) is cls
    assert exc.code == err.code
    assert err.message in str(exc)


def test_mapped_errors_carry_actionable_detail() -> None:
    starting = error_from_response(
        shape("UNAVAILABLE", "gateway starting; retry shortly", retryable=True, retry_after_ms=5)
    )
    assert isinstance(starting, GatewayStarting)
    assert starting.retryable
    assert starting.retry_after_ms == 100
    default = error_from_response(shape("UNAVAILABLE", "gateway starting; retry shortly", retryable=True))
    assert isinstance(default, GatewayStarting)
    assert default.retry_after_ms == 500
    scope = error_from_response(shape("INVALID_REQUEST", "missing scope: operator.read"))
    assert isinstance(scope, MissingScope)
    assert scope.scope == "operator.read"
    scope9 = error_from_response(
        shape("FORBIDDEN", "missing scope", {"code": "MISSING_SCOPE", "missingScope": "x.y"})
    )
    assert isinstance(scope9, MissingScope)
    assert scope9.scope == "x.y"
    token = error_from_response(shape("INVALID_REQUEST", "unauthorized: gateway token mismatch"))
    assert "OPENCLAW_GATEWAY_TOKEN" in str(token)
    stale = error_from_response(shape("INVALID_REQUEST", "device signature expired"))
    assert "clock" in str(stale)
    ident = error_from_response(
        shape("NOT_PAIRED", "device identity required", {"code": "DEVICE_IDENTITY_REQUIRED"})
    )
    assert "OPENCLAW_PAIRING_STATE_DIR" in str(ident)


@pytest.mark.parametrize(
    ("code", "reason", "cls"),
    [
        (1013, "gateway starting", GatewayStarting),
        (1002, "protocol mismatch", ProtocolMismatch),
        (1008, "device identity required", DeviceIdentityRequired),
        (1008, "unauthorized: gateway token mismatch (provide gateway auth token)", AuthFailed),
        (1008, "device signature invalid", AuthFailed),
        (1008, "invalid role", GatewayClosed),
        (4001, "gateway auth changed", GatewayClosed),
        (4000, "tick timeout", GatewayClosed),
        (1012, "service restart", GatewayClosed),
        (1006, "", GatewayClosed),
        (None, "", GatewayClosed),
    ],
)
def test_close_mapping(code: int | None, reason: str, cls: type[Exception]) -> None:
    exc = error_from_close(code, reason)
    assert type(exc) is cls
    if isinstance(exc, GatewayClosed):
        assert (exc.code, exc.reason) == (code, reason)
