"""The gateway client and the pairing CLI against the real OpenClaw gateways (2026.9.6 and 2026.2.26).

Remote peers come from the client namespace (``client_ns``); this process sits on the gateway's
loopback, where the sidecar runs in production. Each test gets a gateway with empty pairing state.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sidecar.errors import (
    AuthFailed,
    GatewayRequestError,
    MissingScope,
    PairingRequired,
)
from sidecar.gateway import protocol as proto
from sidecar.gateway.client import GatewayClient
from sidecar.gateway.models import GatewayEvent
from sidecar.gateway.scopes import scopes_to_approve
from sidecar.gateway.session import GatewaySession
from sidecar.identity.keys import DeviceIdentity
from tests.harness.devices import connect_device, request_from
from tests.harness.gateway import RealGateway
from tests.harness.netns import ClientNetns

pytestmark = [pytest.mark.integration, pytest.mark.gateway]
REPO = Path(__file__).resolve().parents[2]


def admin(gw: RealGateway, **kw: Any) -> GatewayClient:
    """The sidecar's position: gateway-client/backend on the gateway's loopback, shared token, no device."""
    kw.setdefault("scopes", ("operator.pairing",))
    return GatewayClient(gw.url, token=gw.token, identity=None, **kw)


async def until(predicate: Callable[[], bool], limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def sidecar_cli(
    gw: RealGateway, *args: str, env: dict[str, str] | None = None, argv_prefix: list[str] | None = None
):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_")}
    full_env.update({"OPENCLAW_GATEWAY_URL": gw.url, "OPENCLAW_GATEWAY_TOKEN": gw.token, **(env or {})})
    argv = [*(argv_prefix or []), sys.executable, "-m", "sidecar", *args]
    return subprocess.run(argv, env=full_env, cwd=REPO, capture_output=True, text=True, timeout=60)


# --- the RPCs ------------------------------------------------------------------------------------


def test_hello_reports_version_and_protocol(gateway: RealGateway) -> None:
    async def body() -> None:
        async with admin(gateway) as client:
            assert client.hello is not None
            assert client.hello.protocol == gateway.protocol
            assert client.hello.policy.tick_interval_ms > 0
            assert client.hello.server_version  # "2026.9.6"; 2026.2.26 from npm reports "dev"

    asyncio.run(body())


def test_list_approve_reject_remove(gateway: RealGateway, client_ns: ClientNetns) -> None:
    first = request_from(client_ns, gateway, scopes=("operator.read",))
    second = request_from(client_ns, gateway, scopes=("operator.read",))
    assert first.request_id
    assert second.request_id
    assert first.reason == "not-paired"

    async def body() -> None:
        async with admin(gateway) as client:
            listing = await client.list_pairing()
            assert listing.problems == ()
            pending = {p.request_id: p for p in listing.pending}
            assert set(pending) == {first.request_id, second.request_id}
            req = pending[first.request_id]
            assert req.device_id == first.identity.device_id
            assert req.public_key == first.identity.public_key_b64url
            assert req.remote_ip == client_ns.client_ip
            assert req.scopes == ("operator.read",)
            assert (req.client_id, req.client_mode, req.role, req.silent) == ("cli", "cli", "operator", False)

            needed = scopes_to_approve(req)
            async with admin(gateway, scopes=needed) as approver:
                result = await approver.approve(first.request_id)
            assert result["requestId"] == first.request_id
            assert result["device"]["deviceId"] == first.identity.device_id
            assert "token" not in json.dumps(result).replace('"tokens"', "")

            rejected = await client.reject(second.request_id)
            assert rejected == {"requestId": second.request_id, "deviceId": second.identity.device_id}

            listing = await client.list_pairing()
            assert listing.pending == ()
            (device,) = listing.paired
            assert device.device_id == first.identity.device_id
            assert device.roles == ("operator",)
            assert [t.role for t in device.tokens] == ["operator"]

            with pytest.raises(GatewayRequestError, match="unknown requestId"):
                await client.reject(second.request_id)

            removed = await client.remove(first.identity.device_id)
            assert removed["deviceId"] == first.identity.device_id
            assert (await client.list_pairing()).paired == ()
            with pytest.raises(GatewayRequestError, match="unknown deviceId"):
                await client.remove(first.identity.device_id)

    asyncio.run(body())
    # the approved device is admitted now... until it was removed: then it must ask again
    again = request_from(client_ns, gateway, identity=first.identity, scopes=("operator.read",))
    assert again.request_id is not None


def test_approved_device_is_admitted(gateway: RealGateway, client_ns: ClientNetns) -> None:
    attempt = request_from(client_ns, gateway, scopes=("operator.read",))

    async def approve() -> None:
        async with admin(gateway, scopes=("operator.pairing", "operator.read")) as client:
            await client.approve(attempt.request_id or "")

    asyncio.run(approve())
    assert (
        request_from(client_ns, gateway, identity=attempt.identity, scopes=("operator.read",)).request_id
        is None
    )


def test_approver_must_hold_the_requested_scopes_on_9x(gateway: RealGateway, client_ns: ClientNetns) -> None:
    """2026.6+ refuses to let an approver grant scopes it does not hold; 2026.2 does not check."""
    attempt = request_from(client_ns, gateway, scopes=("operator.read",))

    async def body() -> None:
        async with admin(gateway, scopes=("operator.pairing",)) as client:
            if gateway.protocol >= 4:
                with pytest.raises(MissingScope) as info:
                    await client.approve(attempt.request_id or "")
                assert info.value.scope == "operator.read"
            else:
                await client.approve(attempt.request_id or "")

    asyncio.run(body())


def test_events_arrive_for_a_remote_request(gateway: RealGateway, client_ns: ClientNetns) -> None:
    async def body() -> None:
        events: list[GatewayEvent] = []
        async with admin(gateway, scopes=("operator.pairing", "operator.read")) as client:
            client.subscribe(events.append)
            attempt = await asyncio.to_thread(request_from, client_ns, gateway, scopes=("operator.read",))
            await until(lambda: any(e.event == "device.pair.requested" for e in events))
            requested = next(e for e in events if e.event == "device.pair.requested").pending_request()
            assert requested.request_id == attempt.request_id
            assert requested.device_id == attempt.identity.device_id
            assert requested.remote_ip == client_ns.client_ip

            await client.approve(requested.request_id)
            await until(lambda: any(e.event == "device.pair.resolved" for e in events))
            resolved = next(e for e in events if e.event == "device.pair.resolved").resolved()
            assert (resolved.request_id, resolved.decision) == (attempt.request_id, "approved")

    asyncio.run(body())


# --- refusals ------------------------------------------------------------------------------------


def test_remote_device_gets_pairing_required_with_request_id(
    gateway: RealGateway, client_ns: ClientNetns
) -> None:
    ident = DeviceIdentity.generate()
    url = gateway.url_via(client_ns.host_ip)

    async def attempt() -> PairingRequired:
        client = GatewayClient(url, token=gateway.token, identity=ident, scopes=("operator.pairing",))
        with pytest.raises(PairingRequired) as info:
            await client.connect()
        return info.value

    exc = client_ns.call(lambda: asyncio.run(attempt()))
    assert exc.reason == "not-paired"
    assert exc.request_id
    assert f"openclaw devices approve {exc.request_id}" in str(exc)
    listed = gateway.cli_json("devices", "list")
    (pending,) = listed["pending"]
    assert pending["requestId"] == exc.request_id
    assert pending["clientId"] == "gateway-client"


def test_wrong_token(gateway: RealGateway) -> None:
    async def body() -> None:
        for identity in (None, DeviceIdentity.generate()):
            client = GatewayClient(gateway.url, token="not-the-token", identity=identity)
            with pytest.raises(AuthFailed, match="OPENCLAW_GATEWAY_TOKEN"):
                await client.connect()

    asyncio.run(body())


class ForgedIdentity:
    """Presents one key but signs with another (what a stolen public key alone would give you)."""

    def __init__(self) -> None:
        self._shown, self._signer = DeviceIdentity.generate(), DeviceIdentity.generate()
        self.device_id = self._shown.device_id
        self.public_key_b64url = self._shown.public_key_b64url

    def sign(self, payload: str) -> str:
        return self._signer.sign(payload)


def test_wrong_signature(gateway: RealGateway) -> None:
    async def body() -> None:
        client = GatewayClient(gateway.url, token=gateway.token, identity=ForgedIdentity())  # type: ignore[arg-type]
        with pytest.raises(AuthFailed) as info:
            await client.connect()
        assert "device signature invalid" in str(info.value)
        code = info.value.details.get("code")
        assert code in ("DEVICE_AUTH_SIGNATURE_INVALID", "DEVICE_AUTH_INVALID")

    asyncio.run(body())


def test_stale_signed_at(gateway: RealGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    real = proto.parse_challenge

    def ten_minutes_ago(frame: proto.Frame) -> proto.Challenge:
        challenge = real(frame)
        return proto.Challenge(challenge.nonce, challenge.ts - 600_000)

    monkeypatch.setattr(proto, "parse_challenge", ten_minutes_ago)

    async def body() -> None:
        client = GatewayClient(gateway.url, token=gateway.token, identity=DeviceIdentity.generate())
        with pytest.raises(AuthFailed) as info:
            await client.connect()
        assert "device signature expired" in str(info.value)
        assert "clock" in str(info.value)

    asyncio.run(body())


def test_remote_without_identity_lacks_scopes_on_9x(gateway96: RealGateway, client_ns: ClientNetns) -> None:
    async def body() -> None:
        url = gateway96.url_via(client_ns.host_ip)
        async with GatewayClient(url, token=gateway96.token, identity=None) as client:
            with pytest.raises(MissingScope) as info:
                await client.list_pairing()
            assert info.value.scope == "operator.pairing"

    client_ns.call(lambda: asyncio.run(body()))


# --- the session ---------------------------------------------------------------------------------


def test_session_survives_gateway_restart_and_reconciles(
    gateway: RealGateway, client_ns: ClientNetns
) -> None:
    async def body() -> None:
        connects: list[tuple[bool, int]] = []
        events: list[str] = []
        stop = asyncio.Event()

        async def on_connect(client: GatewayClient, reconnected: bool) -> None:
            connects.append((reconnected, len((await client.list_pairing()).pending)))

        session = GatewaySession(
            lambda: admin(gateway, scopes=("operator.pairing", "operator.read"), connect_timeout=5),
            on_connect=on_connect,
            on_event=lambda e: events.append(e.event),
            max_backoff=2.0,
            initial_backoff=0.2,
        )
        runner = asyncio.create_task(session.run(stop))
        await until(lambda: connects == [(False, 0)])

        await asyncio.to_thread(gateway.restart)
        # While the sidecar was away a device asked; no event reached us, the reconcile must see it.
        attempt = await asyncio.to_thread(request_from, client_ns, gateway, scopes=("operator.read",))
        await until(lambda: len(connects) >= 2 and session.connected, limit=120)
        assert connects[1][0] is True
        if connects[1][1] == 0:  # reconnected before the request landed: then its event must arrive
            await until(lambda: "device.pair.requested" in events)
        assert session.client is not None
        listing = await session.client.list_pairing()
        assert [p.request_id for p in listing.pending] == [attempt.request_id]
        stop.set()
        await asyncio.wait_for(runner, 10)

    asyncio.run(body())


# --- the CLI -------------------------------------------------------------------------------------


def test_cli_list_json_mirrors_openclaw(gateway: RealGateway, client_ns: ClientNetns) -> None:
    request_from(client_ns, gateway, scopes=("operator.read",))
    paired = request_from(client_ns, gateway, scopes=("operator.read",))
    done = sidecar_cli(gateway, "approve", paired.request_id or "")
    assert done.returncode == 0, done.stderr
    gateway.cli_json("devices", "list")  # 2026.2.26's CLI pairs itself (silently) on first use
    ours = sidecar_cli(gateway, "list", "--json")
    assert ours.returncode == 0, ours.stderr
    theirs = gateway.cli_json("devices", "list")
    mine = json.loads(ours.stdout)
    assert without_visit_stamps(mine) == without_visit_stamps(theirs)


def without_visit_stamps(listing: dict[str, Any]) -> dict[str, Any]:
    """Drop what the real CLI's own connection updates (its last-seen and token-use times)."""
    for entry in listing["paired"]:
        entry.pop("lastSeenAtMs", None)
        entry.pop("lastSeenReason", None)
        for token in entry.get("tokens", []):
            token.pop("lastUsedAtMs", None)
    return listing


