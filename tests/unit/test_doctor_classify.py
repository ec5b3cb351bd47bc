"""Error text → finding: every refusal string of both OpenClaw generations (notes §5.4–5.6, §6, §9).

Strings are copied from the shared notes (openclaw-protocol.md §5.6, real-openclaw-gateway.md §6, §7, §9);
tests/integration/test_doctor_real.py feeds the real gateways' own refusals through the same classifier.
"""

from __future__ import annotations

import pytest

from sidecar.doctor.classify import classify, last_error_in

RID = "4aba016b-d7c9-4340-95a8-164716a73646"
DEV = "08d3d1b3" + "0" * 56

# (text, finding id, requestId, reason, generation, close code)
CASES: list[tuple[str, str, str | None, str | None, str | None, int | None]] = [
    # --- error A, both generations ---------------------------------------------------------------
    ("device identity required", "error-a.device-identity-required", None, None, None, None),
    ('1008 "device identity required"', "error-a.device-identity-required", None, None, None, None),
    (
        "disconnected (1008): device identity required",
        "error-a.device-identity-required",
        None,
        None,
        None,
        1008,
    ),
    (
        '{"ok":false,"error":{"code":"NOT_PAIRED","message":"device identity required",'
        '"details":{"code":"DEVICE_IDENTITY_REQUIRED"}}}',
        "error-a.device-identity-required",
        None,
        None,
        None,
        None,
    ),
    (
        "control ui requires device identity (use HTTPS or localhost secure context)",
        "error-a.insecure-context",
        None,
        None,
        None,
        None,
    ),
    (
        "disconnected (1008): control ui requires device identity (use HTTPS or localhost secure context)",
        "error-a.insecure-context",
        None,
        None,
        None,
        1008,
    ),
    (
        '{"code":"INVALID_REQUEST","message":"control ui requires device identity (use HTTPS or localhost '
        'secure context)","details":{"code":"CONTROL_UI_DEVICE_IDENTITY_REQUIRED"}}',
        "error-a.insecure-context",
        None,
        None,
        None,
        None,
    ),
    # --- error B, 2026.2.x: bare message and close reason; id and reason only in details --------------
    ("pairing required", "error-b.pairing-required", None, None, "2026.2", None),
    ('closed 1008 "pairing required"', "error-b.pairing-required", None, None, "2026.2", 1008),
    (
        '{"ok":false,"error":{"code":"NOT_PAIRED","message":"pairing required","details":'
        f'{{"code":"PAIRING_REQUIRED","requestId":"{RID}","reason":"not-paired"}}}}}}',
        "error-b.pairing-required",
        RID,
        "not-paired",
        "2026.2",
        None,
    ),
    (
        '{"ok":false,"error":{"code":"NOT_PAIRED","message":"pairing required","details":'
        f'{{"code":"PAIRING_REQUIRED","requestId":"{RID}","reason":"role-upgrade"}}}}}}',
        "error-b.role-upgrade",
        RID,
        "role-upgrade",
        "2026.2",
        None,
    ),
    (
        '{"ok":false,"error":{"code":"NOT_PAIRED","message":"pairing required","details":'
        f'{{"code":"PAIRING_REQUIRED","requestId":"{RID}","reason":"scope-upgrade"}}}}}}',
        "error-b.scope-upgrade",
        RID,
        "scope-upgrade",
        "2026.2",
        None,
    ),
    (
        '{"ok":false,"error":{"code":"NOT_PAIRED","message":"pairing required","details":'
        f'{{"code":"PAIRING_REQUIRED","requestId":"{RID}","reason":"metadata-upgrade"}}}}}}',
        "error-b.metadata-upgrade",
        RID,
        "metadata-upgrade",
        "2026.2",
        None,
    ),
    # --- error B, 2026.6+: requirement in the message, requestId echoed in the close reason -----------
    (
        f"pairing required: device is not approved yet (requestId: {RID})",
        "error-b.pairing-required",
        RID,
        "not-paired",
        "2026.6+",
        None,
    ),
    (
        f'close 1008 "pairing required: device is not approved yet (requestId: {RID})"',
        "error-b.pairing-required",
        RID,
        "not-paired",
        "2026.6+",
        1008,
    ),
    (
        f"pairing required: device is asking for a higher role than currently approved (requestId: {RID})",
        "error-b.role-upgrade",
        RID,
        "role-upgrade",
        "2026.6+",
        None,
    ),
    (
        f"pairing required: device is asking for more scopes than currently approved (requestId: {RID})",
        "error-b.scope-upgrade",
        RID,
        "scope-upgrade",
        "2026.6+",
        None,
    ),
    (
        "pairing required: device identity changed and must be re-approved",
        "error-b.metadata-upgrade",
        None,
        "metadata-upgrade",
        "2026.6+",
        None,
    ),
    (
        # the real 9.6 frame (real-openclaw-gateway.md §9)
        '{"type":"res","id":"1:7ebc7995","ok":false,"error":{"code":"NOT_PAIRED",'
        '"message":"pairing required: '
        'device is not approved yet","details":{"code":"PAIRING_REQUIRED","reason":"not-paired",'
        f'"requestId":"{RID}","remediationHint":"Approve this device from the pending pairing requests.",'
        f'"deviceId":"{DEV}","requestedRole":"operator","requestedScopes":["operator.read"]}}}}}}',
        "error-b.pairing-required",
        RID,
        "not-paired",
        "2026.6+",
        None,
    ),
    (
        # close reasons are cut at 120 bytes: a half requestId must never be offered for approval
        "pairing required: device is asking for more scopes than currently approved "
        "(requestId: 4aba016b-d7c9",
        "error-b.scope-upgrade",
        None,
        "scope-upgrade",
        "2026.6+",
        None,
    ),
    # the Node client's and the gateway's own log lines
    (
        f"node host gateway connect failed: device pairing required (requestId: {RID})",
        "error-b.pairing-required",
        RID,
        "not-paired",
        "2026.6+",
        None,
    ),
    (
        f"node host gateway closed (1008): pairing required: device is not approved yet (requestId: {RID})",
        "error-b.pairing-required",
        RID,
        "not-paired",
        "2026.6+",
        1008,
    ),
    (
        f"role upgrade pending approval (requestId: {RID})",
        "error-b.role-upgrade",
        RID,
        "role-upgrade",
        "2026.6+",
        None,
    ),
    (
        "closed before connect conn=1 peer=10.200.0.2:40512->10.200.0.1:18789 code=1008 "
        "reason=pairing required: "
        "device is not approved yet cause=pairing-required reason=not-paired",
        "error-b.pairing-required",
        None,
        "not-paired",
        "2026.6+",
        1008,
    ),
    # --- other refusals ---------------------------------------------------------------------------
    (
        "unauthorized: gateway token missing (set gateway.remote.token)",
        "auth.token-mismatch",
        None,
        None,
        None,
        None,
    ),
    (
        "unauthorized: gateway token mismatch (set gateway.remote.token)",
        "auth.token-mismatch",
        None,
        None,
        None,
        None,
    ),
    ('close 4001 "gateway auth changed"', "auth.token-mismatch", None, None, None, 4001),
    (
        "unauthorized: device token mismatch (rotate/reissue device token)",
        "auth.device-token-mismatch",
        None,
        None,
        None,
        None,
    ),
    ("missing scope: operator.pairing", "auth.missing-scope", None, None, None, None),
    (
        '{"ok":false,"error":{"type":"cli_error","message":"missing scope: operator.pairing"}}',
        "auth.missing-scope",
        None,
        None,
        None,
        None,
    ),
    (
        '{"code":"FORBIDDEN","message":"missing scope: operator.admin","details":{"code":"MISSING_SCOPE",'
        '"missingScope":"operator.admin","requiredScopes":["operator.admin"]}}',
        "auth.missing-scope",
        None,
        None,
        None,
        None,
    ),
    ('close 1002 "protocol mismatch"', "protocol.mismatch", None, None, None, 1002),
    (
        '{"code":"INVALID_REQUEST","message":"protocol mismatch","details":{"code":"PROTOCOL_MISMATCH",'
        '"clientMinProtocol":3,"clientMaxProtocol":3,"expectedProtocol":4,"minimumProbeProtocol":3}}',
        "protocol.mismatch",
        None,
        None,
        None,
        None,
    ),
    ("gateway starting; retry shortly", "gateway.starting", None, None, None, None),
    ('close 1013 "gateway starting"', "gateway.starting", None, None, None, 1013),
    (
        "origin not allowed (open the Control UI from the gateway host or allow it in "
        "gateway.controlUi.allowedOrigins)",
        "control-ui.origin-not-allowed",
        None,
        None,
        None,
        None,
    ),
    ("device signature expired", "device-auth.clock-skew", None, None, None, None),
    ("device signature invalid", "device-auth.invalid", None, None, None, None),
    ("device identity mismatch", "device-auth.invalid", None, None, None, None),
    ("device nonce mismatch", "device-auth.invalid", None, None, None, None),
    (
        'SECURITY ERROR: Cannot connect to "10.200.0.1" over plaintext ws://. Use wss://',
        "url.plaintext-ws-refused",
        None,
        None,
        None,
        None,
    ),
    ("ECONNRESET something unrelated", "error.unrecognized", None, None, None, None),
]


