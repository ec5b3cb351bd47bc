"""Device pairing records as the gateway lists them: pending requests, paired devices, the whole list.

Required fields are checked strictly (a request we cannot read must never be approved — fail closed);
fields we do not know are kept, unchanged, in ``extra`` so newer gateways keep working and ``--json``
output stays faithful. Token values are never kept: paired-device tokens are reduced to role + scopes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sidecar.errors import ProtocolError
from sidecar.gateway.jsonfields import Reader


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = list(value) if isinstance(value, tuple) else value


def _device_fields(d: PendingRequest | PairedDevice) -> tuple[tuple[str, Any], ...]:
    """The optional device fields pending and paired records share, in OpenClaw's key order."""
    return (
        ("displayName", d.display_name),
        ("platform", d.platform),
        ("deviceFamily", d.device_family),
        ("clientId", d.client_id),
        ("clientMode", d.client_mode),
        ("role", d.role),
        ("roles", d.roles),
        ("scopes", d.scopes),
        ("remoteIp", d.remote_ip),
    )


@dataclass(frozen=True)
class PendingRequest:
    """One entry of ``device.pair.list`` ``pending`` or a ``device.pair.requested`` payload."""

    request_id: str
    device_id: str
    public_key: str  # normalized raw base64url; deviceId verified against it
    ts: int
    role: str | None = None
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    remote_ip: str | None = None  # None on loopback (the gateway omits it)
    silent: bool = False
    is_repair: bool = False
    client_id: str | None = None
    client_mode: str | None = None
    display_name: str | None = None
    platform: str | None = None
    device_family: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: object, what: str = "pending request") -> PendingRequest:
        r = Reader(what, data)
        device_id = r.device_id()
        role = r.opt_text("role")
        roles = r.texts("roles") or ((role,) if role else ())
        return cls(
            request_id=r.text("requestId"),
            device_id=device_id,
            public_key=r.public_key(device_id),
            ts=r.integer("ts"),
            role=role,
            roles=roles,
            scopes=r.texts("scopes"),
            remote_ip=r.opt_text("remoteIp") or None,
            silent=r.flag("silent"),
            is_repair=r.flag("isRepair"),
            client_id=r.opt_text("clientId"),
            client_mode=r.opt_text("clientMode"),
            display_name=r.opt_text("displayName"),
            platform=r.opt_text("platform"),
            device_family=r.opt_text("deviceFamily"),
            extra=r.extra(),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "requestId": self.request_id,
            "deviceId": self.device_id,
            "publicKey": self.public_key,
        }
        for key, value in (
            *_device_fields(self),
            ("silent", self.silent),
            ("isRepair", self.is_repair),
            ("ts", self.ts),
        ):
            _put(out, key, value)
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class TokenSummary:
    """A paired device's token *without* its value: which role it is for and what it may do."""

    role: str
    scopes: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "scopes": list(self.scopes), **self.extra}


def _tokens(r: Reader) -> tuple[TokenSummary, ...]:
    raw = r.raw("tokens")
    if raw is None:
        return ()
    items = list(raw.values()) if isinstance(raw, dict) else raw  # store shape {role: {...}} or list
    if not isinstance(items, list):
        raise r.fail("tokens", "a list")
    out = []
    for item in items:
        t = Reader(f"{r.what} token", item)
        out.append(TokenSummary(role=t.text("role"), scopes=t.texts("scopes"), extra=t.extra()))
    return tuple(out)


@dataclass(frozen=True)
class PairedDevice:
    """One entry of ``device.pair.list`` ``paired``."""

    device_id: str
    public_key: str
    created_at_ms: int
    approved_at_ms: int
    role: str | None = None
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    remote_ip: str | None = None
    client_id: str | None = None
    client_mode: str | None = None
    display_name: str | None = None
    platform: str | None = None
    device_family: str | None = None
    approved_via: str | None = None
    tokens: tuple[TokenSummary, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: object, what: str = "paired device") -> PairedDevice:
        r = Reader(what, data)
        device_id = r.device_id()
        role = r.opt_text("role")
        return cls(
            device_id=device_id,
            public_key=r.public_key(device_id),
            created_at_ms=r.integer("createdAtMs"),
            approved_at_ms=r.integer("approvedAtMs"),
            role=role,
            roles=r.texts("roles") or ((role,) if role else ()),
            scopes=r.texts("scopes"),
            remote_ip=r.opt_text("remoteIp") or None,
            client_id=r.opt_text("clientId"),
            client_mode=r.opt_text("clientMode"),
            display_name=r.opt_text("displayName"),
            platform=r.opt_text("platform"),
            device_family=r.opt_text("deviceFamily"),
            approved_via=r.opt_text("approvedVia"),
            tokens=_tokens(r),
            extra=r.extra(),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"deviceId": self.device_id, "publicKey": self.public_key}
        for key, value in (
            *_device_fields(self),
            ("approvedVia", self.approved_via),
            ("createdAtMs", self.created_at_ms),
            ("approvedAtMs", self.approved_at_ms),
        ):
            _put(out, key, value)
        out.update(self.extra)
        out["tokens"] = [t.to_json() for t in self.tokens]
        return out


@dataclass(frozen=True)
class PairingList:
    """``device.pair.list``. Entries that fail validation are left out and described in ``problems``."""

    pending: tuple[PendingRequest, ...] = ()
    paired: tuple[PairedDevice, ...] = ()
    problems: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: object) -> PairingList:
        r = Reader("device.pair.list payload", data)
        pending_raw, paired_raw = r.raw("pending"), r.raw("paired")
        if not isinstance(pending_raw, list) or not isinstance(paired_raw, list):
            raise ProtocolError("device.pair.list payload: 'pending' and 'paired' must be lists")
        problems: list[str] = []
        pending: list[PendingRequest] = []
        paired: list[PairedDevice] = []
        for i, item in enumerate(pending_raw):
            try:
                pending.append(PendingRequest.from_json(item, f"pending[{i}]"))
            except ProtocolError as exc:
                problems.append(str(exc))
        for i, item in enumerate(paired_raw):
            try:
                paired.append(PairedDevice.from_json(item, f"paired[{i}]"))
            except ProtocolError as exc:
                problems.append(str(exc))
        return cls(tuple(pending), tuple(paired), tuple(problems))

    def to_json(self) -> dict[str, Any]:
        """The ``openclaw devices list --json`` shape."""
        return {"pending": [p.to_json() for p in self.pending], "paired": [p.to_json() for p in self.paired]}

    def find(self, request_id: str) -> PendingRequest | None:
        return next((p for p in self.pending if p.request_id == request_id), None)
