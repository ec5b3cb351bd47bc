"""Doctor's node surface findings (sidecar/doctor/checks/node_surface.py), from real 2026.9.6 shapes."""

from __future__ import annotations

from pairing_fixtures import NOW, A

from sidecar.doctor.checks.node_surface import analyze
from sidecar.gateway.node_records import NodePairingList, NodeRequest

PENDING = NodeRequest("3159dbbf", A.device_id, NOW, commands=("system.run", "canvas.present"))


def test_a_pending_surface_names_the_request_to_approve() -> None:
    nodes = [{"nodeId": A.device_id, "approvalState": "pending-approval", "pendingRequestId": "3159dbbf"}]
    (f,) = analyze(A.device_id, nodes, NodePairingList(pending=(PENDING,)))
    assert f.id == "pairing.node-commands-pending"
    assert "openclaw nodes approve 3159dbbf" in f.fix
    assert "1 of them admin-sensitive" in f.seen


def test_a_refused_surface_without_a_request_says_rejected_or_expired() -> None:
    nodes = [{"nodeId": A.device_id, "approvalState": "pending-approval", "connected": True, "commands": []}]
    (f,) = analyze(A.device_id, nodes, NodePairingList())
    assert f.id == "pairing.node-commands-rejected"


def test_approved_and_ungated_releases_say_nothing() -> None:
    approved = [{"nodeId": A.device_id, "approvalState": "approved"}]
    assert analyze(A.device_id, approved, NodePairingList(paired=({"nodeId": A.device_id},))) == []
    ungated = [{"nodeId": A.device_id, "connected": True, "commands": ["system.run"]}]  # 2026.2.26
    assert analyze(A.device_id, ungated, NodePairingList()) == []
