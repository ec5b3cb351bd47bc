"""The OpenClaw device identity: an Ed25519 key pair and the encodings the gateway expects.

Kept free of I/O and of anything but `cryptography`, so `entrypoint.py` and the gateway client can both
import it cheaply. Byte-exact with OpenClaw (see the test vectors in tests/unit/test_identity_keys.py):

- ``deviceId`` is the lower-case hex SHA-256 of the 32 raw public-key bytes (never of the PEM);
- the public key travels as raw bytes, base64url without padding (43 characters);
- signatures are Ed25519 over the UTF-8 payload, base64url without padding;
- the stored record is OpenClaw's v1 shape ``{version, deviceId, publicKeyPem, privateKeyPem, createdAtMs}``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

DEVICE_ID_RE = re.compile(r"^[a-f0-9]{64}$")
RECORD_VERSION = 1


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url or standard base64, padded or not (the gateway is as permissive)."""
    cleaned = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
    return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))


def device_id_for(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def normalize_public_key(value: str) -> str:
    """Any public-key spelling OpenClaw accepts (SPKI PEM, base64 or base64url raw) → raw base64url.

    Raises ValueError when it is not a 32-byte Ed25519 key.
    """
    if "BEGIN" in value:
        loaded = serialization.load_pem_public_key(value.encode("ascii"))
        if not isinstance(loaded, Ed25519PublicKey):
            raise ValueError("public key is not Ed25519")
        return b64url_encode(_raw_public(loaded))
    raw = b64url_decode(value)
    if len(raw) != 32:
        raise ValueError(f"Ed25519 public key must be 32 bytes, got {len(raw)}")
    return b64url_encode(raw)


PUBLISHED_STORAGES = ("json", "sqlite", "file")


@dataclass(frozen=True)
class PublicIdentity:
    """The public half that is safe to publish (``device.pub.json``) and to compare against requests."""

    device_id: str
    public_key: str  # raw, base64url, unpadded
    public_key_pem: str
    created_at_ms: int
    slot: str | None = None
    # Where the publisher wrote the private half for the agent (json | sqlite | file) and the OpenClaw
    # release it decided that from, when known: evidence for "the agent made its own key" diagnoses.
    storage: str | None = None
    release: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "deviceId": self.device_id,
            "publicKey": self.public_key,
            "publicKeyPem": self.public_key_pem,
            "createdAtMs": self.created_at_ms,
        }
        if self.slot is not None:
            data["slot"] = self.slot
        if self.storage is not None:
            data["storage"] = self.storage
        if self.release is not None:
            data["openclawVersion"] = self.release
        return data

    @classmethod
    def from_json(cls, data: Any) -> PublicIdentity:
        """Parse and *verify* a published identity: the id must be the hash of the key.

        Raises ValueError with a reason when the document is malformed or self-inconsistent.
        """
        if not isinstance(data, dict):
            raise ValueError("published identity is not a JSON object")
        device_id, public_key = data.get("deviceId"), data.get("publicKey")
        if not isinstance(device_id, str) or not DEVICE_ID_RE.match(device_id):
            raise ValueError("deviceId must be 64 lower-case hex characters")
        if not isinstance(public_key, str):
            raise ValueError("publicKey must be a string")
        raw = b64url_decode(normalize_public_key(public_key))
        if device_id_for(raw) != device_id:
            raise ValueError("deviceId is not the SHA-256 of publicKey")
        pem = data.get("publicKeyPem")
        created = data.get("createdAtMs", 0)
        slot = data.get("slot")
        storage = data.get("storage")
        release = data.get("openclawVersion")
        return cls(
            device_id=device_id,
            public_key=b64url_encode(raw),
            public_key_pem=pem if isinstance(pem, str) else _pem_for_raw(raw),
            created_at_ms=created if isinstance(created, int) and not isinstance(created, bool) else 0,
            slot=slot if isinstance(slot, str) else None,
            storage=storage if storage in PUBLISHED_STORAGES else None,
            release=release[:64] if isinstance(release, str) else None,
        )


