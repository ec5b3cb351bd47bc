"""sidecar: the real ``openclaw-sidecar run`` approves a labelled workload's request, not an unlabelled one's.

No Docker: the workloads are pods of the fake Kubernetes API (tests/harness/kubeapi.py, real HTTP, the real
kubernetes_asyncio client inside the sidecar) whose IP is the client namespace's address, and whose
deviceId is pinned by the ``openclaw.pairing/device-id`` annotation. The devices connect from that
namespace, so the gateway sees them as remote peers at the pod's IP — what the strict policy checks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidecar.identity.keys import DeviceIdentity
from tests.compat.util import admin_call, pairing
from tests.harness.agents import Sidecar, start_sidecar, wait_until
from tests.harness.devices import request_from
from tests.harness.gateway import RealGateway
from tests.harness.kubeapi import FakeKubeAPI
from tests.harness.netns import ClientNetns

pytestmark = [pytest.mark.gateway, pytest.mark.netns]

NS = "agents"
OPT_IN = {"openclaw.pairing.auto-approve": "true"}
PIN = "openclaw.pairing/device-id"


@pytest.fixture
def kube() -> Iterator[FakeKubeAPI]:
    api = FakeKubeAPI().start()
    api.add_configmap(NS, "openclaw-pairing-enrollments")
    yield api
    api.stop()


@pytest.fixture
def sidecar(gateway: RealGateway, kube: FakeKubeAPI, tmp_path: Path) -> Iterator[Sidecar]:
    env = {
        "OPENCLAW_PAIRING_SOURCE": "kubernetes",
        "OPENCLAW_PAIRING_NAMESPACES": NS,
        "OPENCLAW_PAIRING_STATE_DIR": str(tmp_path / "sidecar-state"),
        "KUBECONFIG": str(kube.kubeconfig(tmp_path / "kubeconfig", NS)),
    }
    sc = start_sidecar(gateway, tmp_path, project=NS, trusted=True, env=env)
    yield sc
    sc.stop()


def test_labelled_workload_approved_unlabelled_not(
    gateway: RealGateway, client_ns: ClientNetns, kube: FakeKubeAPI, sidecar: Sidecar
) -> None:
    # An unlabelled pod at the namespace's address, pinning its key: its request must stay pending.
    stranger = DeviceIdentity.generate()
    kube.add_pod(NS, "stranger", annotations={PIN: stranger.device_id}, ips=(client_ns.client_ip,))
    ignored = request_from(client_ns, gateway, stranger)
    assert ignored.request_id
    time.sleep(3)  # an event-driven decision takes ~20 ms; ignoring is not audited, so give it time
    record = sidecar.record_for(ignored.request_id)
    assert record is None or record["action"] != "approve", record
    assert ignored.request_id in {p.request_id for p in pairing(gateway).pending}
    admin_call(gateway, lambda c: c.reject(ignored.request_id or ""))
    kube.delete_pod(NS, "stranger")

    # The labelled pod: approved, and the device then connects.
    key = DeviceIdentity.generate()
    kube.add_pod(NS, "agent-0", labels=OPT_IN, annotations={PIN: key.device_id}, ips=(client_ns.client_ip,))
    attempt = request_from(client_ns, gateway, key)

    def approval() -> dict[str, Any] | None:
        if attempt.request_id:
            return sidecar.record_for(attempt.request_id)
        # The sidecar can approve before the gateway answers this very connect (seen on 2026.9.6 when the
        # pod was already watched): then the connect is admitted, and the audit shows the approval.
        found = [r for r in sidecar.records() if r.get("deviceId") == key.device_id]
        return found[-1] if found else None

    record = wait_until("the approval", approval, within=15)
    assert (record["action"], record["outcome"]) == ("approve", "sent"), record
    assert record["evidence"]["request"]["remoteIp"] == client_ns.client_ip
    assert request_from(client_ns, gateway, key).request_id is None, "the approved device connects"
    assert sidecar.record_for(ignored.request_id) is None or ignored.request_id not in {
        r["requestId"] for r in sidecar.records() if r.get("action") == "approve"
    }
