"""The OpenClaw gateway wire protocol, as pure functions: frames in, frames out, errors mapped.

No I/O and no clock here, so every byte that goes on the wire and every error a caller can branch on is
unit-tested without a socket. Facts (shared notes, openclaw-protocol.md §5): JSON text frames of three
closed shapes (``req``/``res``/``event``); a ``connect.challenge`` ``{nonce, ts}`` first; a ``connect``
request signed over the v3 payload; protocol 3 on 2026.2.x and 4 from 2026.6 — we offer 3..4 and send only
keys both closed ``ConnectParams`` schemas accept.

Untrusted input never crashes the reader: anything malformed, oversized, deeply nested or of the wrong
type becomes a `ProtocolError` whose message says what was wrong without echoing the frame.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sidecar import __version__
from sidecar.errors import ProtocolError
from sidecar.gateway.errormap import ErrorShape, error_from_close, error_from_response, pairing_from_text

if TYPE_CHECKING:
    from sidecar.identity.keys import DeviceIdentity

__all__ = [
    "Challenge",
    "ClientInfo",
    "ErrorShape",
    "EventFrame",
    "Frame",
    "ResponseFrame",
    "build_connect_params",
    "build_signed_payload_v3",
    "error_from_close",
    "error_from_response",
    "normalize_device_metadata",
    "pairing_from_text",
    "parse_challenge",
    "parse_frame",
]

MIN_PROTOCOL = 3
MAX_PROTOCOL = 4
# The gateway's own limit is 25 MiB (MAX_PAYLOAD_BYTES); a little slack, then we refuse.
MAX_FRAME_BYTES = 32 * 1024 * 1024
MAX_ID_CHARS = 256
CLIENT_VERSION = __version__

# JavaScript's String.prototype.trim() set, which differs from Python's str.strip() default.
_JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_ASCII_UPPER_TO_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


# --- frames -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseFrame:
    id: str
    ok: bool
    payload: Any = None
    error: ErrorShape | None = None


@dataclass(frozen=True)
class EventFrame:
    event: str
    payload: Any = None
    seq: int | None = None


Frame = ResponseFrame | EventFrame


@dataclass(frozen=True)
class Challenge:
    nonce: str
    ts: int


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value: object) -> str:
    """A bounded, quoted rendering for error messages (never a whole frame)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def decode_json(data: str | bytes, *, max_bytes: int = MAX_FRAME_BYTES) -> Any:
    """Size-checked, depth-safe JSON decoding. Raises ProtocolError."""
    if len(data) > max_bytes:
        raise ProtocolError(f"gateway frame of {len(data)} bytes exceeds the {max_bytes}-byte limit")
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except RecursionError:
        raise ProtocolError("gateway frame is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, int-digit limit, bad UTF-8
        raise ProtocolError(f"gateway frame is not valid JSON: {type(exc).__name__}") from None


def _parse_error_shape(raw: object) -> ErrorShape:
    if not isinstance(raw, dict):
        raise ProtocolError("res.error must be an object")
    code, message = raw.get("code"), raw.get("message")
    if not isinstance(code, str) or not isinstance(message, str):
        raise ProtocolError("res.error needs string code and message")
    details = raw.get("details")
    retryable = raw.get("retryable", False)
    retry_after = raw.get("retryAfterMs")
    if retry_after is not None and not (_is_int(retry_after) and retry_after >= 0):
        raise ProtocolError("res.error.retryAfterMs must be a non-negative integer")
    if not isinstance(retryable, bool):
        raise ProtocolError("res.error.retryable must be a boolean")
    return ErrorShape(
        code=code,
        message=message,
        details=details if isinstance(details, dict) else {},
        retryable=retryable,
        retry_after_ms=retry_after,
    )


def parse_frame(data: str | bytes, *, max_bytes: int = MAX_FRAME_BYTES) -> Frame:
    """Parse one server→client frame. Raises ProtocolError for anything but a valid res/event."""
    obj = decode_json(data, max_bytes=max_bytes)
    if not isinstance(obj, dict):
        raise ProtocolError(f"gateway frame is a JSON {type(obj).__name__}, expected an object")
    kind = obj.get("type")
    if kind == "res":
        frame_id, ok = obj.get("id"), obj.get("ok")
        if not isinstance(frame_id, str) or not frame_id or len(frame_id) > MAX_ID_CHARS:
            raise ProtocolError("res frame without a valid id")
        if not isinstance(ok, bool):
            raise ProtocolError("res frame without a boolean ok")
        error = None if ok else _parse_error_shape(obj.get("error"))
        return ResponseFrame(id=frame_id, ok=ok, payload=obj.get("payload"), error=error)
    if kind == "event":
        name, seq = obj.get("event"), obj.get("seq")
        if not isinstance(name, str) or not name or len(name) > MAX_ID_CHARS:
            raise ProtocolError("event frame without a valid event name")
        if seq is not None and not _is_int(seq):
            raise ProtocolError("event frame with a non-integer seq")
        return EventFrame(event=name, payload=obj.get("payload"), seq=seq)
    raise ProtocolError(f"unexpected gateway frame type {_short(kind)}")


def frame_id_of(data: str | bytes) -> str | None:
    """Best-effort id of a frame that failed validation, so its caller can be failed at once."""
    try:
        obj = decode_json(data)
    except ProtocolError:
        return None
    if isinstance(obj, dict) and obj.get("type") == "res" and isinstance(obj.get("id"), str):
        return str(obj["id"])
    return None


def parse_challenge(frame: Frame) -> Challenge:
    if not isinstance(frame, EventFrame) or frame.event != "connect.challenge":
        raise ProtocolError("gateway did not start with connect.challenge (is this an OpenClaw gateway?)")
    payload = frame.payload
    if not isinstance(payload, dict):
        raise ProtocolError("connect.challenge without a payload object")
    nonce, ts = payload.get("nonce"), payload.get("ts")
    if not isinstance(nonce, str) or not nonce.strip() or len(nonce) > MAX_ID_CHARS:
        raise ProtocolError("connect.challenge without a nonce")
    if not isinstance(ts, int) or isinstance(ts, bool) or ts < 0:
        raise ProtocolError("connect.challenge without an integer ts")
    return Challenge(nonce=nonce.strip(), ts=ts)


def encode_request(frame_id: str, method: str, params: Mapping[str, Any] | None) -> str:
    frame: dict[str, Any] = {"type": "req", "id": frame_id, "method": method}
    if params is not None:
        frame["params"] = dict(params)
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# --- signing and connect params ---------------------------------------------------------------------


def normalize_device_metadata(value: str | None) -> str:
    """OpenClaw's ``normalizeDeviceMetadataForAuth``: JS trim, then lower-case ASCII A–Z only."""
    if not value:
        return ""
    return value.strip(_JS_WHITESPACE).translate(_ASCII_UPPER_TO_LOWER)


def build_signed_payload_v3(
    *,
    device_id: str,
    client_id: str,
    client_mode: str,
    role: str,
    scopes: Sequence[str],
    signed_at_ms: int,
    token: str | None,
    nonce: str,
    platform: str | None,
    device_family: str | None,
) -> str:
    """The exact string the gateway verifies (scopes in the order sent, no escaping)."""
    return "|".join(
        [
            "v3",
            device_id,
            client_id,
            client_mode,
            role,
            ",".join(scopes),
            str(signed_at_ms),
            token or "",
            nonce,
            normalize_device_metadata(platform),
            normalize_device_metadata(device_family),
        ]
    )


@dataclass(frozen=True)
class ClientInfo:
    """What the ``connect`` request says about us; the pinned parts are platform and device family."""

    client_id: str = "gateway-client"
    client_mode: str = "backend"
    role: str = "operator"
    scopes: tuple[str, ...] = ("operator.pairing",)
    display_name: str | None = None
    platform: str = "linux"
    device_family: str | None = None
    version: str = CLIENT_VERSION


def build_connect_params(
    info: ClientInfo,
    *,
    token: str | None,
    identity: DeviceIdentity | None,
    challenge: Challenge,
) -> dict[str, Any]:
    """``connect`` params valid under both the protocol-3 and protocol-4 closed schemas.

    Only ``client.{id,version,platform,mode,displayName?,deviceFamily?}``, ``caps``, ``role``, ``scopes``,
    ``auth.token`` and the five ``device`` fields; ``signedAt`` is the challenge ``ts`` (no clock skew).
    The token is placed in the returned dict and must never be logged.
    """
    client: dict[str, Any] = {
        "id": info.client_id,
        "version": info.version,
        "platform": info.platform,
        "mode": info.client_mode,
    }
    if info.display_name:
        client["displayName"] = info.display_name
    if info.device_family:
        client["deviceFamily"] = info.device_family
    params: dict[str, Any] = {
        "minProtocol": MIN_PROTOCOL,
        "maxProtocol": MAX_PROTOCOL,
        "client": client,
        "caps": [],
        "role": info.role,
        "scopes": list(info.scopes),
    }
    if token:
        params["auth"] = {"token": token}
    if identity is not None:
        payload = build_signed_payload_v3(
            device_id=identity.device_id,
            client_id=info.client_id,
            client_mode=info.client_mode,
            role=info.role,
            scopes=info.scopes,
            signed_at_ms=challenge.ts,
            token=token,
            nonce=challenge.nonce,
            platform=info.platform,
            device_family=info.device_family,
        )
        params["device"] = {
            "id": identity.device_id,
            "publicKey": identity.public_key_b64url,
            "signature": identity.sign(payload),
            "signedAt": challenge.ts,
            "nonce": challenge.nonce,
        }
    return params
