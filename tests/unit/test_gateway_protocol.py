"""The pure protocol layer: signed payloads (OpenClaw's vectors), connect params, frame parsing (fuzzed)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.errors import ProtocolError
from sidecar.gateway import protocol as proto
from sidecar.identity.keys import DeviceIdentity
from tests.unit.gateway_fake import AUTH_KEYS, CLIENT_KEYS, DEVICE_KEYS, TOP_KEYS

# shared/notes/openclaw-protocol.md §2.2 (checked against OpenClaw 2026.9.6 and 2026.2.26 under Node).
SEED = bytes(range(32))
DEVICE_ID = "56475aa75463474c0285df5dbf2bcab73da651358839e9b77481b2eab107708c"
V3 = f"v3|{DEVICE_ID}|cli|cli|operator|operator.read,operator.pairing|1737264000000|tok-123|nonce-abc|linux|"
V3_SIG = "DXagf1OObw81Neyw9_3mgF2zOwA612TsfDod4y5_wJe2vlk6m3DfugWHNHX-SOaxisQZDOhVdwkyyUCMyXX8BQ"


def vector_payload(**overrides: Any) -> str:
    args: dict[str, Any] = {
        "device_id": DEVICE_ID,
        "client_id": "cli",
        "client_mode": "cli",
        "role": "operator",
        "scopes": ["operator.read", "operator.pairing"],
        "signed_at_ms": 1737264000000,
        "token": "tok-123",
        "nonce": "nonce-abc",
        "platform": "Linux",
        "device_family": None,
    }
    args.update(overrides)
    return proto.build_signed_payload_v3(**args)


def test_v3_payload_and_signature_match_openclaw_vector() -> None:
    payload = vector_payload()
    assert payload == V3
    assert DeviceIdentity.from_seed(SEED).sign(payload) == V3_SIG


def test_v3_payload_details() -> None:
    # scopes keep the order sent; no token → empty slot; deviceFamily normalized too
    assert vector_payload(scopes=["b", "a"]).split("|")[5] == "b,a"
    assert vector_payload(scopes=[]).split("|")[5] == ""
    assert vector_payload(token=None).split("|")[7] == ""
    assert vector_payload(device_family="  iPhone ").endswith("|linux|iphone")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Linux", "linux"),
        ("  MacOS\t", "macos"),
        ("  İOS  ", "İos"),  # only ASCII A–Z is lowered (OpenClaw's normalizeDeviceMetadataForAuth)
        ("\ufeffLinux\u3000", "linux"),  # JS trim() strips BOM and ideographic space
        ("\x1cLinux", "\x1clinux"),  # ...but not the separators Python's str.strip() would
        ("ÄÖ", "ÄÖ"),
        ("", ""),
        (None, ""),
        ("   ", ""),
    ],
)
def test_platform_normalization_is_javascripts(raw: str | None, expected: str) -> None:
    assert proto.normalize_device_metadata(raw) == expected


def _challenge() -> proto.Challenge:
    return proto.Challenge(nonce="nonce-abc", ts=1737264000000)


def test_connect_params_fit_both_closed_schemas_and_sign_the_challenge() -> None:
    ident = DeviceIdentity.from_seed(SEED)
    info = proto.ClientInfo(
        client_id="cli",
        client_mode="cli",
        scopes=("operator.read", "operator.pairing"),
        platform="Linux",
        display_name="x",
        device_family="Fam",
    )
    params = proto.build_connect_params(info, token="tok-123", identity=ident, challenge=_challenge())
    assert set(params) <= TOP_KEYS
    assert set(params["client"]) <= CLIENT_KEYS
    assert set(params["device"]) == DEVICE_KEYS
    assert set(params["auth"]) <= AUTH_KEYS
    assert (params["minProtocol"], params["maxProtocol"]) == (3, 4)
    assert params["device"]["signedAt"] == 1737264000000
    assert params["device"]["nonce"] == "nonce-abc"
    assert params["client"]["platform"] == "Linux"  # sent as given, normalized only inside the signature
    signed = vector_payload(device_family="Fam")
    assert ident.verify(signed, params["device"]["signature"])


def test_connect_params_without_identity_or_token() -> None:
    params = proto.build_connect_params(proto.ClientInfo(), token=None, identity=None, challenge=_challenge())
    assert "device" not in params
    assert "auth" not in params
    assert params["client"] == {
        "id": "gateway-client",
        "version": proto.CLIENT_VERSION,
        "platform": "linux",
        "mode": "backend",
    }
    assert params["scopes"] == ["operator.pairing"]
    assert params["role"] == "operator"


# --- frames ----------------------------------------------------------------------------------------


def test_parse_valid_frames() -> None:
    res = proto.parse_frame('{"type":"res","id":"1","ok":true,"payload":{"a":1}}')
    assert res == proto.ResponseFrame(id="1", ok=True, payload={"a": 1})
    err = proto.parse_frame(
        '{"type":"res","id":"2","ok":false,"error":{"code":"UNAVAILABLE","message":"m","retryable":true,"retryAfterMs":500}}'
    )
    assert isinstance(err, proto.ResponseFrame)
    assert err.error is not None
    assert err.error.retryable
    assert err.error.retry_after_ms == 500
    ev = proto.parse_frame(b'{"type":"event","event":"tick","payload":{"ts":1},"seq":3}')
    assert ev == proto.EventFrame(event="tick", payload={"ts": 1}, seq=3)
    unknown = proto.parse_frame('{"type":"event","event":"some.future.event","payload":[1,2]}')
    assert isinstance(unknown, proto.EventFrame)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        ("[]", "JSON list"),
        ("null", "JSON NoneType"),
        ('{"type":"req","id":"1","method":"x"}', "unexpected gateway frame type"),
        ('{"type":"cancel","id":"1"}', "unexpected gateway frame type"),
        ('{"id":"1","ok":true}', "unexpected gateway frame type"),
        ('{"type":"res","ok":true}', "valid id"),
        ('{"type":"res","id":"","ok":true}', "valid id"),
        ('{"type":"res","id":1,"ok":true}', "valid id"),
        ('{"type":"res","id":"1","ok":"yes"}', "boolean ok"),
        ('{"type":"res","id":"1","ok":false}', "res.error must be an object"),
        ('{"type":"res","id":"1","ok":false,"error":{"code":1,"message":"m"}}', "string code"),
        (
            '{"type":"res","id":"1","ok":false,"error":{"code":"C","message":"m","retryAfterMs":-1}}',
            "retryAfterMs",
        ),
        (
            '{"type":"res","id":"1","ok":false,"error":{"code":"C","message":"m","retryAfterMs":true}}',
            "retryAfterMs",
        ),
        ('{"type":"res","id":"1","ok":false,"error":{"code":"C","message":"m","retryable":1}}', "retryable"),
        ('{"type":"event","event":""}', "event name"),
        ('{"type":"event","event":"x","seq":"1"}', "seq"),
        ('{"type":"event","event":"x","seq":true}', "seq"),
        ('{"type":"event","event":"x","payload":NaN}', "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply|not valid JSON"),
        ('{"type":"event","event":"x","payload":' + "9" * 5000 + "}", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_malformed_frames_are_protocol_errors(data: str | bytes, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        proto.parse_frame(data)


def test_oversized_frame_is_refused_before_parsing() -> None:
    with pytest.raises(ProtocolError, match="exceeds"):
        proto.parse_frame('{"type":"event","event":"x","payload":"' + "a" * 200 + '"}', max_bytes=100)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
frame_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["res", "event", "req", "cancel", 1, None]) | st.text(max_size=6),
        "id": st.text(max_size=5) | st.integers() | st.none(),
        "ok": st.booleans() | st.integers() | st.none(),
        "payload": json_values,
        "error": json_values
        | st.fixed_dictionaries(
            {"code": st.text(max_size=5) | st.integers(), "message": st.text(max_size=5) | st.none()},
            optional={"retryable": json_values, "retryAfterMs": json_values, "details": json_values},
        ),
        "event": st.text(max_size=8) | st.integers() | st.none(),
        "seq": json_values,
    },
)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        frame_like.map(json.dumps), json_values.map(json.dumps), st.text(max_size=60), st.binary(max_size=60)
    )
)
def test_fuzzed_frames_parse_or_raise_protocol_error(data: str | bytes) -> None:
    try:
        frame = proto.parse_frame(data)
    except ProtocolError as exc:
        message = str(exc)
    else:
        assert isinstance(frame, proto.ResponseFrame | proto.EventFrame)
        return
    assert len(message) < 200  # never echoes the frame


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_fuzzed_challenges(payload: Any) -> None:
    try:
        challenge = proto.parse_challenge(proto.EventFrame("connect.challenge", payload))
    except ProtocolError:
        return
    assert challenge.nonce
    assert challenge.ts >= 0


def test_challenge_must_come_first() -> None:
    with pytest.raises(ProtocolError, match=r"connect\.challenge"):
        proto.parse_challenge(proto.EventFrame("tick", {"ts": 1}))
    with pytest.raises(ProtocolError, match=r"connect\.challenge"):
        proto.parse_challenge(proto.ResponseFrame("1", True))
    challenge = proto.parse_challenge(
        proto.EventFrame(
            "connect.challenge", {"nonce": " n ", "ts": 5, "capabilities": ["model-catalog-snapshot"]}
        )
    )
    assert challenge == proto.Challenge("n", 5)


def test_encode_request() -> None:
    assert json.loads(proto.encode_request("7", "device.pair.list", {})) == {
        "type": "req",
        "id": "7",
        "method": "device.pair.list",
        "params": {},
    }
    with pytest.raises(ValueError, match="Out of range"):
        proto.encode_request("7", "x", {"a": float("nan")})