def test_cli_commands_and_exit_codes(gateway: RealGateway, client_ns: ClientNetns) -> None:
    a = request_from(client_ns, gateway, scopes=("operator.read", "operator.write"))
    b = request_from(client_ns, gateway, scopes=("operator.read",))

    done = sidecar_cli(gateway, "approve", a.request_id or "")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"Approved {a.identity.device_id} ({a.request_id})"
    done = sidecar_cli(gateway, "approve", a.request_id or "")
    assert done.returncode == 1
    assert "No pending device request matches" in done.stderr
    done = sidecar_cli(gateway, "reject", b.request_id or "", "--json")
    assert done.returncode == 0
    assert json.loads(done.stdout)["deviceId"] == b.identity.device_id
    done = sidecar_cli(gateway, "remove", a.identity.device_id)
    assert done.returncode == 0
    assert done.stdout.strip() == f"Removed {a.identity.device_id}"

    done = sidecar_cli(gateway, "-vv", "list", "--token", "wrong-token-value")
    assert done.returncode == 3
    assert "wrong-token-value" not in done.stderr
    done = sidecar_cli(gateway, "-vv", "list")
    assert done.returncode == 0
    assert gateway.token not in done.stderr + done.stdout
    done = sidecar_cli(gateway, "list", "--url", f"ws://127.0.0.1:{gateway.port + 50}", "--json")
    assert done.returncode == 4
    assert json.loads(done.stdout)["error"]["type"] == "gateway_transport_error"


