"""The audit trail: one JSON line per decision, appended, never rewritten.

Why a separate, boring file: the audit is what a human reads after the fact to answer "why was this
device let in?" — so each record is self-contained (request, container, every passed check, the one that
decided, mode, trusted flag, gateway version) and the file is opened ``O_APPEND`` so concurrent writers
and log shippers never see a torn or reordered line. ``-`` writes to stdout (containers' usual log sink).

Without the trusted flag the recorded ``action`` is ``would-approve`` / ``would-reject``; ``decision``
always keeps the policy's own answer. Nothing token-like is ever written: evidence is scrubbed of any
key that looks like a secret before serialisation.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from datetime import UTC, datetime
from typing import Any, TextIO

from sidecar.gateway.models import scrub
from sidecar.policy.decision import Decision

STDOUT = "-"


def _iso(now_ms: int) -> str:
    return (
        datetime.fromtimestamp(now_ms / 1000, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


class AuditLog:
    """Append-only JSONL sink. ``AuditLog("-")`` writes to stdout; a path is created 0600 and appended to."""

    def __init__(self, target: str = STDOUT, *, stream: TextIO | None = None) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._stream: TextIO | None = stream
        if stream is None and target != STDOUT:
            parent = os.path.dirname(target)
            if parent:
                os.makedirs(parent, exist_ok=True)
            self._fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def record(
        self,
        decision: Decision,
        *,
        now_ms: int,
        trusted: bool,
        mode: str,
        gateway_version: str | None,
        outcome: str,
    ) -> dict[str, Any]:
        """Write one record and return it. ``outcome`` says what was done: sent, observe-only, gone, error…"""
        request = decision.evidence.get("request") or {}
        entry: dict[str, Any] = {
            "time": _iso(now_ms),
            "timeMs": now_ms,
            "kind": decision.evidence.get("kind", "device"),  # device (device.pair.*) | node (node.pair.*)
            "requestId": request.get("requestId"),
            "deviceId": request.get("deviceId"),
            "action": decision.audit_action(trusted),
            "decision": decision.action.value,
            "check": decision.check,
            "reason": decision.reason,
            "outcome": outcome,
            "mode": mode,
            "trusted": trusted,
            "gatewayVersion": gateway_version,
            "evidence": scrub(_plain(decision.evidence)),
        }
        self.write(entry)
        return entry

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, sort_keys=False, separators=(",", ":"), default=str) + "\n"
        data = line.encode("utf-8")
        with self._lock:
            if self._fd is not None:
                written = 0
                while written < len(data):  # one write() per line in practice; loop for safety
                    written += os.write(self._fd, data[written:])
                return
            stream = self._stream or sys.stdout
            stream.write(line)
            stream.flush()

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plain(value: Any) -> Any:
    """Mappings/tuples/sets → dicts/lists, so the record is plain JSON and ``scrub`` sees every key."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    return value
