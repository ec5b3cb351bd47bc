"""Make *pending* pairing requests the way a real remote client does: a device key connecting from a peer
the gateway considers remote (a client namespace or a container), through our own protocol client."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from sidecar.errors import PairingRequired
from sidecar.gateway.client import GatewayClient
from sidecar.identity.device_file import fallback_device
from sidecar.identity.keys import DeviceIdentity
from tests.harness.gateway import RealGateway
from tests.harness.netns import ClientNetns

# What the harness's admin connections on the gateway's loopback present where a release grants a
# device-less one no scopes (2026.3.31): one key per test process, as the sidecar keeps one.
LOCAL_DEVICE = fallback_device(None)


@dataclass
class Attempt:
    identity: DeviceIdentity
    request_id: str | None  # None: the device was admitted (already paired)
    reason: str


async def connect_device(
    url: str,
    token: str,
    identity: DeviceIdentity,
    *,
    role: str = "operator",
    scopes: Sequence[str] = ("operator.read",),
    client_id: str = "cli",
    client_mode: str = "cli",
    display_name: str = "test-device",
) -> Attempt:
    client = GatewayClient(
        url,
        token=token,
        identity=identity,
        client_id=client_id,
        client_mode=client_mode,
        role=role,
        scopes=scopes,
        display_name=display_name,
    )
    try:
        await client.connect()
    except PairingRequired as exc:
        return Attempt(identity, exc.request_id, exc.reason)
    await client.close()
    return Attempt(identity, None, "admitted")


def reset_pairing(gw: RealGateway) -> None:
    """Forget every pending request and paired device, through the gateway's own RPC."""

    async def clear() -> None:
        async with GatewayClient(
            gw.url, token=gw.token, identity=None, scopes=("operator.admin",), device_fallback=LOCAL_DEVICE
        ) as client:
            listing = await client.list_pairing()
            for request in listing.pending:
                await client.reject(request.request_id)
            for device in listing.paired:
                if device.device_id != client.device_id:  # its own fallback device, if it presented one
                    await client.remove(device.device_id)

    asyncio.run(clear())


def request_from(
    ns: ClientNetns, gw: RealGateway, identity: DeviceIdentity | None = None, **kw: object
) -> Attempt:
    """Connect from the client namespace (a remote peer at ``ns.client_ip``) and return the attempt."""
    ident = identity or DeviceIdentity.generate()
    url = gw.url_via(ns.host_ip)
    return ns.call(lambda: asyncio.run(connect_device(url, gw.token, ident, **kw)))  # type: ignore[arg-type]
