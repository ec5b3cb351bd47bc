"""Builders shared by the policy and approver unit tests: identities, requests, workloads, fakes.

Everything is deterministic (identities from fixed seeds, a fake clock) so table rows read like specs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sidecar.errors import GatewayError, GatewayRequestError
from sidecar.gateway.models import (
    GatewayEvent,
    HelloOk,
    HelloPolicy,
    PairedDevice,
    PairingList,
    PendingRequest,
)
from sidecar.gateway.node_records import NodePairingList, NodeRequest
from sidecar.identity.keys import DeviceIdentity, PublicIdentity
from sidecar.settings import Mode, PolicySettings
from sidecar.sources.workloads import ChangeCallback, Workload

NOW = 1_800_000_000_000
PROJECT = "demo"
OPT_IN = {"openclaw.pairing.auto-approve": "true"}


def ident(n: int) -> PublicIdentity:
    return DeviceIdentity.from_seed(bytes([n]) * 32, created_at_ms=1).public()


A, B, C = ident(1), ident(2), ident(3)


def request(who: PublicIdentity = A, **kw: Any) -> PendingRequest:
    base = PendingRequest(
        request_id=kw.pop("request_id", f"req-{who.device_id[:6]}"),
        device_id=who.device_id,
        public_key=who.public_key,
        ts=NOW - 1_000,
        role="operator",
        roles=("operator",),
        scopes=("operator.read", "operator.write"),
        remote_ip="172.18.0.5",
        platform="linux",
    )
    return replace(base, **kw)


def workload(
    name: str = "agent",
    who: PublicIdentity | None = A,
    ip: str = "172.18.0.5",
    *,
    labels: Mapping[str, str] | None = None,
    extra_labels: Mapping[str, str] | None = None,
    **kw: Any,
) -> Workload:
    base = Workload(
        id=f"{name}-{'0' * 60}"[:64],
        name=name,
        labels=dict(OPT_IN if labels is None else labels, **(extra_labels or {})),
        ips={f"{PROJECT}_default": ip} if ip else {},
        network_gateways={f"{PROJECT}_default": "172.18.0.1"},
        running=True,
        service=name,
        project=PROJECT,
        image="agent:latest",
        image_id="sha256:" + "ab" * 32,
        identity=who,
        # the fixture's network belongs to the project (the Docker source fills this in dev-approve-all)
        project_networks=frozenset({f"{PROJECT}_default"}),
    )
    return replace(base, **kw)


def paired(who: PublicIdentity = A, **kw: Any) -> PairedDevice:
    base = PairedDevice(
        device_id=who.device_id,
        public_key=who.public_key,
        created_at_ms=NOW - 60_000,
        approved_at_ms=NOW - 60_000,
        role="operator",
        roles=("operator",),
        scopes=("operator.read",),
        platform="linux",
    )
    return replace(base, **kw)


def policy(mode: Mode = Mode.STRICT, **kw: Any) -> PolicySettings:
    return PolicySettings(mode=mode, project=PROJECT, project_auto=False, **kw)


# --- fakes for the approver ----------------------------------------------------------------------


class FakeClock:
    def __init__(self, now_ms: int = NOW) -> None:
        self.ms = now_ms
        self.mono = 1000.0

    def now_ms(self) -> int:
        return self.ms

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)
        self.mono += seconds


HELLO = HelloOk(protocol=4, server_version="2026.9.6", policy=HelloPolicy(1 << 20, 1 << 20, 30_000))


@dataclass
class FakeGateway:
    """The gateway's pairing store plus an RPC log; approve/reject move requests like the real one."""

    pending: dict[str, PendingRequest] = field(default_factory=dict)
    paired: dict[str, PairedDevice] = field(default_factory=dict)
    rpcs: list[tuple[str, str]] = field(default_factory=list)
    fail_with: dict[str, GatewayError] = field(default_factory=dict)  # requestId -> error to raise
    lists: int = 0
    node_pending: dict[str, NodeRequest] = field(default_factory=dict)  # node capability surfaces
    node_paired: dict[str, NodeRequest] = field(default_factory=dict)  # nodeId -> approved surface
    rpc_delay_s: float = 0.0  # each approve/reject takes this long (a round trip to a remote gateway)
    in_flight: int = 0
    max_in_flight: int = 0  # the most approve/reject RPCs that were ever in flight together

    def add(self, *requests: PendingRequest) -> None:
        for r in requests:
            self.pending[r.request_id] = r


