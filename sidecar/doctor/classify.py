"""Pure: an error text (pasted by a user or found in a log) → which refusal it is and its fields.

Why a separate classifier: the two 1008 errors look alike (both are "closed 1008" in a UI) but have
opposite fixes — error A ("device identity required") means *no* identity was presented, so nothing can
be approved; error B ("pairing required") means one was presented and waits for approval under a
requestId. Users paste whatever they have: the bare close reason, the Control UI's "disconnected (1008):
…" line, the Node client's log line, or the JSON ``res.error`` frame. Both OpenClaw generations are
covered (shared notes ``openclaw-protocol.md`` §5.6):

- 2026.2.x: message and close reason are the bare ``pairing required``; the requestId and the reason
  (``not-paired`` | ``role-upgrade`` | ``scope-upgrade`` | ``metadata-upgrade``) are only in
  ``details``;
- 2026.6+: ``pairing required: <requirement>`` and the close reason ``<message> (requestId: <id>)``.

The requestId is taken only from places the gateway puts a complete one (``details.requestId``, or the
parenthesised form with its closing bracket) — a close reason cut at 120 bytes must never yield half an
id that a user would then try to approve.

A full state volume is recognised by what names it (SQLite's ``database or disk is full`` /
``SQLITE_FULL``, the OS's ``No space left on device`` / ``ENOSPC``, and 2026.9.6's ``Device pairing read
publication was replaced``, which it logs on every attempt once the store could not be written) and
checked first: it is the cause of whatever else the line says. The bare ``code 1000`` close that the
clients see is not enough on its own — many things close with 1000.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sidecar.gateway.errormap import PAIRING_REASONS, normalize_request_id, pairing_from_text

_CLOSE_CODE_RE = re.compile(r"(?:\((\d{4})\)|\bcode[=: ]\s*(\d{4})\b|\bclosed?\s*\(?(\d{4})\)?)", re.I)
_JSON_REQUEST_ID_RE = re.compile(r"\"requestId\"\s*:\s*\"([^\"]+)\"")
_MISSING_SCOPE_RE = re.compile(r"missing scope:\s*([A-Za-z0-9._:-]+)")
_REASON_WORD_RE = re.compile(r"\breason=(not-paired|role-upgrade|scope-upgrade|metadata-upgrade)\b")
_STATE_FULL_RE = re.compile(
    r"database or disk is full|\bsqlite_full\b|no space left on device|\benospc\b"
    r"|device pairing read publication was replaced",
    re.I,
)

_DEVICE_AUTH_INVALID = (
    "device identity mismatch",
    "device nonce required",
    "device nonce mismatch",
    "device signature invalid",
    "device public key invalid",
)
_TOKEN_TEXT = (
    "gateway token missing",
    "gateway token mismatch",
    "gateway password missing",
    "gateway password mismatch",
    "gateway auth changed",
    "too many failed authentication attempts",
    "auth_token_mismatch",
    "auth_token_missing",
    "auth_password_mismatch",
)
_DEVICE_TOKEN_TEXT = ("device token mismatch", "device_token_mismatch", "auth_device_token_mismatch")
_ERROR_B_IDS = {
    "not-paired": "error-b.pairing-required",
    "": "error-b.pairing-required",
    "role-upgrade": "error-b.role-upgrade",
    "scope-upgrade": "error-b.scope-upgrade",
    "metadata-upgrade": "error-b.metadata-upgrade",
}


def names_full_state(text: str) -> bool:
    """Whether ``text`` says the gateway could not write its state (a full SQLite / state volume)."""
    return _STATE_FULL_RE.search(text) is not None


@dataclass(frozen=True)
class Classification:
    """What an error text is. ``finding_id`` is a catalogue id (``error.unrecognized`` if unknown)."""

    finding_id: str
    kind: str  # error-a | error-b | auth | scope | origin | device-auth | protocol | starting | state-full
    #            | owner-lease
    text: str
    request_id: str | None = None
    reason: str | None = None  # error B: not-paired | role-upgrade | scope-upgrade | metadata-upgrade
    generation: str | None = None  # "2026.2" (bare "pairing required") | "2026.6+" (with requirement)
    close_code: int | None = None
    scope: str | None = None
    control_ui: bool = False  # error A worded for the Control UI (always a browser/secure-context case)

    @property
    def is_error_a(self) -> bool:
        return self.kind == "error-a"

    @property
    def is_error_b(self) -> bool:
        return self.kind == "error-b"


def _json_fields(text: str) -> dict[str, Any]:
    """``code``, ``message`` and ``details`` from a pasted ``res`` frame / ``error`` object, if any."""
    start = text.find("{")
    if start < 0:
        return {}
    try:
        data = json.loads(text[start : text.rfind("}") + 1])
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    inner = data.get("error")
    error: dict[str, Any] = inner if isinstance(inner, dict) else data
    out: dict[str, Any] = {}
    for key in ("code", "message", "details"):
        if key in error:
            out[key] = error[key]
    return out


def _close_code(text: str) -> int | None:
    match = _CLOSE_CODE_RE.search(text)
    if match is None:
        return None
    value = int(next(g for g in match.groups() if g))
    return value if 1000 <= value <= 4999 else None


def _request_id(text: str, details: dict[str, Any]) -> str | None:
    found = normalize_request_id(details.get("requestId"))
    if found:
        return found
    parsed = pairing_from_text(text)
    if parsed is not None and parsed[1]:
        return parsed[1]
    match = _JSON_REQUEST_ID_RE.search(text)
    return normalize_request_id(match.group(1)) if match else None


def _error_b(text: str, lowered: str, details: dict[str, Any], code: int | None) -> Classification:
    parsed = pairing_from_text(text)
    reason = details.get("reason") if details.get("reason") in PAIRING_REASONS else None
    if reason is None:
        word = _REASON_WORD_RE.search(text)
        reason = word.group(1) if word else (parsed[0] if parsed else "")
    newer = re.search(r"pairing required:\s*\S", lowered) or "(requestid:" in lowered
    generation = "2026.6+" if newer else None
    if generation is None and re.search(r"\bpairing required\b", lowered):
        generation = "2026.2"
    return Classification(
        _ERROR_B_IDS[reason or ""],
        "error-b",
        text,
        request_id=_request_id(text, details),
        reason=reason or None,
        generation=generation,
        close_code=code,
    )


def classify(text: str) -> Classification:
    """Classify one error text; see the module docstring for what is recognised."""
    raw = text.strip()
    fields = _json_fields(raw)
    details = fields.get("details") if isinstance(fields.get("details"), dict) else {}
    assert isinstance(details, dict)
    dcode = str(details.get("code") or "")
    message = str(fields.get("message") or "")
    lowered = (raw + " " + message + " " + dcode).lower()
    code = _close_code(raw)

    def result(finding_id: str, kind: str, **kw: Any) -> Classification:
        return Classification(finding_id, kind, raw, close_code=code, **kw)

    if names_full_state(lowered):
        return result("gateway.state-disk-full", "state-full")
    if "gateway owner lease is still active" in lowered:
        return result("gateway.owner-lease-held", "owner-lease")
    if "control ui requires device identity" in lowered or dcode == "CONTROL_UI_DEVICE_IDENTITY_REQUIRED":
        return result("error-a.insecure-context", "error-a", control_ui=True)
    if "device identity required" in lowered or dcode == "DEVICE_IDENTITY_REQUIRED":
        return result("error-a.device-identity-required", "error-a")
    if dcode == "PAIRING_REQUIRED" or pairing_from_text(raw) is not None or "pairing required" in lowered:
        return _error_b(raw, lowered, details, code)
    if "security error" in lowered and "plaintext ws://" in lowered:
        return result("url.plaintext-ws-refused", "url")
    if "origin not allowed" in lowered or dcode == "CONTROL_UI_ORIGIN_NOT_ALLOWED":
        return result("control-ui.origin-not-allowed", "origin")
    if "device signature expired" in lowered or dcode == "DEVICE_AUTH_SIGNATURE_EXPIRED":
        return result("device-auth.clock-skew", "device-auth")
    if any(t in lowered for t in _DEVICE_AUTH_INVALID) or dcode.startswith("DEVICE_AUTH_"):
        return result("device-auth.invalid", "device-auth")
    if any(t in lowered for t in _DEVICE_TOKEN_TEXT):
        return result("auth.device-token-mismatch", "auth")
    if (
        any(t in lowered for t in _TOKEN_TEXT)
        or code == 4001
        or (dcode.startswith("AUTH_") and dcode != "AUTH_SCOPE_MISMATCH")
    ):
        return result("auth.token-mismatch", "auth")
    scope = _MISSING_SCOPE_RE.search(raw + " " + message)
    if scope is not None or dcode == "MISSING_SCOPE":
        name = scope.group(1) if scope else str(details.get("missingScope") or "")
        return result("auth.missing-scope", "scope", scope=name or None)
    if "protocol mismatch" in lowered or dcode == "PROTOCOL_MISMATCH" or code == 1002:
        return result("protocol.mismatch", "protocol")
    if "gateway starting" in lowered or code == 1013:
        return result("gateway.starting", "starting")
    return result("error.unrecognized", "unknown")


_CONNECTED_RE = re.compile(r"\bgateway connected\b|\bhello-ok\b", re.I)


def last_error_in(text: str) -> Classification | None:
    """The agent's latest connect attempt in a log: the last recognised refusal, or None.

    None also when a successful connect ("gateway connected", hello-ok) comes after the last refusal:
    an old error that has since been resolved is not the current problem.
    """
    for line in reversed(text.splitlines()):
        if not line.strip():
            continue
        if _CONNECTED_RE.search(line):
            return None
        found = classify(line)
        if found.finding_id != "error.unrecognized":
            return found
    return None
