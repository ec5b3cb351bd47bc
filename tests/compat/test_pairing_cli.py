"""pairing-cli: ``openclaw-sidecar list --json`` equals the release's ``openclaw devices list --json``, and
``approve`` / ``reject`` / ``remove`` do what the release's own CLI then reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.compat.util import REPO
from tests.harness.devices import request_from
from tests.harness.gateway import RealGateway
from tests.harness.netns import ClientNetns

pytestmark = [pytest.mark.gateway, pytest.mark.netns]


def ours(gw: RealGateway, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_")}
    env.update(OPENCLAW_GATEWAY_URL=gw.url, OPENCLAW_GATEWAY_TOKEN=gw.token)
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def stable(listing: dict[str, Any]) -> dict[str, Any]:
    """Without what each CLI's own connection updates (last-seen and token-use times)."""
    for entry in listing["paired"]:
        entry.pop("lastSeenAtMs", None)
        entry.pop("lastSeenReason", None)
        entry.pop("connected", None)
        for token in entry.get("tokens", []):
            token.pop("lastUsedAtMs", None)
    return listing


def theirs(gw: RealGateway) -> dict[str, Any]:
    return dict(gw.cli_json("devices", "list"))


def test_list_json_equals_openclaw_devices_list(gateway: RealGateway, client_ns: ClientNetns) -> None:
    request_from(client_ns, gateway, scopes=("operator.read",))
    paired = request_from(client_ns, gateway, scopes=("operator.read",))
    done = ours(gateway, "approve", paired.request_id or "")
    assert done.returncode == 0, done.stderr
    theirs(gateway)  # the release's CLI may pair itself (silently, on loopback) on first use
    mine = ours(gateway, "list", "--json")
    assert mine.returncode == 0, mine.stderr
    assert stable(json.loads(mine.stdout)) == stable(theirs(gateway))


def test_approve_reject_remove(gateway: RealGateway, client_ns: ClientNetns) -> None:
    a = request_from(client_ns, gateway, scopes=("operator.read",))
    b = request_from(client_ns, gateway, scopes=("operator.read",))
    assert a.request_id
    assert b.request_id
    assert ours(gateway, "approve", a.request_id).returncode == 0
    assert ours(gateway, "reject", b.request_id).returncode == 0
    listing = theirs(gateway)
    assert not [p for p in listing["pending"] if p["requestId"] in {a.request_id, b.request_id}]
    paired = {d["deviceId"] for d in listing["paired"]}
    assert a.identity.device_id in paired
    assert b.identity.device_id not in paired
    assert request_from(client_ns, gateway, identity=a.identity).request_id is None  # admitted
    assert ours(gateway, "remove", a.identity.device_id).returncode == 0
    assert a.identity.device_id not in {d["deviceId"] for d in theirs(gateway)["paired"]}
    again = ours(gateway, "reject", b.request_id)
    assert again.returncode != 0  # unknown requestId, said so