class FakeClient:
    def __init__(self, gateway: FakeGateway, on_rpc: Callable[[str, str], None] | None = None) -> None:
        self.gw = gateway
        self.hello: HelloOk | None = HELLO
        self.on_rpc = on_rpc

    async def list_pairing(self) -> PairingList:
        self.gw.lists += 1
        return PairingList(tuple(self.gw.pending.values()), tuple(self.gw.paired.values()))

    async def _resolve(self, method: str, request_id: str) -> dict[str, Any]:
        self.gw.rpcs.append((method, request_id))
        if self.on_rpc:
            self.on_rpc(method, request_id)
        self.gw.in_flight += 1
        self.gw.max_in_flight = max(self.gw.max_in_flight, self.gw.in_flight)
        try:
            if self.gw.rpc_delay_s:
                await asyncio.sleep(self.gw.rpc_delay_s)
        finally:
            self.gw.in_flight -= 1
        if request_id in self.gw.fail_with:
            raise self.gw.fail_with[request_id]
        req = self.gw.pending.pop(request_id, None)
        if req is None:
            raise GatewayRequestError("unknown requestId", code="INVALID_REQUEST")
        if method == "approve":
            self.gw.paired[req.device_id] = paired_from(req)
        return {"requestId": request_id}

    async def approve(self, request_id: str) -> dict[str, Any]:
        return await self._resolve("approve", request_id)

    async def reject(self, request_id: str) -> dict[str, Any]:
        return await self._resolve("reject", request_id)

    async def list_node_pairing(self) -> NodePairingList:
        approved = self.gw.node_paired.values()
        paired = tuple({"nodeId": n.node_id, "commands": list(n.commands)} for n in approved)
        return NodePairingList(tuple(self.gw.node_pending.values()), paired)

    async def _resolve_node(self, method: str, request_id: str) -> dict[str, Any]:
        self.gw.rpcs.append((method, request_id))
        if self.on_rpc:
            self.on_rpc(method, request_id)
        node = self.gw.node_pending.pop(request_id, None)
        if node is None:
            raise GatewayRequestError("unknown requestId", code="INVALID_REQUEST")
        if method == "node-approve":
            self.gw.node_paired[node.node_id] = node
        return {"requestId": request_id}

    async def approve_node(self, request_id: str) -> dict[str, Any]:
        return await self._resolve_node("node-approve", request_id)

    async def reject_node(self, request_id: str) -> dict[str, Any]:
        return await self._resolve_node("node-reject", request_id)


def paired_from(req: PendingRequest) -> PairedDevice:
    return PairedDevice(
        device_id=req.device_id,
        public_key=req.public_key,
        created_at_ms=req.ts,
        approved_at_ms=req.ts,
        role=req.role,
        roles=req.roles,
        scopes=req.scopes,
        platform=req.platform,
    )


class FakeSession:
    """Calls on_connect when told to; ``disconnect()``/``reconnect()`` simulate the gateway dropping."""

    def __init__(self, client: FakeClient, on_connect: Any, on_event: Any, on_disconnect: Any) -> None:
        self.client = client
        self.on_connect, self.on_event, self.on_disconnect = on_connect, on_event, on_disconnect
        self.connects = 0

    async def run(self, stop: asyncio.Event) -> None:
        await self.connect()
        await stop.wait()

    async def connect(self) -> None:
        self.connects += 1
        await self.on_connect(self.client, self.connects > 1)

    async def disconnect(self) -> None:
        await self.on_disconnect(None)

    async def event(self, name: str, payload: Any) -> None:
        await self.on_event(GatewayEvent(name, payload))


class FakeSource:
    def __init__(self, workloads: tuple[Workload, ...] = ()) -> None:
        self.workloads = workloads
        self.connected = True
        self.on_change: ChangeCallback | None = None

    async def snapshot(self) -> tuple[Workload, ...]:
        return self.workloads

    async def watch(self, stop: Callable[[], bool], on_change: ChangeCallback) -> None:
        self.on_change = on_change
        while not stop():  # noqa: ASYNC110 - the protocol's stop is a plain callable
            await asyncio.sleep(0.01)
