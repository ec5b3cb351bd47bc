"""Attested enrollment over the real HTTP endpoint, the real client library and the fake API (TokenReview,
pods, ConfigMap), with the pod-side client ``openclaw-enroll`` uses; and the pinned-annotation identity
through the strict policy. Every refusal is a 4xx with its reason, and audited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sidecar.identity.enroll import enroll, enroll_payload
from sidecar.identity.keys import DeviceIdentity
from sidecar.policy import Action, History, decide
from sidecar.settings import PolicySettings
from sidecar.sources.kubernetes import (
    DEVICE_ID_ANNOTATION,
    Enroller,
    EnrollmentServer,
    EnrollPolicy,
    KubeAPI,
    pod_info,
    workload_for,
)
from tests.harness.kubeapi import FakeKubeAPI
from tests.unit.pairing_fixtures import NOW, request

OPT_IN = {"openclaw.pairing.auto-approve": "true"}
NS = "agents"
CM = "openclaw-pairing-enrollments"


@pytest.fixture
def fake() -> Iterator[FakeKubeAPI]:
    api = FakeKubeAPI().start()
    api.add_configmap("openclaw", CM)
    yield api
    api.stop()


Scenario = Callable[[str, Enroller, list[dict[str, Any]]], Awaitable[None]]


def with_endpoint(fake: FakeKubeAPI, tmp_path: Path, scenario: Scenario, rate_limit: int = 50) -> None:
    async def main() -> None:
        api = await KubeAPI.connect(str(fake.kubeconfig(tmp_path / "kubeconfig", "openclaw")))
        policy = EnrollPolicy(
            namespaces=frozenset({NS}),
            audience="openclaw-pairing",
            service_accounts=frozenset(),
            label_opt_in="openclaw.pairing.auto-approve",
            label_opt_in_value="true",
            rate_limit=rate_limit,
            configmap=CM,
            configmap_namespace="openclaw",
        )
        enroller = Enroller(api, policy)
        audit: list[dict[str, Any]] = []
        server = EnrollmentServer(enroller, "127.0.0.1", 0, audit.append)
        await server.start()
        try:
            await scenario(f"http://127.0.0.1:{server.port}", enroller, audit)
        finally:
            await server.stop()
            await api.close()

    asyncio.run(main())


async def post(url: str, key: DeviceIdentity, uid: str, token: str) -> tuple[int, dict[str, Any]]:
    return await asyncio.to_thread(enroll, url, key, uid, token)


def test_enrolls_once_remembers_in_the_configmap_and_is_idempotent(fake: FakeKubeAPI, tmp_path: Path) -> None:
    pod = fake.add_pod(NS, "agent-0", labels=OPT_IN, ips=("10.1.0.5",), phase="Pending")
    key = DeviceIdentity.generate()

    async def scenario(url: str, enroller: Enroller, audit: list[dict[str, Any]]) -> None:
        token = fake.issue_token(pod)
        uid = pod["metadata"]["uid"]
        status, answer = await post(url, key, uid, token)
        assert (status, answer["status"], answer["persisted"]) == (201, "enrolled", True), answer
        assert enroller.lookup(uid) is not None
        assert await post(url, key, uid, token) == (
            200,
            {"status": "already-enrolled", "deviceId": key.device_id, "pod": f"{NS}/agent-0"},
        )
        status, answer = await post(url, DeviceIdentity.generate(), uid, token)
        assert status == 409
        assert "already enrolled" in answer["reason"]
        assert [a["action"] for a in audit] == ["enroll", "enroll", "refuse"]
        assert audit[0]["evidence"]["pod"] == "agent-0"
        assert audit[0]["evidence"]["serviceAccount"] == "default"
        # a restarted sidecar remembers
        again = Enroller(enroller._api, enroller.policy)
        assert await again.load() == 1
        assert again.lookup(uid) == enroller.lookup(uid)

    with_endpoint(fake, tmp_path, scenario)
    assert fake.configmaps[("openclaw", CM)]["data"][pod["metadata"]["uid"]]
    assert ("PATCH", f"/api/v1/namespaces/openclaw/configmaps/{CM}") in fake.requests
    assert not [p for _, p in fake.requests if "secret" in p or "/exec" in p]


def test_refusals_are_4xx_with_reasons_and_audited(fake: FakeKubeAPI, tmp_path: Path) -> None:
    mine = fake.add_pod(NS, "mine", labels=OPT_IN, ips=("10.1.0.5",))
    other = fake.add_pod(NS, "other", labels=OPT_IN, ips=("10.1.0.6",))
    plain = fake.add_pod(NS, "plain", ips=("10.1.0.7",))
    outside = fake.add_pod("elsewhere", "x", labels=OPT_IN, ips=("10.1.0.8",))
    pinned = fake.add_pod(NS, "pinned", labels=OPT_IN, annotations={DEVICE_ID_ANNOTATION: "ab" * 32})
    key = DeviceIdentity.generate()

    async def scenario(url: str, enroller: Enroller, audit: list[dict[str, Any]]) -> None:
        uid = mine["metadata"]["uid"]
        cases = [
            (
                await post(url, key, uid, fake.issue_token(other)),
                403,
                "the token belongs to pod agents/other",
            ),
            (await post(url, key, uid, "not-a-token"), 401, "token not authenticated"),
            (await post(url, key, uid, fake.issue_token(mine, audience="kube")), 401, "not authenticated"),
            (
                await post(url, key, plain["metadata"]["uid"], fake.issue_token(plain)),
                403,
                "is not labelled openclaw.pairing.auto-approve=true",
            ),
            (
                await post(url, key, outside["metadata"]["uid"], fake.issue_token(outside)),
                403,
                "namespace elsewhere is not watched",
            ),
            (
                await post(url, key, pinned["metadata"]["uid"], fake.issue_token(pinned)),
                409,
                "annotated with deviceId",
            ),
        ]
        for (status, answer), want_status, want_reason in cases:
            assert status == want_status, answer
            assert want_reason in answer["reason"], answer
        # a wrong signature: signed over another pod UID
        nonce = enroller.nonce()
        body = {
            "deviceId": key.device_id,
            "publicKey": key.public_key_b64url,
            "podUid": uid,
            "nonce": nonce,
            "signature": key.sign(enroll_payload(nonce, "another-uid", key.device_id, key.public_key_b64url)),
            "token": fake.issue_token(mine),
        }
        outcome = await enroller.enroll(body, "10.1.0.5")
        assert outcome.status == 403
        assert "signature does not verify" in outcome.body["reason"]
        replay = await enroller.enroll(body, "10.1.0.5")
        assert replay.status == 400
        assert "nonce" in replay.body["reason"]
        assert all(a["action"] == "refuse" and a["reason"] for a in audit)
        assert len(audit) == len(cases)
        fake.delete_pod(NS, "mine")
        status, answer = await post(url, key, uid, fake.issue_token(mine))
        assert (status, "does not exist" in answer["reason"]) == (403, True)
        assert enroller.enrollments == {}

    with_endpoint(fake, tmp_path, scenario)


def test_rate_limited_per_client_address(fake: FakeKubeAPI, tmp_path: Path) -> None:
    async def scenario(url: str, enroller: Enroller, audit: list[dict[str, Any]]) -> None:
        statuses = [(await post(url, DeviceIdentity.generate(), "u", "t"))[0] for _ in range(4)]
        assert statuses[:2] == [401, 401]
        assert statuses[2:] == [429, 429]
        assert "at most 2 a minute" in audit[-1]["reason"]

    with_endpoint(fake, tmp_path, scenario, rate_limit=2)


def test_pinned_annotation_binds_the_key_through_the_strict_policy() -> None:
    key, other = DeviceIdentity.generate(), DeviceIdentity.generate()
    raw = {
        "metadata": {
            "name": "a",
            "namespace": NS,
            "uid": "u1",
            "labels": OPT_IN,
            "annotations": {DEVICE_ID_ANNOTATION: key.device_id, "openclaw.pairing/scopes": "operator.read"},
        },
        "spec": {"nodeName": "n"},
        "status": {"phase": "Running", "podIPs": [{"ip": "10.1.0.5"}]},
    }
    w = workload_for(
        pod_info(raw),
        label_roles="openclaw.pairing.roles",
        label_scopes="openclaw.pairing.scopes",
        enrolled=None,
    )
    settings = PolicySettings(project=None, project_auto=False)
    ok = decide(
        request(key.public(), remote_ip="10.1.0.5", scopes=("operator.read",)),
        [w],
        {},
        settings,
        History(),
        NOW,
    )
    assert ok.action is Action.APPROVE, ok.reason
    assert ok.evidence["container"]["identitySource"] == "annotation"
    wrong = decide(request(other.public(), remote_ip="10.1.0.5"), [w], {}, settings, History(), NOW)
    assert wrong.action is Action.REJECT
    assert "pinned" in wrong.reason
    elsewhere = decide(request(key.public(), remote_ip="10.9.9.9"), [w], {}, settings, History(), NOW)
    assert elsewhere.action is Action.REJECT
    assert "not an address of" in elsewhere.reason
    asked = request(key.public(), remote_ip="10.1.0.5", scopes=("operator.write",))
    too_much = decide(asked, [w], {}, settings, History(), NOW)
    assert too_much.action is Action.REJECT
    assert "not allowed" in too_much.reason
