"""doctor: this release's own refusals — the ``res.error`` frame, its message and the close reason, byte for
byte as the gateway sent them to a remote peer — are classified right.

What the release words is not assumed: a message or close reason that names the requirement (2026.6+
style ``pairing required: device is asking for more scopes…``) must give the specific finding; the bare
``pairing required`` (2026.2 style) the generic one; a requestId in the close reason must be the one in
``details``.
"""

from __future__ import annotations

import re

import pytest

from sidecar.doctor.classify import classify
from sidecar.identity.keys import DeviceIdentity
from tests.compat.util import admin_call
from tests.harness.devices import request_from
from tests.harness.gateway import RealGateway
from tests.harness.netns import ClientNetns
from tests.integration.doctor_util import Refusal, refusal

pytestmark = [pytest.mark.gateway, pytest.mark.netns]


def remote(gw: RealGateway, ns: ClientNetns, identity: DeviceIdentity | None = None, **kw: object) -> Refusal:
    url = gw.url_via(ns.host_ip)
    token = kw.pop("token", gw.token)
    return ns.call(lambda: refusal(url, token, identity, **kw))  # type: ignore[arg-type]


def classified(r: Refusal, finding_id: str) -> None:
    for text in (r.frame_text, r.message, r.close_reason):
        assert classify(text).finding_id == finding_id, (finding_id, text)


def error_b(r: Refusal, specific: str) -> None:
    """Pairing required: the frame always carries details.reason; the texts only sometimes."""
    assert r.close_code == 1008, r
    assert classify(r.frame_text).finding_id == specific, r.frame_text
    request_id = r.frame["error"]["details"]["requestId"]
    assert classify(r.frame_text).request_id == request_id
    for text in (r.message, r.close_reason):
        got = classify(text)
        worded = text.split("(requestId")[0].strip().lower() != "pairing required"
        assert got.finding_id == (specific if worded else "error-b.pairing-required"), text
        if re.search(r"\(requestId: [^)\s]+\)", text):  # complete; a reason cut at 120 bytes gives none
            assert got.request_id == request_id, text
        else:
            assert got.request_id in (None, request_id), text


def test_error_a(gateway: RealGateway, client_ns: ClientNetns) -> None:
    ui = remote(
        gateway,
        client_ns,
        client_id="openclaw-control-ui",
        mode="webchat",
        origin=f"http://127.0.0.1:{gateway.port}",
    )
    assert ui.close_code == 1008
    classified(ui, "error-a.insecure-context")
    node = remote(gateway, client_ns, role="node", scopes=())
    assert node.close_code == 1008
    classified(node, "error-a.device-identity-required")


def test_error_b_and_upgrades(gateway: RealGateway, client_ns: ClientNetns) -> None:
    identity = DeviceIdentity.generate()
    error_b(remote(gateway, client_ns, identity), "error-b.pairing-required")
    attempt = request_from(client_ns, gateway, identity=identity, scopes=("operator.read",))
    assert attempt.request_id
    admin_call(gateway, lambda c: c.approve(attempt.request_id or ""))
    more = ("operator.read", "operator.write", "operator.pairing")
    error_b(remote(gateway, client_ns, identity, scopes=more), "error-b.scope-upgrade")
    error_b(remote(gateway, client_ns, identity, role="node", scopes=()), "error-b.role-upgrade")
    error_b(remote(gateway, client_ns, identity, platform="macos"), "error-b.metadata-upgrade")


def test_other_refusals(gateway: RealGateway, client_ns: ClientNetns) -> None:
    identity = DeviceIdentity.generate()
    cases = {
        "auth.token-mismatch": remote(gateway, client_ns, identity, token="wrong-token"),
        "protocol.mismatch": remote(gateway, client_ns, identity, protocols=(9, 9)),
        "device-auth.clock-skew": remote(gateway, client_ns, identity, skew_ms=600_000),
        "device-auth.invalid": remote(gateway, client_ns, identity, forge=True),
        "control-ui.origin-not-allowed": remote(
            gateway, client_ns, client_id="openclaw-control-ui", mode="webchat"
        ),
    }
    for finding_id, r in cases.items():
        classified(r, finding_id)
    missing = remote(gateway, client_ns, identity, token=None)
    for text in (missing.message, missing.close_reason):
        assert classify(text).finding_id == "auth.token-mismatch", text
    assert cases["protocol.mismatch"].close_code == 1002
