"""identity: the entrypoint writes the storage this release reads, and the real node host presents it.

1. ``openclaw-entrypoint --init-only`` (format ``auto``) into an empty state dir, told the release only by
   OPENCLAW_VERSION (an init container without OpenClaw);
2. the real ``openclaw node run`` of the release, a remote peer, asks for pairing with exactly the
   published deviceId;
3. after approval, a recreated container: a new, empty state dir initialised from the same slot, this
   time with the release's ``openclaw`` on PATH (``auto`` reads its package.json) → the same storage, and
   the node host connects with no new request.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sidecar.identity.detect import detect_format
from tests.compat.util import admin_call, connected_nodes, init_only, node_host, pairing, wait_for
from tests.harness.devices import LOCAL_DEVICE
from tests.harness.gateway import RealGateway, openclaw_bin
from tests.harness.netns import ClientNetns

pytestmark = [pytest.mark.gateway, pytest.mark.netns]


def storage(state: Path) -> tuple[str, str]:
    """(storage, deviceId) of what the entrypoint wrote into a state dir; exactly one of the two."""
    db, legacy = state / "state/openclaw.sqlite", state / "identity/device.json"
    assert db.is_file() != legacy.is_file(), f"expected exactly one identity store in {state}"
    if legacy.is_file():
        return "json", str(json.loads(legacy.read_text())["deviceId"])
    with sqlite3.connect(db) as con:
        row = con.execute("SELECT device_id FROM device_identities WHERE identity_key='primary'").fetchone()
    return "sqlite", str(row[0])


def pending_of(gw: RealGateway, name: str) -> list[Any]:
    return [p for p in pairing(gw).pending if p.display_name == name]


def test_auto_format_agrees_from_version_and_from_the_installed_package(
    gateway: RealGateway, tmp_path: Path
) -> None:
    told = detect_format("auto", {"OPENCLAW_VERSION": gateway.version, "PATH": ""}, tmp_path)
    path = f"{openclaw_bin(gateway.version).parent}"
    found = detect_format("auto", {"PATH": path}, tmp_path)
    assert told.format == found.format, (told.reason, found.reason)
    assert found.release == gateway.version, found.reason


def test_node_host_presents_the_published_device_and_a_recreated_state_dir_connects(
    gateway: RealGateway, client_ns: ClientNetns, tmp_path: Path
) -> None:
    ids = tmp_path / "identity-volume"
    first = init_only(ids, tmp_path / "home1", version=gateway.version, openclaw_on_path=None)
    assert first["source"] == "created"
    kind, stored = storage(tmp_path / "home1/.openclaw")
    assert stored == first["deviceId"]

    name = f"compat-{gateway.version}"
    with node_host(gateway, client_ns, tmp_path / "home1", name, tmp_path / "node1.log"):
        pending = wait_for(
            "the node host's pairing request",
            lambda: pending_of(gateway, name),
            within=120,
        )
    assert [p.device_id for p in pending] == [first["deviceId"]], (tmp_path / "node1.log").read_text()[-3000:]
    assert pending[0].remote_ip == client_ns.client_ip
    admin_call(gateway, lambda c: c.approve(pending[0].request_id))

    second = init_only(ids, tmp_path / "home2", version=None, openclaw_on_path=gateway.version)
    assert (second["deviceId"], second["source"]) == (first["deviceId"], "existing")
    assert storage(tmp_path / "home2/.openclaw") == (kind, first["deviceId"])
    with node_host(gateway, client_ns, tmp_path / "home2", name, tmp_path / "node2.log"):
        nodes = wait_for(
            "the recreated node host to connect",
            lambda: {k: v for k, v in connected_nodes(gateway).items() if v == name},
            within=120,
        )
        listing = pairing(gateway)
    log = (tmp_path / "node2.log").read_text()[-3000:]
    assert first["deviceId"] in nodes, (nodes, log)
    assert [p for p in listing.pending if p.device_id == first["deviceId"]] == [], log
    assert [d.device_id for d in listing.paired if d.device_id != LOCAL_DEVICE().device_id] == [
        first["deviceId"]
    ]
