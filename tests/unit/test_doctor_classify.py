"""Error text → finding: every refusal string of both OpenClaw generations (notes §5.4–5.6, §6, §9).

Strings are copied from the shared notes (openclaw-protocol.md §5.6, real-openclaw-gateway.md §6, §7, §9);
tests/integration/test_doctor_real.py feeds the real gateways' own refusals through the same classifier.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.doctor.classify import classify, last_error_in
from sidecar.doctor.diagnose import error_finding, read_error
from sidecar.doctor.finding import Finding
from sidecar.doctor.options import DoctorOptions

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


# --- the gateway's state volume is full (docs/deployment.md, Known limits) ------------------------------
# Lines seen on 2026.9.6 in compose with gateway-state filled to 100 % (gateway, sidecar), then the forms
# the same condition takes in SQLite and Node errors elsewhere (node-sqlite3 / node:sqlite, fs ENOSPC).
STATE_FULL: list[str] = [
    "2026-12-06T07:13:54.464+00:00 [gateway] parse/handle error: SqliteWorkerError: SQLite worker stopped "
    "before its result was received: database or disk is full",
    "2026-12-06T07:13:54.465+00:00 [ws] ✗ parse-error error=SqliteWorkerError: SQLite worker stopped before "
    "its result was received: database or disk is full: code=outcome-unknown <- Error: database or disk is "
    "full: code=ERR_SQLITE_ERROR conn=3239e76c…cbe2",
    "2026-12-06T07:13:50.883+00:00 [gateway] parse/handle error: Error: Device pairing read publication was "
    "replaced",
    "2026-12-06T07:13:50.914+00:00 [ws] ✗ parse-error error=Error: Device pairing read publication was "
    "replaced conn=06c38a2f…d51e",
    "2026-12-06T07:13:52.953+00:00 [plugins] device-pair: notify poll failed: Device pairing read "
    "publication was replaced",
    "2026-12-06T07:13:54.836+00:00 [ws] ⇄ res ✗ device.pair.list 28ms errorCode=UNAVAILABLE "
    "errorMessage=Error: Device pairing read publication was replaced conn=83f61455…85e5 "
    "id=2:ee0887d7-1…67e7",
    "2026-12-06 07:13:23,115 WARNING sidecar.approver: device.pair.list failed: gateway refused: Error: "
    "Device pairing read publication was replaced (UNAVAILABLE)",
    '{"type":"res","id":"2","ok":false,"error":{"code":"UNAVAILABLE","message":"Error: Device pairing read '
    'publication was replaced"}}',
    "Device pairing read publication was replaced",
    "SQLITE_FULL: database or disk is full",
    "SqliteError: database or disk is full { code: 'SQLITE_FULL' }",
    "code=SQLITE_FULL",
    "ENOSPC: no space left on device, write",
    "dd: error writing '/state/filler': No space left on device",
]

# 1000 with no reason has many causes: alone it must not be read as a full disk
NOT_STATE_FULL: list[str] = [
    "openclaw-entrypoint: pre-pairing: gateway ws://openclaw-gateway:18789 not answering yet (GatewayClosed: "
    "gateway closed the connection (code 1000, reason '')); retrying",
    "2026-12-06T07:13:49.797+00:00 [ws] closed before connect conn=a75d17bc-cf50-4c44-b807-bd4bcce98533 "
    "peer=172.22.0.3:37804->172.22.0.2:18789 remote=172.22.0.3 fwd=n/a origin=n/a "
    "host=openclaw-gateway:18789 ua=openclaw-sidecar/0.1.0 code=1000 reason=n/a phase=auth_validated "
    "durationMs=45 handshake=pending",
    "device.pair.list failed: gateway refused: temporarily unavailable (UNAVAILABLE)",
    "the disk is fine; enospcx is not a word",
]


@pytest.mark.parametrize("text", STATE_FULL)
def test_a_full_state_volume_is_recognised(text: str) -> None:
    c = classify(text)
    assert (c.finding_id, c.kind) == ("gateway.state-disk-full", "state-full")
    assert c.request_id is None  # nothing was created, so there is nothing to approve


@pytest.mark.parametrize("text", NOT_STATE_FULL)
def test_a_bare_close_1000_is_not_a_full_disk(text: str) -> None:
    assert classify(text).finding_id == "error.unrecognized"


def test_a_full_disk_is_the_cause_whatever_else_the_line_says() -> None:
    text = f"pairing required: device is not approved yet (requestId: {RID}): database or disk is full"
    assert classify(text).finding_id == "gateway.state-disk-full"


def test_the_latest_error_in_a_full_volume_gateway_log() -> None:
    """The real sequence: each attempt ends with a 'closed before connect … code=1000 reason=n/a' line."""
    log = "\n".join(
        [
            STATE_FULL[0],
            STATE_FULL[1],
            NOT_STATE_FULL[1],
            STATE_FULL[2],
            STATE_FULL[3],
            NOT_STATE_FULL[1],
            "",
        ]
    )
    found = last_error_in(log)
    assert found is not None
    assert found.finding_id == "gateway.state-disk-full"


def test_identity_init_log_alone_names_no_cause() -> None:
    assert last_error_in("\n".join([NOT_STATE_FULL[0]] * 3)) is None


def test_doctor_log_on_a_full_volume_names_the_volume_and_the_fix(tmp_path: Path) -> None:
    """`doctor --log <gateway log>` and `--error <text>` give the finding with the compose fix."""
    log = tmp_path / "gateway.log"
    log.write_text("\n".join([STATE_FULL[0], STATE_FULL[2], NOT_STATE_FULL[1]]) + "\n")
    for opts in (
        DoctorOptions(env={}, log_files=(log,)),
        DoctorOptions(env={}, error_text=STATE_FULL[6]),
    ):
        f = finding_of(opts)
        assert (f.id, f.severity) == ("gateway.state-disk-full", "error")
        assert "docker compose exec openclaw-gateway df -h /home/node/.openclaw" in f.fix
        assert "gateway-state" in f.fix
        assert "OPENCLAW_PREPAIR_TIMEOUT" in f.fix
        assert "docker compose up -d" in f.fix
        assert "approve" not in f.fix.replace("approves", "")  # nothing to approve by hand


# What the real 2026.9.6 printed when recreated after a kill -9 under a new host name (seen in CI and here).
LEASE_HELD = [
    "2026-12-06T09:55:46.040+00:00 Gateway failed to start: Another Gateway owner lease is still active "
    "for this state directory. Run openclaw gateway status --deep for diagnostics.",
    "openclaw-gateway-1  | 2026-12-06T10:01:52.575+00:00 Gateway failed to start: Another Gateway owner "
    "lease is still active for this state directory. Run openclaw gateway status --deep for diagnostics.",
]


@pytest.mark.parametrize("text", LEASE_HELD)
def test_a_dead_gateways_owner_lease_is_recognised(text: str) -> None:
    c = classify(text)
    assert (c.finding_id, c.kind) == ("gateway.owner-lease-held", "owner-lease")


def test_doctor_log_on_a_lease_loop_names_the_fixed_host_name_and_the_wait(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_text(
        "[install-config] installed openclaw.json5 as /home/node/.openclaw/openclaw.json\n"
        "2026-12-06T09:55:46.036+00:00 [gateway] wrote stability bundle: /home/node/.openclaw/logs/"
        "stability/openclaw-stability-2026-12-06T09-55-46-031Z-8-gateway.startup_failed.json\n"
        f"{LEASE_HELD[0]}\n"
    )
    f = finding_of(DoctorOptions(env={}, log_files=(log,)))
    assert (f.id, f.severity) == ("gateway.owner-lease-held", "error")
    assert "hostname: openclaw-gateway" in f.fix
    assert "5 min" in f.fix
    assert "Never delete state/openclaw.sqlite" in f.fix


def finding_of(opts: DoctorOptions) -> Finding:
    """What doctor reports for the error its options point at (``--log`` or ``--error``)."""
    c, problem = read_error(opts)
    assert problem is None
    assert c is not None
    return error_finding(c, [], opts)
