"""Node capability approvals (``node.pair.*``) as the gateway lists them, and the calls that decide them.

Since OpenClaw 2026.3.31 a paired node host's declared commands stay disabled until its *capability
surface* is approved (``openclaw nodes approve``). Measured on the real releases (docs/policy.md, "Node
commands"):

- 2026.9.6: ``node.pair.list`` → ``{"pending": [...], "paired": [...]}``; a pending entry is
  ``{requestId, nodeId (= the device's deviceId), clientId, clientMode, displayName, platform, version,
  deviceFamily, caps, commands, requiredApproveScopes, remoteIp, ts}``; paired entries carry
  ``createdAtMs``/``approvedAtMs`` instead. Events ``node.pair.requested`` (the pending entry) when a paired
  node connects with a new or wider surface, ``node.pair.resolved`` ``{requestId, nodeId, decision, ts}``.
  ``node.pair.approve``/``reject`` take ``{requestId}``; approving needs every scope in
  ``requiredApproveScopes`` (``operator.admin`` for admin-sensitive commands, else ``missing scope``).
- 2026.2.26: the methods exist, but the node host never asks: the list stays empty and commands work
  without this step (nothing to do, nothing breaks).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sidecar.errors import ProtocolError
from sidecar.gateway.jsonfields import Reader

# OpenClaw's admin-sensitive node commands: approving a surface with any of them needs operator.admin.
ADMIN_SENSITIVE_COMMANDS = frozenset(
    {
        "system.run",
        "system.run.prepare",
        "system.which",
        "browser.proxy",
        "browser.proxy.upload.v1",
        "fs.listDir",
        "system.execApprovals.get",
        "system.execApprovals.set",
    }
)


@dataclass(frozen=True)
class NodeRequest:
    """A pending node capability surface (``node.pair.list`` pending, or ``node.pair.requested``)."""

    request_id: str
    node_id: str  # the node's device id
    ts: int
    commands: tuple[str, ...] = ()
    caps: tuple[str, ...] = ()
    required_scopes: tuple[str, ...] = ()  # requiredApproveScopes (2026.9+); () when not sent
    remote_ip: str | None = None
    client_id: str | None = None
    client_mode: str | None = None
    display_name: str | None = None
    platform: str | None = None
    device_family: str | None = None
    version: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: object, what: str = "pending node request") -> NodeRequest:
        r = Reader(what, data)
        return cls(
            request_id=r.text("requestId"),
            node_id=r.device_id("nodeId"),
            ts=r.integer("ts"),
            commands=r.texts("commands"),
            caps=r.texts("caps"),
            required_scopes=r.texts("requiredApproveScopes"),
            remote_ip=r.opt_text("remoteIp") or None,
            client_id=r.opt_text("clientId"),
            client_mode=r.opt_text("clientMode"),
            display_name=r.opt_text("displayName"),
            platform=r.opt_text("platform"),
            device_family=r.opt_text("deviceFamily"),
            version=r.opt_text("version"),
            extra=r.extra(),
        )

    @property
    def admin_commands(self) -> tuple[str, ...]:
        return tuple(c for c in self.commands if c in ADMIN_SENSITIVE_COMMANDS)

    def approve_scopes(self) -> tuple[str, ...]:
        """What approving needs: the gateway's own answer when it sends one, else OpenClaw's rule."""
        if self.required_scopes:
            return self.required_scopes
        if not self.commands:
            return ("operator.pairing",)
        if self.admin_commands:
            return ("operator.pairing", "operator.admin")
        return ("operator.pairing", "operator.write")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"requestId": self.request_id, "nodeId": self.node_id}
        for key, value in (
            ("clientId", self.client_id),
            ("clientMode", self.client_mode),
            ("displayName", self.display_name),
            ("platform", self.platform),
            ("version", self.version),
            ("deviceFamily", self.device_family),
            ("caps", list(self.caps)),
            ("commands", list(self.commands)),
            ("requiredApproveScopes", list(self.required_scopes) or None),
            ("remoteIp", self.remote_ip),
            ("ts", self.ts),
        ):
            if value is not None:
                out[key] = value
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class NodePairingList:
    """``node.pair.list``: pending surfaces (typed) and approved ones (kept as sent, scrubbed)."""

    pending: tuple[NodeRequest, ...] = ()
    paired: tuple[Mapping[str, Any], ...] = ()
    problems: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: object) -> NodePairingList:
        r = Reader("node.pair.list payload", data)
        pending_raw, paired_raw = r.raw("pending") or [], r.raw("paired") or []
        if not isinstance(pending_raw, list) or not isinstance(paired_raw, list):
            raise ProtocolError("node.pair.list payload: 'pending' and 'paired' must be lists")
        pending: list[NodeRequest] = []
        problems: list[str] = []
        for i, item in enumerate(pending_raw):
            try:
                pending.append(NodeRequest.from_json(item, f"node pending[{i}]"))
            except ProtocolError as exc:
                problems.append(str(exc))
        paired = tuple(Reader(f"node paired[{i}]", p).extra() for i, p in enumerate(paired_raw))
        return cls(tuple(pending), paired, tuple(problems))

    def to_json(self) -> dict[str, Any]:
        """The ``openclaw nodes pending --json`` / ``node.pair.list`` shape."""
        return {"pending": [p.to_json() for p in self.pending], "paired": [dict(p) for p in self.paired]}

    def find(self, request_id: str) -> NodeRequest | None:
        return next((p for p in self.pending if p.request_id == request_id), None)

    def approved(self, node_id: str) -> Mapping[str, Any] | None:
        return next((p for p in self.paired if p.get("nodeId") == node_id), None)


@dataclass(frozen=True)
class NodeResolved:
    """``node.pair.resolved``: ``{requestId, nodeId, decision, ts}``."""

    request_id: str
    node_id: str
    decision: str

    @classmethod
    def from_json(cls, data: object) -> NodeResolved:
        r = Reader("node.pair.resolved payload", data)
        return cls(r.text("requestId"), r.text("nodeId"), r.text("decision"))
