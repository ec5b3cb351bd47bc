"""Reading the pairing list for one device (pure): paired, pending, superseded, gone, unknown."""

from __future__ import annotations

from sidecar.doctor.checks.pairing import _failure, analyze
from sidecar.errors import GatewayClosed, GatewayRequestError
from sidecar.gateway.models import PairingList
from sidecar.identity.keys import DeviceIdentity

NOW = 1_795_479_300_000
DEV = DeviceIdentity.from_seed(bytes(range(32)))
OTHER = DeviceIdentity.from_seed(bytes(range(1, 33)))


def _pending(request_id: str, ident: DeviceIdentity, ts: int, scopes: list[str]) -> dict[str, object]:
    return {
        "requestId": request_id,
        "deviceId": ident.device_id,
        "publicKey": ident.public_key_b64url,
        "role": "operator",
        "roles": ["operator"],
        "scopes": scopes,
        "ts": ts,
        "remoteIp": "10.213.0.2",
    }


def _paired(ident: DeviceIdentity) -> dict[str, object]:
    return {
        "deviceId": ident.device_id,
        "publicKey": ident.public_key_b64url,
        "roles": ["operator"],
        "scopes": ["operator.read"],
        "createdAtMs": NOW - 10_000,
        "approvedAtMs": NOW - 10_000,
        "approvedVia": "owner",
        "tokens": [{"role": "operator", "scopes": ["operator.read"]}],
    }


def _ids(listing: PairingList, device: str | None, request: str | None) -> list[str]:
    return [f.id for f in analyze(listing, device, request, NOW)[0]]


def test_pending_with_age_and_expiry() -> None:
    listing = PairingList.from_json(
        {"pending": [_pending("r1", DEV, NOW - 60_000, ["operator.read"])], "paired": []}
    )
    (found,) = analyze(listing, DEV.device_id, None, NOW)[0]
    assert found.id == "pairing.pending"
    assert "60 s old" in found.seen
    assert "expires in about 4 min" in found.seen
    assert "openclaw devices approve r1" in found.fix


def test_superseded_names_the_current_request() -> None:
    listing = PairingList.from_json(
        {"pending": [_pending("r2", DEV, NOW - 5_000, ["operator.write"])], "paired": []}
    )
    findings, _ = analyze(listing, None, None, NOW)
    assert findings == []
    ids = _ids(listing, DEV.device_id, "r1")
    assert ids == ["pairing.pending", "pairing.superseded"]
    superseded = analyze(listing, DEV.device_id, "r1", NOW)[0][1]
    assert "openclaw devices approve r2" in superseded.fix


def test_gone_paired_unknown() -> None:
    empty = PairingList.from_json({"pending": [], "paired": []})
    assert _ids(empty, DEV.device_id, "r1") == ["pairing.request-gone"]
    assert _ids(empty, None, "r1") == ["pairing.request-gone"]
    assert _ids(empty, DEV.device_id, None) == ["pairing.unknown-device"]
    paired = PairingList.from_json({"pending": [_pending("r9", OTHER, NOW, [])], "paired": [_paired(DEV)]})
    assert _ids(paired, DEV.device_id, "r1") == ["pairing.paired"]
    _, summary = analyze(paired, DEV.device_id, None, NOW)
    assert "roles operator, scopes operator.read (approved via owner)" in summary


def test_a_list_refused_by_a_full_store_is_not_an_unreachable_gateway() -> None:
    """2026.9.6 with a full state volume: device.pair.list answers UNAVAILABLE; the gateway is up."""
    full = GatewayRequestError(
        "gateway refused: Error: Device pairing read publication was replaced (UNAVAILABLE)",
        code="UNAVAILABLE",
    )
    assert [f.id for f in _failure(full, "ws://127.0.0.1:18789")] == ["gateway.state-disk-full"]
    closed = GatewayClosed("gateway closed the connection (code 1000, reason '')", code=1000)
    assert [f.id for f in _failure(closed, "ws://127.0.0.1:18789")] == ["gateway.unreachable"]
