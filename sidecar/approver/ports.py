"""What the approver needs from its neighbours: the gateway calls it makes, the session it runs, a clock.

Protocols rather than the concrete classes, so the loop depends on the gateway through these few methods
only and tests can hand in a fake for every one of them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sidecar.gateway.models import GatewayEvent, HelloOk, PairingList
from sidecar.gateway.node_records import NodePairingList


class PairingClient(Protocol):
    """The slice of ``sidecar.gateway.client.GatewayClient`` the approver uses."""

    @property
    def hello(self) -> HelloOk | None: ...

    async def list_pairing(self) -> PairingList: ...

    async def approve(self, request_id: str) -> dict[str, Any]: ...

    async def reject(self, request_id: str) -> dict[str, Any]: ...

    async def list_node_pairing(self) -> NodePairingList: ...

    async def approve_node(self, request_id: str) -> dict[str, Any]: ...

    async def reject_node(self, request_id: str) -> dict[str, Any]: ...


class Session(Protocol):
    """The slice of ``sidecar.gateway.session.GatewaySession`` the approver uses."""

    async def run(self, stop: asyncio.Event) -> None: ...


OnConnect = Callable[[PairingClient, bool], Awaitable[None]]
OnEvent = Callable[[GatewayEvent], Awaitable[None]]
OnDisconnect = Callable[..., Awaitable[None]]
SessionFactory = Callable[[OnConnect, OnEvent, OnDisconnect], Session]


class Clock(Protocol):
    def now_ms(self) -> int: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()