def _pem_for_raw(raw: bytes) -> str:
    key = Ed25519PublicKey.from_public_bytes(raw)
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode()


class DeviceIdentity:
    """An Ed25519 device key pair with OpenClaw's derived id and encodings."""

    __slots__ = ("_private", "_public_raw", "created_at_ms", "device_id", "public_key_b64url")

    def __init__(self, private_key: Ed25519PrivateKey, created_at_ms: int) -> None:
        self._private = private_key
        self._public_raw = _raw_public(private_key.public_key())
        self.created_at_ms = created_at_ms
        self.device_id = device_id_for(self._public_raw)
        self.public_key_b64url = b64url_encode(self._public_raw)

    # --- construction ------------------------------------------------------------------------

    @classmethod
    def generate(cls, now_ms: int | None = None) -> DeviceIdentity:
        return cls(Ed25519PrivateKey.generate(), now_ms if now_ms is not None else int(time.time() * 1000))

    @classmethod
    def from_seed(cls, seed: bytes, created_at_ms: int = 0) -> DeviceIdentity:
        return cls(Ed25519PrivateKey.from_private_bytes(seed), created_at_ms)

    @classmethod
    def from_private_pem(cls, pem: str | bytes, created_at_ms: int = 0) -> DeviceIdentity:
        """Load a PKCS#8 PEM private key. Raises ValueError if it is not an unencrypted Ed25519 key."""
        data = pem.encode("ascii") if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a PEM private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("private key is not Ed25519")
        return cls(key, created_at_ms)

    @classmethod
    def from_record(cls, record: Any) -> DeviceIdentity:
        """Parse OpenClaw's v1 record (``identity/device.json`` / the SQLite row's PEMs).

        Verifies what OpenClaw verifies: the public PEM belongs to the private key and the stored
        ``deviceId`` is derived from it. Raises ValueError naming the first problem.
        """
        if not isinstance(record, dict):
            raise ValueError("identity record is not a JSON object")
        private_pem = record.get("privateKeyPem")
        if not isinstance(private_pem, str):
            raise ValueError("privateKeyPem is missing")
        created = record.get("createdAtMs", 0)
        if not isinstance(created, int) or isinstance(created, bool):
            raise ValueError("createdAtMs must be an integer")
        identity = cls.from_private_pem(private_pem, created)
        public_pem = record.get("publicKeyPem")
        if isinstance(public_pem, str) and normalize_public_key(public_pem) != identity.public_key_b64url:
            raise ValueError("publicKeyPem does not belong to privateKeyPem")
        stored_id = record.get("deviceId")
        if stored_id is not None and stored_id != identity.device_id:
            raise ValueError("deviceId does not match the key (expected SHA-256 of the public key)")
        return identity

    # --- encodings ---------------------------------------------------------------------------

    @property
    def public_key_pem(self) -> str:
        return _pem_for_raw(self._public_raw)

    @property
    def private_key_pem(self) -> str:
        return self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")

    def to_record(self) -> dict[str, Any]:
        return {
            "version": RECORD_VERSION,
            "deviceId": self.device_id,
            "publicKeyPem": self.public_key_pem,
            "privateKeyPem": self.private_key_pem,
            "createdAtMs": self.created_at_ms,
        }

    def public(
        self, slot: str | None = None, storage: str | None = None, release: str | None = None
    ) -> PublicIdentity:
        return PublicIdentity(
            self.device_id,
            self.public_key_b64url,
            self.public_key_pem,
            self.created_at_ms,
            slot,
            storage,
            release,
        )

    # --- signing -----------------------------------------------------------------------------

    def sign(self, payload: str) -> str:
        return b64url_encode(self._private.sign(payload.encode("utf-8")))

    def verify(self, payload: str, signature: str) -> bool:
        try:
            self._private.public_key().verify(b64url_decode(signature), payload.encode("utf-8"))
        except (InvalidSignature, ValueError):
            return False
        return True

    def same_key(self, other: DeviceIdentity) -> bool:
        return self.device_id == other.device_id

    def __repr__(self) -> str:  # never print key material
        return f"DeviceIdentity(device_id={self.device_id[:12]}…)"
