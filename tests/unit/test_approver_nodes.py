"""Node capability surfaces through the approver loop: events, reconcile, the gate, audit, metrics, once."""

from __future__ import annotations

from dataclasses import replace

from pairing_fixtures import NOW, A, paired, workload
from test_approver import Harness, run, settings, until

from sidecar.errors import GatewayRequestError
from sidecar.gateway.node_records import NodeRequest

NODE_AGENT = workload(
    extra_labels={
        "openclaw.pairing.roles": "node",
        "openclaw.pairing.scopes": "",
        "openclaw.pairing.node-commands": "canvas.present,system.run",
    }
)
SURFACE = NodeRequest(
    "node-req-1", A.device_id, NOW - 1000, commands=("canvas.present",), remote_ip="172.18.0.5"
)
PAIRED_NODE = paired(A, role="node", roles=("node",), scopes=())


def harness(trusted: bool = True, **kw: object) -> Harness:
    h = Harness(settings(trusted, allow_node_role=True, **kw), (NODE_AGENT,))
    h.gw.paired[A.device_id] = PAIRED_NODE
    return h


def test_a_requested_surface_is_approved_audited_and_counted() -> None:
    async def body() -> None:
        h = harness()
        await h.start()
        h.gw.node_pending[SURFACE.request_id] = SURFACE
        await h.session.event("node.pair.requested", SURFACE.to_json())
        await until(lambda: h.gw.rpcs == [("node-approve", "node-req-1")])
        await h.settle()
        (rec,) = h.records
        assert (rec["kind"], rec["action"], rec["outcome"], rec["deviceId"]) == (
            "node",
            "approve",
            "sent",
            A.device_id,
        )
        assert rec["evidence"]["request"]["commands"] == ["canvas.present"]
        assert h.metric("openclaw_pairing_decisions_total", action="approve", check="all-passed") == 1
        await h.finish()

    run(body)


def test_without_the_trusted_flag_no_node_rpc_is_sent() -> None:
    async def body() -> None:
        h = harness(trusted=False)
        h.gw.node_pending[SURFACE.request_id] = SURFACE
        await h.start()
        await h.settle()
        assert h.gw.rpcs == []
        assert [r["action"] for r in h.records] == ["would-approve"]
        await h.finish()

    run(body)


def test_commands_beyond_the_label_are_rejected_with_the_reason() -> None:
    async def body() -> None:
        h = harness()
        wide = replace(SURFACE, commands=("canvas.present", "camera.snap"))
        h.gw.node_pending[wide.request_id] = wide
        await h.start()
        await until(lambda: h.gw.rpcs == [("node-reject", "node-req-1")])
        (rec,) = h.records
        assert rec["check"] == "node-commands"
        assert "camera.snap" in rec["reason"]
        await h.finish()

    run(body)


def test_once_counts_node_surfaces_that_need_a_human() -> None:
    async def body() -> None:
        h = harness(trusted=False)
        h.gw.node_pending[SURFACE.request_id] = SURFACE
        assert await h.approver.once(5) == 1

    run(body)


def test_explain_knows_node_surfaces() -> None:
    async def body() -> None:
        h = harness()
        h.gw.node_pending[SURFACE.request_id] = SURFACE
        d = await h.approver.explain("node-req-1", 5)
        assert (d.evidence["kind"], d.check) == ("node", "all-passed")
        assert h.gw.rpcs == []

    run(body)


def test_a_gateway_without_node_pairing_is_skipped_quietly() -> None:
    async def body() -> None:
        h = harness()

        async def unknown() -> None:
            raise GatewayRequestError("unknown method: node.pair.list", code="INVALID_REQUEST")

        await h.start()
        client = h.session.client
        client.list_node_pairing = unknown  # type: ignore[method-assign,assignment]
        h.approver.trigger("test")
        await h.settle()
        assert h.approver._pass.nodes_unsupported
        await h.finish()

    run(body)
