"""Models: strict on what we rely on, tolerant of what we don't know, never holding a token value."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.errors import ProtocolError
from sidecar.gateway.models import (
    GatewayEvent,
    HelloOk,
    PairedDevice,
    PairingList,
    PendingRequest,
    normalize_public_key,
    scrub,
)
from sidecar.gateway.scopes import approver_scopes, covers, scopes_to_approve
from sidecar.identity import keys
from sidecar.identity.keys import DeviceIdentity

IDENT = DeviceIdentity.from_seed(bytes(range(32)))
RID = "efa9c2ac-1a16-4a43-96e0-7cf255eec208"

# Shapes as captured from 2026.9.6 (real-openclaw-gateway.md §7), with this key.
PENDING: dict[str, Any] = {
    "requestId": RID,
    "deviceId": IDENT.device_id,
    "publicKey": IDENT.public_key_b64url,
    "platform": "linux",
    "deviceFamily": "Linux",
    "clientId": "cli",
    "clientMode": "cli",
    "role": "operator",
    "roles": ["operator"],
    "scopes": ["operator.pairing"],
    "remoteIp": "10.200.0.2",
    "silent": False,
    "isRepair": True,
    "ts": 1795479213326,
}
PAIRED: dict[str, Any] = {
    "deviceId": IDENT.device_id,
    "publicKey": IDENT.public_key_b64url,
    "displayName": "ns-node",
    "platform": "linux",
    "clientId": "node-host",
    "clientMode": "node",
    "role": "node",
    "roles": ["node"],
    "scopes": [],
    "remoteIp": "10.200.0.2",
    "approvedVia": "owner",
    "pendingNodeSurface": {"requestId": "x", "caps": ["browser"], "commands": ["a"]},
    "createdAtMs": 1795479180484,
    "approvedAtMs": 1795479180484,
    "lastSeenAtMs": 1795479201424,
    "lastSeenReason": "connect",
    "connected": False,
    "tokens": [{"role": "node", "scopes": [], "createdAtMs": 1795479180484}],
}


def test_pending_request_round_trip_and_extra() -> None:
    data = {**PENDING, "browserOrigin": "http://x", "refreshedAtMs": 5}
    req = PendingRequest.from_json(data)
    assert (req.request_id, req.role, req.roles, req.scopes) == (
        RID,
        "operator",
        ("operator",),
        ("operator.pairing",),
    )
    assert req.remote_ip == "10.200.0.2"
    assert req.is_repair
    assert not req.silent
    assert req.device_family == "Linux"
    assert dict(req.extra) == {"browserOrigin": "http://x", "refreshedAtMs": 5}
    assert req.to_json() == data


def test_pending_request_optional_fields_absent() -> None:
    req = PendingRequest.from_json(
        {k: PENDING[k] for k in ("requestId", "deviceId", "publicKey", "ts", "role")}
    )
    assert req.remote_ip is None
    assert req.roles == ("operator",)
    assert req.scopes == ()
    assert req.client_id is None


def test_public_key_spellings_are_normalized() -> None:
    for spelling in (
        IDENT.public_key_pem,
        IDENT.public_key_b64url + "=",
        IDENT.public_key_b64url.replace("-", "+"),
    ):
        assert (
            PendingRequest.from_json({**PENDING, "publicKey": spelling}).public_key == IDENT.public_key_b64url
        )


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"requestId": ""}, "requestId"),
        ({"requestId": 5}, "requestId"),
        ({"deviceId": "ABC"}, "deviceId"),
        ({"deviceId": "0" * 64}, "SHA-256"),  # the key is not this device's
        ({"publicKey": "short"}, "publicKey"),
        ({"publicKey": "not base64 !!"}, "publicKey"),
        ({"ts": "1"}, "ts"),
        ({"ts": True}, "ts"),
        ({"ts": -1}, "ts"),
        ({"scopes": "operator.read"}, "scopes"),
        ({"scopes": [1]}, "scopes"),
        ({"roles": None, "role": 3}, "role"),
        ({"silent": "no"}, "silent"),
        ({"remoteIp": 10}, "remoteIp"),
    ],
)
def test_pending_request_strict_fields(change: dict[str, Any], match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        PendingRequest.from_json({**PENDING, **change})
    missing = next(iter(change))
    if missing in ("requestId", "deviceId", "publicKey", "ts"):
        with pytest.raises(ProtocolError, match=missing):
            PendingRequest.from_json({k: v for k, v in PENDING.items() if k != missing})


def test_paired_device_keeps_token_roles_never_token_values() -> None:
    data = copy.deepcopy(PAIRED)
    data["tokens"] = [
        {"role": "operator", "scopes": ["operator.read"], "token": "SECRET-1", "createdAtMs": 1}
    ]
    data["approvedScopes"] = ["operator.read"]
    device = PairedDevice.from_json(data)
    assert device.tokens[0].role == "operator"
    assert device.tokens[0].scopes == ("operator.read",)
    assert "SECRET" not in repr(device)
    assert "SECRET" not in json.dumps(device.to_json())
    # the store's shape {role: {token, ...}} is understood too
    data["tokens"] = {"operator": {"token": "SECRET-2", "role": "operator", "scopes": ["operator.read"]}}
    device = PairedDevice.from_json(data)
    assert "SECRET" not in json.dumps(device.to_json())
    assert device.tokens[0].role == "operator"


def test_paired_device_round_trip() -> None:
    device = PairedDevice.from_json(PAIRED)
    assert device.approved_via == "owner"
    assert device.roles == ("node",)
    assert device.device_family is None
    assert device.extra["connected"] is False
    assert "pendingNodeSurface" in device.extra
    assert device.to_json() == PAIRED


def test_pairing_list_skips_malformed_entries_and_says_so() -> None:
    listing = PairingList.from_json(
        {"pending": [PENDING, {"requestId": "x"}, 7], "paired": [PAIRED, {**PAIRED, "createdAtMs": None}]}
    )
    assert [p.request_id for p in listing.pending] == [RID]
    assert len(listing.paired) == 1
    assert len(listing.problems) == 3
    assert "pending[1]" in listing.problems[0]
    assert listing.find(RID) is listing.pending[0]
    assert listing.find("nope") is None
    for bad in (None, [], {"pending": []}, {"pending": {}, "paired": []}):
        with pytest.raises(ProtocolError):
            PairingList.from_json(bad)


def test_hello_ok_both_generations_and_no_secrets() -> None:
    hello226 = {
        "type": "hello-ok",
        "protocol": 3,
        "server": {"version": "dev", "connId": "c"},
        "features": {"methods": ["device.pair.list"], "events": ["tick"]},
        "snapshot": {"presence": []},
        "policy": {"maxPayload": 26214400, "maxBufferedBytes": 52428800, "tickIntervalMs": 30000},
    }
    h = HelloOk.from_json(hello226)
    assert (h.protocol, h.server_version, h.auth_scopes, h.policy.tick_interval_ms) == (3, "dev", None, 30000)
    hello96 = {
        **hello226,
        "protocol": 4,
        "server": {"version": "2026.9.6", "buildId": "b", "bootId": "u", "connId": "c"},
        "auth": {
            "method": "token",
            "role": "operator",
            "scopes": ["operator.admin"],
            "recoveryScope": "SECRET-recovery",
            "deviceToken": "SECRET-device",
        },
        "pluginSurfaceUrls": {},
    }
    h = HelloOk.from_json(hello96)
    assert h.auth_scopes == ("operator.admin",)
    assert h.auth_method == "token"
    assert "pluginSurfaceUrls" in h.extra
    assert "SECRET" not in repr(h)
    assert "SECRET" not in repr(dict(h.extra))
    for broken in (
        {**hello226, "type": "x"},
        {**hello226, "policy": {}},
        {**hello226, "server": {}},
        {**hello226, "protocol": "4"},
    ):
        with pytest.raises(ProtocolError):
            HelloOk.from_json(broken)


def test_events() -> None:
    event = GatewayEvent("device.pair.requested", PENDING, 3)
    assert event.pending_request().request_id == RID
    resolved = GatewayEvent(
        "device.pair.resolved", {"requestId": RID, "deviceId": "d", "decision": "approved", "ts": 1}
    )
    assert resolved.resolved().decision == "approved"
    with pytest.raises(ProtocolError):
        GatewayEvent("device.pair.requested", {"requestId": RID}).pending_request()
    with pytest.raises(ProtocolError):
        GatewayEvent("device.pair.resolved", None).resolved()


def test_scrub() -> None:
    assert scrub(
        {"a": [{"token": 1, "deviceToken": 2, "bootstrapToken": 3, "tokens": [{"token": 4, "role": "r"}]}]}
    ) == {"a": [{"tokens": [{"role": "r"}]}]}


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_dependency_free_key_normalization_agrees_with_identity_module(seed: bytes) -> None:
    ident = DeviceIdentity.from_seed(seed)
    for spelling in (ident.public_key_pem, ident.public_key_b64url, ident.public_key_b64url + "=="):
        assert (
            normalize_public_key(spelling) == keys.normalize_public_key(spelling) == ident.public_key_b64url
        )


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([*sorted(PENDING), "extraKey"]),
        st.none()
        | st.booleans()
        | st.integers()
        | st.text(max_size=5)
        | st.lists(st.text(max_size=3), max_size=2),
    )
)
def test_fuzzed_pending_requests_parse_or_raise_protocol_error(overrides: dict[str, Any]) -> None:
    with contextlib.suppress(ProtocolError):
        PendingRequest.from_json({**PENDING, **overrides})


# --- scopes --------------------------------------------------------------------------------------


def test_scopes_needed_to_approve() -> None:
    req = PendingRequest.from_json(
        {**PENDING, "scopes": ["operator.read", "operator.write"], "isRepair": False}
    )
    assert scopes_to_approve(req) == ("operator.pairing", "operator.read", "operator.write")
    node = PendingRequest.from_json({**PENDING, "role": "node", "roles": ["node"], "scopes": []})
    assert scopes_to_approve(node) == ("operator.pairing", "operator.admin")
    admin = PendingRequest.from_json({**PENDING, "scopes": ["operator.admin"]})
    assert scopes_to_approve(admin) == ("operator.pairing", "operator.admin")
    odd = PendingRequest.from_json({**PENDING, "scopes": ["operator.future"]})
    assert "operator.admin" in scopes_to_approve(odd)
    paired = PairedDevice.from_json({**PAIRED, "tokens": [{"role": "operator", "scopes": ["operator.talk"]}]})
    repair = PendingRequest.from_json({**PENDING, "scopes": []})
    assert scopes_to_approve(repair, paired) == ("operator.pairing", "operator.talk")


def test_covers_and_approver_scopes() -> None:
    assert covers(["operator.admin"], ["operator.read", "operator.pairing"])
    assert covers(["operator.write", "operator.pairing"], ["operator.read"])
    assert not covers(["operator.pairing"], ["operator.read"])
    assert approver_scopes() == ("operator.pairing",)
    assert approver_scopes(node_approvals=True) == ("operator.pairing", "operator.admin")
    assert approver_scopes(approvable_scopes=["operator.write", " operator.read", "operator.pairing"]) == (
        "operator.pairing",
        "operator.read",
        "operator.write",
    )