@pytest.mark.parametrize(("text", "finding_id", "request_id", "reason", "generation", "code"), CASES)
def test_classify_real_strings(
    text: str,
    finding_id: str,
    request_id: str | None,
    reason: str | None,
    generation: str | None,
    code: int | None,
) -> None:
    c = classify(text)
    assert c.finding_id == finding_id
    assert c.request_id == request_id
    if finding_id.startswith("error-b."):
        assert c.reason == reason
        assert c.generation == generation
    if code is not None:
        assert c.close_code == code


def test_error_a_and_b_are_never_confused() -> None:
    for text, finding_id, *_ in CASES:
        kind = classify(text).kind
        assert (kind == "error-a") == finding_id.startswith("error-a."), text
        assert (kind == "error-b") == finding_id.startswith("error-b."), text


def test_missing_scope_names_the_scope() -> None:
    assert classify("missing scope: operator.pairing").scope == "operator.pairing"


def test_last_error_in_a_log_is_the_latest_refusal() -> None:
    log = "\n".join(
        [
            "node host starting",
            "node host gateway connect failed: device pairing required (requestId: aaaa-1)",
            "node host gateway closed (1008): pairing required: device is not approved yet "
            f"(requestId: {RID})",
            "reconnect paused ... waiting for operator action",
        ]
    )
    found = last_error_in(log)
    assert found is not None
    assert found.request_id == RID


def test_a_later_successful_connect_clears_the_error() -> None:
    log = f"pairing required: device is not approved yet (requestId: {RID})\nnode host gateway connected: ws://x"
    assert last_error_in(log) is None
