"""Reading untrusted JSON objects field by field, and keeping secrets out of what we keep.

Shared by the models: ``Reader`` names the object and the field in every error (so a malformed entry
is reported precisely and skipped, never half-used); ``scrub`` drops every token-like key before
anything is stored, printed or logged; ``normalize_public_key`` is a dependency-free twin of
``sidecar.identity.keys.normalize_public_key`` so the CLI does not load ``cryptography``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from sidecar.errors import ProtocolError

DEVICE_ID_RE = re.compile(r"^[a-f0-9]{64}$")
_SECRET_KEYS = frozenset({"token", "devicetoken", "bootstraptoken", "recoveryscope", "password", "secret"})
_SPKI_ED25519_PREFIX = bytes.fromhex("302a300506032b6570032100")


def is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in _SECRET_KEYS or (lowered.endswith("token") and lowered != "tokens")


def scrub(value: Any) -> Any:
    """A deep copy with every token-like key removed (what may be stored, printed or logged)."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if not (isinstance(k, str) and is_secret_key(k))}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def normalize_public_key(value: str) -> str:
    """SPKI PEM / base64 / base64url Ed25519 key → raw base64url (as the gateway stores it).

    A dependency-free twin of ``sidecar.identity.keys.normalize_public_key`` (keeps the CLI from loading
    ``cryptography``); the unit tests check both agree. Raises ValueError.
    """
    text = value.strip()
    if "BEGIN" in text:
        body = "".join(line for line in text.splitlines() if line and not line.startswith("-----"))
        der = base64.b64decode(body, validate=True)
        if len(der) != 44 or not der.startswith(_SPKI_ED25519_PREFIX):
            raise ValueError("public key PEM is not an Ed25519 SPKI key")
        return _b64url(der[12:])
    cleaned = text.replace("+", "-").replace("/", "_").rstrip("=")
    if not re.fullmatch(r"[A-Za-z0-9_-]*", cleaned):
        raise ValueError("public key is not base64")
    raw = base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    if len(raw) != 32:
        raise ValueError(f"Ed25519 public key must be 32 bytes, got {len(raw)}")
    return _b64url(raw)


class Reader:
    """Pulls typed fields out of one JSON object, naming the object and field in every error."""

    def __init__(self, what: str, data: object) -> None:
        if not isinstance(data, dict):
            raise ProtocolError(f"{what} is not a JSON object")
        self.what, self.data = what, data
        self.used: set[str] = set()

    def raw(self, key: str) -> Any:
        """The value as sent (marked as understood, so it stays out of ``extra``)."""
        self.used.add(key)
        return self.data.get(key)

    def fail(self, key: str, expected: str) -> ProtocolError:
        return ProtocolError(f"{self.what}: field {key!r} must be {expected}")

    def text(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str) or not value:
            raise self.fail(key, "a non-empty string")
        return value

    def opt_text(self, key: str) -> str | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(key, "a string")
        return value

    def integer(self, key: str) -> int:
        value = self.raw(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.fail(key, "a non-negative integer")
        return value

    def opt_integer(self, key: str) -> int | None:
        if self.raw(key) is None:
            return None
        return self.integer(key)

    def flag(self, key: str) -> bool:
        value = self.raw(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.fail(key, "a boolean")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.raw(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "a list of strings")
        return tuple(value)

    def device_id(self, key: str = "deviceId") -> str:
        value = self.text(key)
        if not DEVICE_ID_RE.match(value):
            raise self.fail(key, "64 lower-case hex characters")
        return value

    def public_key(self, device_id: str, key: str = "publicKey") -> str:
        try:
            normalized = normalize_public_key(self.text(key))
        except ValueError as exc:
            raise self.fail(key, f"an Ed25519 public key ({exc})") from None
        raw = base64.urlsafe_b64decode(normalized + "=")
        if hashlib.sha256(raw).hexdigest() != device_id:
            raise ProtocolError(f"{self.what}: deviceId is not the SHA-256 of publicKey")
        return normalized

    def extra(self) -> dict[str, Any]:
        return {k: scrub(v) for k, v in self.data.items() if k not in self.used and not is_secret_key(k)}
