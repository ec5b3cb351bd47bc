"""Typed views of what the gateway sends: hello-ok and events; the pairing records (``records``) too.

Required fields are checked strictly (a request we cannot read must never be approved — fail closed);
fields we do not know are kept, unchanged, in ``extra`` so newer gateways keep working and ``--json``
output stays faithful. Token values are never kept: paired-device tokens are reduced to role + scopes,
and any token-like key is dropped from ``extra`` (``hello-ok.auth.deviceToken`` and friends included).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sidecar.gateway.jsonfields import DEVICE_ID_RE, Reader, is_secret_key, normalize_public_key, scrub
from sidecar.gateway.records import PairedDevice, PairingList, PendingRequest, TokenSummary

__all__ = [
    "DEVICE_ID_RE",
    "GatewayEvent",
    "HelloOk",
    "HelloPolicy",
    "PairResolved",
    "PairedDevice",
    "PairingList",
    "PendingRequest",
    "TokenSummary",
    "is_secret_key",
    "normalize_public_key",
    "scrub",
]


@dataclass(frozen=True)
class HelloPolicy:
    max_payload: int
    max_buffered_bytes: int
    tick_interval_ms: int


@dataclass(frozen=True)
class HelloOk:
    """``hello-ok``: the negotiated protocol, server version, limits, and what we were granted."""

    protocol: int
    server_version: str
    policy: HelloPolicy
    conn_id: str | None = None
    auth_role: str | None = None
    auth_scopes: tuple[str, ...] | None = None  # None: the gateway did not say (2026.2.x, device-less)
    auth_method: str | None = None
    methods: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: object) -> HelloOk:
        r = Reader("hello-ok", data)
        if r.raw("type") != "hello-ok":
            raise r.fail("type", '"hello-ok"')
        server = Reader("hello-ok.server", r.raw("server"))
        p = Reader("hello-ok.policy", r.raw("policy"))
        policy = HelloPolicy(
            p.integer("maxPayload"), p.integer("maxBufferedBytes"), p.integer("tickIntervalMs")
        )
        auth_raw = r.raw("auth")
        auth = Reader("hello-ok.auth", auth_raw) if auth_raw is not None else None
        features_raw = r.raw("features")
        features = Reader("hello-ok.features", features_raw) if isinstance(features_raw, dict) else None
        return cls(
            protocol=r.integer("protocol"),
            server_version=server.text("version"),
            conn_id=server.opt_text("connId"),
            policy=policy,
            auth_role=auth.opt_text("role") if auth else None,
            auth_scopes=auth.texts("scopes") if auth and auth.data.get("scopes") is not None else None,
            auth_method=auth.opt_text("method") if auth else None,
            methods=features.texts("methods") if features else (),
            events=features.texts("events") if features else (),
            extra=r.extra(),
        )


@dataclass(frozen=True)
class PairResolved:
    """``device.pair.resolved``: a request left the pending list (approved, rejected, superseded)."""

    request_id: str
    device_id: str
    decision: str
    ts: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: object) -> PairResolved:
        r = Reader("device.pair.resolved payload", data)
        return cls(
            r.text("requestId"), r.text("deviceId"), r.text("decision"), r.opt_integer("ts"), r.extra()
        )


@dataclass(frozen=True)
class GatewayEvent:
    """Any event frame after hello-ok. Unknown event names are normal and passed through."""

    event: str
    payload: Any = None
    seq: int | None = None

    def pending_request(self) -> PendingRequest:
        """The request of a ``device.pair.requested`` event. Raises ProtocolError if malformed."""
        return PendingRequest.from_json(self.payload, "device.pair.requested payload")

    def resolved(self) -> PairResolved:
        return PairResolved.from_json(self.payload)
