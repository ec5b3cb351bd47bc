"""Byte-exact vectors from OpenClaw's released code (shared/notes/openclaw-protocol.md §2.2)."""

import pytest

from sidecar.identity.keys import DeviceIdentity, PublicIdentity, normalize_public_key

SEED = bytes(range(32))
DEVICE_ID = "56475aa75463474c0285df5dbf2bcab73da651358839e9b77481b2eab107708c"
PUBLIC_KEY = "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
PEM_BODY = "MCowBQYDK2VwAyEAA6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
V3 = f"v3|{DEVICE_ID}|cli|cli|operator|operator.read,operator.pairing|1737264000000|tok-123|nonce-abc|linux|"
V3_SIG = "DXagf1OObw81Neyw9_3mgF2zOwA612TsfDod4y5_wJe2vlk6m3DfugWHNHX-SOaxisQZDOhVdwkyyUCMyXX8BQ"
V2 = f"v2|{DEVICE_ID}|cli|cli|operator|operator.read,operator.pairing|1737264000000||nonce-abc"
V2_SIG = "c6mD3ikR5nO66uwvq0LfZKlN_ASa6A7dqCWr6NWV1FySihI1Z1Nt19v8MNn-ClVtjvsAfsB0IYs762u8zJlyCA"


def test_seed_vector_matches_openclaw() -> None:
    ident = DeviceIdentity.from_seed(SEED)
    assert ident.device_id == DEVICE_ID
    assert ident.public_key_b64url == PUBLIC_KEY
    assert PEM_BODY in ident.public_key_pem
    assert ident.sign(V3) == V3_SIG
    assert ident.sign(V2) == V2_SIG
    assert ident.verify(V3, V3_SIG)
    assert not ident.verify(V3 + "x", V3_SIG)


def test_record_round_trip_and_verification() -> None:
    ident = DeviceIdentity.from_seed(SEED, created_at_ms=1737264000000)
    record = ident.to_record()
    assert record["version"] == 1
    assert record["createdAtMs"] == 1737264000000
    assert DeviceIdentity.from_record(record).device_id == DEVICE_ID
    with pytest.raises(ValueError, match="deviceId"):
        DeviceIdentity.from_record({**record, "deviceId": "0" * 64})
    other = DeviceIdentity.generate()
    with pytest.raises(ValueError, match="publicKeyPem"):
        DeviceIdentity.from_record({**record, "publicKeyPem": other.public_key_pem})
    with pytest.raises(ValueError, match="privateKeyPem"):
        DeviceIdentity.from_record({"deviceId": DEVICE_ID})
    with pytest.raises(ValueError, match="PEM"):
        DeviceIdentity.from_record({**record, "privateKeyPem": "garbage"})


def test_public_key_spellings_normalize() -> None:
    ident = DeviceIdentity.from_seed(SEED)
    padded_std = PEM_BODY  # not raw, but SPKI: must be rejected as 44-byte
    assert normalize_public_key(ident.public_key_pem) == PUBLIC_KEY
    assert normalize_public_key(PUBLIC_KEY + "=") == PUBLIC_KEY
    assert normalize_public_key(PUBLIC_KEY.replace("_", "/").replace("-", "+")) == PUBLIC_KEY
    with pytest.raises(ValueError, match="32 bytes"):
        normalize_public_key(padded_std)


def test_published_identity_is_verified() -> None:
    pub = DeviceIdentity.from_seed(SEED).public(slot="agent-1")
    assert PublicIdentity.from_json(pub.to_json()) == pub
    assert "privateKeyPem" not in pub.to_json()
    with pytest.raises(ValueError, match="SHA-256"):
        PublicIdentity.from_json({**pub.to_json(), "deviceId": "f" * 64})
    with pytest.raises(ValueError, match="JSON object"):
        PublicIdentity.from_json([])
    assert "…" in repr(DeviceIdentity.from_seed(SEED))