def test_cli_approve_all(gateway: RealGateway, client_ns: ClientNetns) -> None:
    ops = [request_from(client_ns, gateway, scopes=("operator.read",)) for _ in range(2)]
    node = request_from(client_ns, gateway, role="node", scopes=(), client_id="node-host", client_mode="node")

    refused = sidecar_cli(gateway, "approve", "--all", "--yes")  # no OPENCLAW_TRUSTED_ENV
    assert refused.returncode == 3
    assert "OPENCLAW_TRUSTED_ENV" in refused.stderr
    assert len(gateway.cli_json("devices", "list")["pending"]) == 3

    done = sidecar_cli(gateway, "approve", "--all", "--yes", "--json", env={"OPENCLAW_TRUSTED_ENV": "1"})
    report = json.loads(done.stdout)
    assert done.returncode == 1  # the node request was skipped: it needs --admin
    assert sorted(r["requestId"] for r in report["approved"]) == sorted(o.request_id for o in ops)
    assert [r["requestId"] for r in report["skipped"]] == [node.request_id]

    done = sidecar_cli(gateway, "approve", "--all", "--yes", "--admin", env={"OPENCLAW_TRUSTED_ENV": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"Approved {node.identity.device_id} ({node.request_id})"
    assert gateway.cli_json("devices", "list")["pending"] == []


def test_cli_away_from_loopback_needs_its_own_approval(
    gateway: RealGateway, client_ns: ClientNetns, tmp_path: Path
) -> None:
    url = gateway.url_via(client_ns.host_ip)
    env = {"OPENCLAW_GATEWAY_URL": url, "OPENCLAW_PAIRING_STATE_DIR": str(tmp_path)}
    prefix = client_ns.exec_argv([])
    first = sidecar_cli(gateway, "list", env=env, argv_prefix=prefix)
    assert first.returncode == 2, first.stderr
    request_id = first.stderr.split("openclaw devices approve ")[1].split()[0].rstrip(")")
    listed = gateway.cli_json("devices", "list")["pending"]
    assert [p["requestId"] for p in listed] == [request_id]
    approve = gateway.cli("devices", "approve", request_id)
    assert approve.returncode == 0, approve.stderr
    again = sidecar_cli(gateway, "list", "--json", env=env, argv_prefix=prefix)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["paired"][0]["clientId"] == "gateway-client"


def test_harness_device_helper_still_pending(gateway: RealGateway, client_ns: ClientNetns) -> None:
    """connect_device (used by other suites) returns the requestId the gateway lists."""
    ident = DeviceIdentity.generate()
    url = gateway.url_via(client_ns.host_ip)
    attempt = client_ns.call(lambda: asyncio.run(connect_device(url, gateway.token, ident)))
    assert attempt.request_id in {p["requestId"] for p in gateway.cli_json("devices", "list")["pending"]}
