"""Issue 13 end to end: the real sidecar process, the real OpenClaw gateway, the fake Kubernetes API.

"A pod" is the client network namespace: the fake API (tests/harness/kubeapi.py, real HTTP, driven by the
real kubernetes_asyncio client inside the sidecar) reports the namespace's address as the pod's IP. The
init step enrolls over the sidecar's real HTTP endpoint from that namespace, with a token the fake API's
TokenReview binds to the pod; then the device connects from there and the sidecar decides.

1. enrolled, labelled, Running pod → approved within 1 s of the request (both gateway versions); the
   device then connects; enroll → request → approval latency measured;
2. labelled pod without enrollment → stays pending;
3. another pod's token, a wrong signature, a pod outside the namespace, a pod without the label →
   refused over HTTP with reasons in the audit;
4. without OPENCLAW_TRUSTED_ENV → would-approve only;
5. 5,000 pods in the fake API: the sidecar's memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sidecar.identity.enroll import enroll, enroll_payload
from sidecar.identity.keys import DeviceIdentity
from tests.harness.agents import Sidecar, free_port, start_sidecar, wait_until
from tests.harness.devices import request_from
from tests.harness.gateway import RealGateway
from tests.harness.kubeapi import FakeKubeAPI
from tests.harness.netns import ClientNetns

pytestmark = [pytest.mark.integration, pytest.mark.gateway, pytest.mark.netns]

NS = "agents"
OPT_IN = {"openclaw.pairing.auto-approve": "true"}


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[FakeKubeAPI]:
    api = FakeKubeAPI().start()
    api.add_configmap(NS, "openclaw-pairing-enrollments")
    yield api
    api.stop()


@pytest.fixture
def k8s_sidecar(kube: FakeKubeAPI, tmp_path: Path) -> Iterator[Callable[..., tuple[Sidecar, str]]]:
    started: list[Sidecar] = []

    def start(gw: RealGateway, client_ns: ClientNetns, *, trusted: bool = True) -> tuple[Sidecar, str]:
        port = free_port()
        env = {
            "OPENCLAW_PAIRING_SOURCE": "kubernetes",
            "OPENCLAW_PAIRING_NAMESPACES": NS,
            "OPENCLAW_PAIRING_ENROLL_LISTEN": f"{client_ns.host_ip}:{port}",
            "KUBECONFIG": str(kube.kubeconfig(tmp_path / "kubeconfig", NS)),
        }
        sc = start_sidecar(gw, tmp_path, project=NS, trusted=trusted, env=env)
        started.append(sc)
        return sc, f"http://{client_ns.host_ip}:{port}"

    yield start
    for sc in started:
        sc.stop()


def enroll_from(
    ns: ClientNetns, url: str, key: DeviceIdentity, uid: str, token: str
) -> tuple[int, dict[str, Any]]:
    return ns.call(lambda: enroll(url, key, uid, token))


def approval_of(sc: Sidecar, key: DeviceIdentity) -> dict[str, Any] | None:
    """The approval of ``key``'s device in the audit (found by device: 2026.9.6 may admit the very connect
    the approval lands during, and then the client never saw a requestId)."""
    records = sc.records()
    mine = [r for r in records if r.get("deviceId") == key.device_id and r.get("action") == "approve"]
    return mine[0] if mine else None


def enrollment_records(sc: Sidecar) -> list[dict[str, Any]]:
    return [r for r in sc.records() if r.get("event") == "enrollment"]


def test_enrolled_pod_is_approved_on_its_request(
    gateway: RealGateway, client_ns: ClientNetns, kube: FakeKubeAPI, k8s_sidecar: Callable[..., Any]
) -> None:
    sc, url = k8s_sidecar(gateway, client_ns)
    pod = kube.add_pod(NS, "agent-0", labels=OPT_IN, ips=(client_ns.client_ip,), phase="Pending")
    key = DeviceIdentity.generate()
    t0, started_ms = time.monotonic(), time.time_ns() // 1_000_000
    status, answer = enroll_from(client_ns, url, key, pod["metadata"]["uid"], kube.issue_token(pod))
    enroll_ms = (time.monotonic() - t0) * 1000
    assert status == 201, answer
    kube.update_pod(NS, "agent-0", phase="Running")  # the init step is done, the agent starts
    attempt = request_from(client_ns, gateway, key)
    # 2026.9.6 holds a connect a moment: an approval landing meanwhile admits that same connect, and the
    # client never sees a requestId (seen in make test); either way the audit has the approval.
    assert attempt.request_id or attempt.reason == "admitted", attempt
    record = wait_until("the approval", lambda: approval_of(sc, key), within=30)
    assert attempt.request_id in (None, record["requestId"]), (attempt, record)
    assert record["action"] == "approve", record
    assert record["outcome"] == "sent", record
    latency_ms = record["timeMs"] - record["evidence"]["request"]["ts"]  # measured, never asserted
    evidence = record["evidence"]["container"]
    assert evidence["namespace"] == NS
    assert evidence["pod"] == "agent-0"
    assert evidence["podUid"] == pod["metadata"]["uid"]
    assert evidence["identitySource"] == "enrollment"
    assert record["evidence"]["request"]["remoteIp"] == client_ns.client_ip
    assert request_from(client_ns, gateway, key).request_id is None, "the approved device connects"
    total_ms = record["timeMs"] - started_ms
    print(
        f"\nMEASURE gateway {gateway.version}: enroll {enroll_ms:.0f} ms; request->approval {latency_ms} ms; "
        f"enroll start->approval {total_ms} ms"
    )
    assert not [p for _, p in kube.requests if "secret" in p or "/exec" in p]


def test_labelled_pod_without_enrollment_stays_pending(
    gateway96: RealGateway, client_ns: ClientNetns, kube: FakeKubeAPI, k8s_sidecar: Callable[..., Any]
) -> None:
    sc, _ = k8s_sidecar(gateway96, client_ns)
    kube.add_pod(NS, "agent-0", labels=OPT_IN, ips=(client_ns.client_ip,))
    attempt = request_from(client_ns, gateway96)
    record = wait_until("the decision", lambda: sc.record_for(attempt.request_id or ""), within=10)
    assert record["action"] == "ignore", record
    assert "no deviceId known" in record["reason"]
    time.sleep(1.0)
    assert request_from(client_ns, gateway96, attempt.identity).request_id, "still pending"


def test_refusals_over_http_are_audited_with_reasons(
    gateway96: RealGateway, client_ns: ClientNetns, kube: FakeKubeAPI, k8s_sidecar: Callable[..., Any]
) -> None:
    sc, url = k8s_sidecar(gateway96, client_ns)
    mine = kube.add_pod(NS, "mine", labels=OPT_IN, ips=(client_ns.client_ip,))
    other = kube.add_pod(NS, "other", labels=OPT_IN, ips=("10.99.0.2",))
    plain = kube.add_pod(NS, "plain", ips=("10.99.0.3",))
    outside = kube.add_pod("elsewhere", "x", labels=OPT_IN, ips=("10.99.0.4",))
    key = DeviceIdentity.generate()
    uid = mine["metadata"]["uid"]
    cases = [
        (uid, kube.issue_token(other), "the token belongs to pod agents/other"),
        (plain["metadata"]["uid"], kube.issue_token(plain), "is not labelled"),
        (outside["metadata"]["uid"], kube.issue_token(outside), "namespace elsewhere is not watched"),
    ]
    for pod_uid, token, reason in cases:
        status, answer = enroll_from(client_ns, url, key, pod_uid, token)
        assert status == 403, answer
        assert reason in answer["reason"]
    wrong_key = DeviceIdentity.generate()  # signs, while the body claims `key`
    liar = SimpleNamespace(
        device_id=key.device_id, public_key_b64url=key.public_key_b64url, sign=wrong_key.sign
    )
    status, answer = enroll_from(
        client_ns,
        url,
        liar,
        uid,
        kube.issue_token(mine),
    )
    assert status == 403, answer
    assert "signature does not verify" in answer["reason"]
    refused = wait_until(
        "four audit records", lambda: len(enrollment_records(sc)) >= 4 and enrollment_records(sc)
    )
    assert [r["action"] for r in refused] == ["refuse"] * 4
    assert all(r["reason"] and r["httpStatus"] == 403 for r in refused)
    assert enroll_payload("n", "u", "d", "k") == "openclaw-pairing-enroll|v1|n|u|d|k"


def test_without_the_trusted_flag_only_would_approve(
    gateway96: RealGateway, client_ns: ClientNetns, kube: FakeKubeAPI, k8s_sidecar: Callable[..., Any]
) -> None:
    sc, url = k8s_sidecar(gateway96, client_ns, trusted=False)
    pod = kube.add_pod(NS, "agent-0", labels=OPT_IN, ips=(client_ns.client_ip,))
    key = DeviceIdentity.generate()
    assert enroll_from(client_ns, url, key, pod["metadata"]["uid"], kube.issue_token(pod))[0] == 201
    attempt = request_from(client_ns, gateway96, key)
    record = wait_until("the decision", lambda: sc.record_for(attempt.request_id or ""), within=10)
    assert record["action"] == "would-approve", record
    assert record["outcome"].startswith("observe-only"), record
    time.sleep(1.0)
    assert request_from(client_ns, gateway96, key).request_id, "still pending"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_memory_with_5000_pods(
    gateway96: RealGateway, client_ns: ClientNetns, kube: FakeKubeAPI, k8s_sidecar: Callable[..., Any]
) -> None:
    for i in range(5000):
        kube.add_pod(
            NS,
            f"agent-{i}",
            labels={**OPT_IN, "app": "agent"},
            ips=(f"10.{100 + i // 65000}.{i // 250}.{i % 250 + 1}",),
            annotations={"openclaw.pairing/device-id": f"{i:064x}"},
            owner=("StatefulSet", "agent"),
        )
    t0 = time.monotonic()
    sc, _ = k8s_sidecar(gateway96, client_ns)  # returns once /readyz: listed, watching, first pass done
    ready_s = time.monotonic() - t0
    time.sleep(2.0)
    rss = rss_kib(sc.proc.pid)
    kube.add_pod(NS, "late", labels=OPT_IN, ips=(client_ns.client_ip,))
    key = DeviceIdentity.generate()
    kube.update_pod(NS, "late", annotations={"openclaw.pairing/device-id": key.device_id})
    request_from(client_ns, gateway96, key)
    record = wait_until("the approval", lambda: approval_of(sc, key), within=30)
    assert record["action"] == "approve", record
    latency_ms = record["timeMs"] - record["evidence"]["request"]["ts"]
    print(
        f"\nMEASURE 5000 pods: sidecar RSS {rss / 1024:.1f} MiB, ready after {ready_s:.1f} s, "
        f"approval {latency_ms} ms after the request"
    )
    assert rss < 300 * 1024
    assert latency_ms < 1000
