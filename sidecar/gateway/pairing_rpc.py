"""The pairing RPCs over one connection: ``device.pair.list|approve|reject|remove``, ``node.pair.*``.

Why a mixin: the connection (``GatewayClient``) knows frames and timeouts, not methods; the calls the
approver and the CLI make are named here, each validating its argument and its answer's shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sidecar.errors import ProtocolError
from sidecar.gateway.models import PairingList, scrub
from sidecar.gateway.node_records import NodePairingList


class PairingCalls:
    """Needs ``call(method, params)`` from the class it is mixed into."""

    async def call(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Any:
        raise NotImplementedError

    async def _call_object(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        payload = await self.call(method, params)
        if not isinstance(payload, dict):
            raise ProtocolError(f"{method} returned a {type(payload).__name__}, expected an object")
        result: dict[str, Any] = scrub(payload)
        return result

    async def list_pairing(self) -> PairingList:
        return PairingList.from_json(await self.call("device.pair.list", {}))

    async def approve(self, request_id: str) -> dict[str, Any]:
        return await self._call_object("device.pair.approve", {"requestId": _arg(request_id, "requestId")})

    async def reject(self, request_id: str) -> dict[str, Any]:
        return await self._call_object("device.pair.reject", {"requestId": _arg(request_id, "requestId")})

    async def remove(self, device_id: str) -> dict[str, Any]:
        return await self._call_object("device.pair.remove", {"deviceId": _arg(device_id, "deviceId")})


def _arg(value: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    return value.strip()


class NodePairingCalls(PairingCalls):
    """``node.pair.list|approve|reject``: the capability surface of a paired node (``node_records``)."""

    async def list_node_pairing(self) -> NodePairingList:
        return NodePairingList.from_json(await self.call("node.pair.list", {}))

    async def approve_node(self, request_id: str) -> dict[str, Any]:
        return await self._call_object("node.pair.approve", {"requestId": _arg(request_id, "requestId")})

    async def reject_node(self, request_id: str) -> dict[str, Any]:
        return await self._call_object("node.pair.reject", {"requestId": _arg(request_id, "requestId")})
