"""The approver loop with a fake gateway, a fake workload source and a fake clock.

Each test runs the real loop (``Approver.run``) in asyncio and watches what a gateway would see (the RPC
log), what an auditor would read (the JSONL records) and what Prometheus would scrape.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

import pytest
from pairing_fixtures import (
    NOW,
    PROJECT,
    A,
    B,
    C,
    FakeClient,
    FakeClock,
    FakeGateway,
    FakeSession,
    FakeSource,
    ident,
    paired_from,
    policy,
    request,
    workload,
)

from sidecar.approver import Approver
from sidecar.approver.audit import AuditLog
from sidecar.errors import GatewayClosed, GatewayRequestError
from sidecar.metrics import Metrics
from sidecar.policy import Action
from sidecar.settings import Mode, PolicySettings, Settings
from sidecar.sources.workloads import Workload

AGENT = workload()


def settings(trusted: bool = True, **kw: Any) -> Settings:
    mode = kw.pop("mode", Mode.STRICT)
    return Settings(trusted=trusted, policy=policy(mode, **kw), reconcile_interval_s=30.0)


class Harness:
    def __init__(self, cfg: Settings, workloads: tuple[Workload, ...] = (AGENT,), grace: float = 4.0) -> None:
        self.gw = FakeGateway()
        self.source = FakeSource(workloads)
        self.out = io.StringIO()
        self.metrics = Metrics()
        self.clock = FakeClock()
        self.sessions: list[FakeSession] = []
        self.on_rpc: Callable[[str, str], None] | None = None

        def factory(on_connect: Any, on_event: Any, on_disconnect: Any) -> FakeSession:
            client = FakeClient(self.gw, lambda m, r: self.on_rpc(m, r) if self.on_rpc else None)
            session = FakeSession(client, on_connect, on_event, on_disconnect)
            self.sessions.append(session)
            return session

        self.approver = Approver(
            cfg,
            session_factory=factory,
            source=self.source,
            audit=AuditLog("-", stream=self.out),
            metrics=self.metrics,
            clock=self.clock,
            project=PROJECT,
            tick_s=0.02,
            shutdown_grace_s=grace,
        )
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    @property
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.getvalue().splitlines()]

    @property
    def session(self) -> FakeSession:
        return self.sessions[-1]

    async def start(self) -> None:
        self.task = asyncio.create_task(self.approver.run(self.stop))
        await until(lambda: self.approver.state.first_reconcile_done)

    async def finish(self) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 5)

    async def settle(self) -> None:
        """Let the worker finish whatever it was triggered to do."""
        for _ in range(30):
            await asyncio.sleep(0.01)

    async def requested(self, *requests: Any) -> None:
        self.gw.add(*requests)
        for r in requests:
            await self.session.event("device.pair.requested", r.to_json())

    def metric(self, name: str, **labels: str) -> float | None:
        value = self.metrics.registry.get_sample_value(name, labels)
        return value


async def until(predicate: Callable[[], bool], limit: float = 3.0) -> None:
    """Poll a condition on the fakes (they have no events to await)."""
    async with asyncio.timeout(limit):
        while not predicate():  # noqa: ASYNC110 - polling plain state of the fakes
            await asyncio.sleep(0.005)


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


# --- the happy path and what it leaves behind ------------------------------------------------------


def test_requested_event_leads_to_approval_audit_and_metrics() -> None:
    async def body() -> None:
        h = Harness(settings())
        await h.start()
        await h.requested(request())
        await until(lambda: h.gw.rpcs == [("approve", request().request_id)])
        await h.settle()
        assert A.device_id in h.gw.paired
        assert not h.gw.pending
        (rec,) = h.records
        assert (rec["action"], rec["check"], rec["outcome"], rec["trusted"]) == (
            "approve",
            "all-passed",
            "sent",
            True,
        )
        assert rec["gatewayVersion"] == "2026.9.6"
        assert rec["evidence"]["container"]["containerName"] == "agent"
        assert h.metric("openclaw_pairing_decisions_total", action="approve", check="all-passed") == 1
        assert h.metric("openclaw_pairing_decision_latency_seconds_count", action="approve") == 1
        assert h.metric("openclaw_pairing_gateway_connected") == 1
        assert h.metric("openclaw_pairing_trusted") == 1
        await h.finish()

    run(body)


def test_pending_requests_are_reconciled_at_start() -> None:
    async def body() -> None:
        h = Harness(settings())
        h.gw.add(request())
        await h.start()
        await until(lambda: len(h.gw.rpcs) == 1)
        assert h.approver.state.ready
        assert h.approver.state.alive(h.clock.monotonic(), 5)
        await h.finish()

    run(body)


def test_without_the_trusted_flag_nothing_is_sent_and_the_audit_says_would() -> None:
    async def body() -> None:
        h = Harness(settings(trusted=False))
        await h.start()
        await h.requested(request(), request(C, request_id="bad"))
        await until(lambda: len(h.records) == 2)
        await h.settle()
        assert h.gw.rpcs == []
        assert sorted(r["action"] for r in h.records) == ["would-approve", "would-reject"]
        assert all(r["outcome"].startswith("observe-only") for r in h.records)
        assert len(h.gw.pending) == 2
        await h.finish()

    run(body)


def test_a_different_key_from_a_labelled_container_is_rejected_with_the_reason() -> None:
    async def body() -> None:
        h = Harness(settings())
        await h.start()
        await h.requested(request(C, request_id="imposter"))
        await until(lambda: h.gw.rpcs == [("reject", "imposter")])
        await h.settle()
        (rec,) = h.records
        assert rec["action"] == "reject"
        assert "not the identity the container publishes" in rec["reason"]
        await h.finish()

    run(body)


def test_not_ours_stays_pending_and_is_audited_once() -> None:
    async def body() -> None:
        h = Harness(settings())
        await h.start()
        stranger = request(B, request_id="stranger", remote_ip="172.18.0.77")
        await h.requested(stranger)
        await until(lambda: len(h.records) == 1)
        for _ in range(3):  # more triggers with the same inputs: no new decision, no new audit line
            await h.session.event("device.pair.requested", stranger.to_json())
            h.clock.advance(31)
            await h.settle()
        assert h.gw.rpcs == []
        assert "stranger" in h.gw.pending
        assert [r["action"] for r in h.records] == ["ignore"]
        await h.finish()

    run(body)


# --- triggers: reconnects, interval, workload changes -------------------------------------------------


def test_gateway_reconnect_triggers_a_reconcile() -> None:
    async def body() -> None:
        h = Harness(settings())
        await h.start()
        lists = h.gw.lists
        await h.session.disconnect()
        assert not h.approver.state.gateway_connected
        h.gw.add(request())  # arrived while we were away: no event will ever come
        await h.session.connect()
        await until(lambda: len(h.gw.rpcs) == 1)
        assert h.gw.lists > lists
        assert h.session.connects == 2
        await h.finish()

    run(body)


def test_interval_reconcile_catches_dropped_events() -> None:
    async def body() -> None:
        h = Harness(settings())
        await h.start()
        h.gw.add(request())
        await h.settle()
        assert h.gw.rpcs == []
        h.clock.advance(31)
        await until(lambda: len(h.gw.rpcs) == 1)
        await h.finish()

    run(body)


def test_workload_change_re_decides_a_held_request() -> None:
    async def body() -> None:
        h = Harness(settings(), (workload(who=None, identity_error="not published yet"),))
        await h.start()
        await h.requested(request())
        await until(lambda: len(h.records) == 1)
        assert h.records[0]["check"] == "identity"
        assert h.records[0]["action"] == "ignore"
        h.source.workloads = (AGENT,)
        assert h.source.on_change is not None
        changed = h.source.on_change("start agent")
        if changed is not None:
            await changed
        await until(lambda: len(h.gw.rpcs) == 1)
        assert [r["action"] for r in h.records] == ["ignore", "approve"]
        await h.finish()

    run(body)


def test_held_requests_are_rechecked_soon_without_any_trigger() -> None:
    async def body() -> None:
        h = Harness(settings(), (workload(who=None, identity_error="not published yet"),))
        await h.start()
        await h.requested(request())
        await until(lambda: len(h.records) == 1)
        h.source.workloads = (AGENT,)  # the source learnt the identity but said nothing
        h.clock.advance(4)
        await h.settle()
        assert h.gw.rpcs == []
        h.clock.advance(1.5)
        await until(lambda: len(h.gw.rpcs) == 1)
        await h.finish()

    run(body)


def test_source_reconnect_triggers_a_reconcile() -> None:
    async def body() -> None:
        h = Harness(settings())
        await h.start()
        h.source.connected = False
        await asyncio.sleep(0.1)
        assert h.metric("openclaw_pairing_docker_connected") == 0
        assert not h.approver.state.ready
        h.gw.add(request())
        h.source.connected = True
        await until(lambda: len(h.gw.rpcs) == 1, limit=3)
        await h.finish()

    run(body)


# --- shutdown ----------------------------------------------------------------------------------------


def test_no_approval_is_sent_after_stop() -> None:
    async def body() -> None:
        h = Harness(settings(), (AGENT, workload("two", B, "172.18.0.6")))
        h.gw.add(request(ts=NOW - 2), request(B, remote_ip="172.18.0.6", ts=NOW - 1))
        h.on_rpc = lambda method, rid: h.stop.set()  # SIGTERM arrives during the first approval
        started = time.monotonic()
        h.task = asyncio.create_task(h.approver.run(h.stop))
        await asyncio.wait_for(h.task, 5)
        assert time.monotonic() - started < 5
        assert len(h.gw.rpcs) == 1, "the second approval must not be sent once stop is set"
        assert h.approver.state.stopping

    run(body)


def test_stop_returns_within_five_seconds_even_if_the_source_hangs() -> None:
    async def body() -> None:
        h = Harness(settings(), grace=0.3)

        async def hang(stop: Any, on_change: Any) -> None:
            await asyncio.sleep(3600)

        h.source.watch = hang  # type: ignore[method-assign]
        await h.start()
        started = time.monotonic()
        await h.finish()
        assert time.monotonic() - started < 1, "a hung part is cancelled after the grace period"

    run(body)


def test_a_crashed_part_stops_the_whole_loop() -> None:
    async def body() -> None:
        h = Harness(settings(), grace=0.3)

        async def broken(stop: Any, on_change: Any) -> None:
            raise ValueError("bug in the source")

        h.source.watch = broken  # type: ignore[method-assign]
        h.task = asyncio.create_task(h.approver.run(h.stop))
        with pytest.raises(ValueError, match="bug in the source"):
            await asyncio.wait_for(h.task, 5)
        assert h.stop.is_set()

    run(body)


def test_a_failing_decision_leaves_that_request_pending_and_others_proceed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sidecar.approver.reconcile as approver_module

    real = approver_module.decide

    def flaky(req: Any, *args: Any) -> Any:
        if req.request_id == "poison":
            raise RuntimeError("boom")
        return real(req, *args)

    monkeypatch.setattr(approver_module, "decide", flaky)

    async def body() -> None:
        h = Harness(settings(), (AGENT, workload("two", B, "172.18.0.6")))
        h.gw.add(request(B, request_id="poison", remote_ip="172.18.0.6", ts=NOW - 5), request())
        await h.start()
        await until(lambda: len(h.gw.rpcs) == 1)
        assert h.gw.rpcs == [("approve", request().request_id)]
        assert "poison" in h.gw.pending
        await h.finish()

    run(body)


# --- dev-approve-all, rate limits, RPC failures ------------------------------------------------------


def test_dev_mode_warns_per_approval_and_stops_at_the_cap_and_the_time_box(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def body() -> None:
        anon = [workload(f"w{i}", None, f"172.18.0.{10 + i}", labels={}) for i in range(4)]
        h = Harness(settings(mode=Mode.DEV_APPROVE_ALL, dev_max_approvals=2), tuple(anon))
        await h.start()
        reqs = [
            request(ident(10 + i), request_id=f"d{i}", remote_ip=f"172.18.0.{10 + i}", ts=NOW + i)
            for i in range(3)
        ]
        await h.requested(*reqs)
        await until(lambda: len(h.records) == 3)
        assert h.gw.rpcs == [("approve", "d0"), ("approve", "d1")]
        assert h.records[2]["check"] == "dev-cap"
        await h.finish()

    with caplog.at_level(logging.WARNING, logger="sidecar.approver"):
        run(body)
    assert sum("dev-approve-all APPROVED" in r.message for r in caplog.records) == 2
    assert any("dev-approve-all is over" in r.message for r in caplog.records)


def test_dev_mode_time_box() -> None:
    async def body() -> None:
        anon = workload("anon", None, labels={})
        h = Harness(settings(mode=Mode.DEV_APPROVE_ALL), (anon,))
        await h.start()
        h.clock.advance(601)
        await h.requested(request(ts=h.clock.now_ms()))
        await until(lambda: len(h.records) == 1)
        assert h.gw.rpcs == []
        assert h.records[0]["check"] == "dev-window"
        await h.finish()

    run(body)


def test_rate_limit_holds_then_releases_when_the_window_slides() -> None:
    async def body() -> None:
        h = Harness(settings(rate_limit_per_container=1))
        await h.start()
        await h.requested(request())
        await until(lambda: len(h.gw.rpcs) == 1)
        # a real upgrade: a request that adds nothing to the pairing is skipped (ALREADY_PAIRED)
        upgrade = request(request_id="upgrade", is_repair=True, ts=NOW + 5, platform="darwin")
        await h.requested(upgrade)
        await until(lambda: len(h.records) == 2)
        assert h.records[1]["check"] == "rate-limit"
        assert len(h.gw.rpcs) == 1
        h.clock.advance(61)
        await until(lambda: len(h.gw.rpcs) == 2)
        assert h.gw.rpcs[1] == ("approve", "upgrade")
        await h.finish()

    run(body)


def test_a_backlog_is_sent_several_rpcs_at_a_time_and_limits_still_hold() -> None:
    """50 pending at once, each RPC 20 ms: sent SEND_CONCURRENCY at a time (not one round trip after
    another); with a global limit of 30 exactly 30 are approved although their RPCs overlapped (an approval
    counts when decided), and the rest are held, not rejected."""
    from sidecar.approver.reconcile import SEND_CONCURRENCY

    async def body() -> None:
        agents = tuple(workload(f"w{i}", ident(100 + i), f"172.18.1.{10 + i}") for i in range(50))
        h = Harness(settings(rate_limit_global=30, rate_limit_per_container=5), agents)
        h.gw.rpc_delay_s = 0.02
        await h.start()
        reqs = [
            request(ident(100 + i), request_id=f"r{i}", remote_ip=f"172.18.1.{10 + i}", ts=NOW + i)
            for i in range(50)
        ]
        await h.requested(*reqs)
        await until(lambda: len(h.records) == 50)
        assert 1 < h.gw.max_in_flight == SEND_CONCURRENCY
        assert sorted(rid for _, rid in h.gw.rpcs) == sorted(f"r{i}" for i in range(30))
        assert {r["check"] for r in h.records if r["action"] != "approve"} == {"rate-limit"}
        assert all(r["outcome"] == "sent" for r in h.records if r["action"] == "approve")
        await h.finish()

    run(body)


def test_unknown_request_id_means_gone_not_failure() -> None:
    async def body() -> None:
        h = Harness(settings())
        await h.start()
        rid = request().request_id

        def superseded(method: str, request_id: str) -> None:
            h.gw.pending.pop(request_id, None)  # superseded between list and approve

        h.on_rpc = superseded
        await h.requested(request())
        await until(lambda: len(h.records) == 1)
        assert h.records[0]["outcome"].startswith("gone")
        h.clock.advance(31)
        await h.settle()
        assert h.gw.rpcs == [("approve", rid)]
        assert h.metric("openclaw_pairing_rpc_errors_total", method="device.pair.approve") is None
        await h.finish()

    run(body)


def test_failed_rpc_is_retried_on_the_next_pass() -> None:
    async def body() -> None:
        h = Harness(settings())
        await h.start()
        rid = request().request_id
        h.gw.fail_with[rid] = GatewayRequestError("missing scope: operator.write", code="FORBIDDEN")
        await h.requested(request())
        await until(lambda: len(h.records) == 1)
        assert h.records[0]["outcome"].startswith("error: GatewayRequestError")
        assert h.metric("openclaw_pairing_rpc_errors_total", method="device.pair.approve") == 1
        del h.gw.fail_with[rid]
        h.clock.advance(31)
        await until(lambda: len(h.records) == 2)
        assert h.records[1]["outcome"] == "sent"
        assert len(h.gw.rpcs) == 2
        await h.finish()

    run(body)


def test_connection_loss_during_approve_is_retried() -> None:
    async def body() -> None:
        h = Harness(settings())
        await h.start()
        rid = request().request_id
        h.gw.fail_with[rid] = GatewayClosed("connection lost", code=1006)
        await h.requested(request())
        await until(lambda: len(h.records) == 1)
        del h.gw.fail_with[rid]
        await h.session.connect()
        await until(lambda: len(h.records) == 2)
        assert [r["outcome"].split(":")[0] for r in h.records] == ["error", "sent"]
        await h.finish()

    run(body)


def test_resolved_event_is_remembered() -> None:
    async def body() -> None:
        h = Harness(settings(trusted=False))
        await h.start()
        rid = request().request_id
        await h.session.event(
            "device.pair.resolved", {"requestId": rid, "deviceId": A.device_id, "decision": "rejected"}
        )
        h.gw.add(request())  # a stale list still shows it
        h.clock.advance(31)
        await until(lambda: len(h.records) == 1)
        assert h.records[0]["check"] == "resolved"
        await h.finish()

    run(body)


def test_malformed_event_still_reconciles() -> None:
    async def body() -> None:
        h = Harness(settings())
        await h.start()
        h.gw.add(request())
        await h.session.event("device.pair.requested", {"requestId": "x"})
        await until(lambda: len(h.gw.rpcs) == 1)
        await h.finish()

    run(body)


# --- once and explain --------------------------------------------------------------------------------


def test_once_acts_and_counts_what_needs_attention() -> None:
    async def body() -> None:
        h = Harness(settings())
        h.gw.add(
            request(),
            request(C, request_id="imposter"),
            request(B, request_id="stranger", remote_ip="10.1.1.1"),
        )
        attention = await h.approver.once()
        assert sorted(h.gw.rpcs) == [("approve", request().request_id), ("reject", "imposter")]
        assert attention == 1  # the rejection; the approval and the stranger need nobody
        assert len(h.records) == 3

    run(body)


def test_once_untrusted_reports_would_approve_as_attention() -> None:
    async def body() -> None:
        h = Harness(settings(trusted=False))
        h.gw.add(request())
        assert await h.approver.once() == 1
        assert h.gw.rpcs == []

    run(body)


def test_explain_decides_without_acting_or_auditing() -> None:
    async def body() -> None:
        h = Harness(settings())
        h.gw.add(request(C, request_id="imposter"))
        decision = await h.approver.explain("imposter")
        assert (decision.action, decision.check) == (Action.REJECT, "identity")
        missing = await h.approver.explain("nope")
        assert (missing.action, missing.check) == (Action.IGNORE, "not-pending")
        assert h.gw.rpcs == []
        assert h.records == []

    run(body)


def test_own_project_resolves_project_auto() -> None:
    cfg = replace(settings(), policy=PolicySettings())
    h = Harness(cfg)
    assert h.approver.policy.project == PROJECT


def test_paired_from_fixture_matches_request() -> None:
    assert paired_from(request()).public_key == A.public_key


def test_a_full_gateway_store_is_named_in_the_list_failure() -> None:
    """2026.9.6 with a full state volume answers device.pair.list with these messages (seen in
    tests/reliability/test_recovery.py); the warning says where to look, other failures say nothing more."""
    from sidecar.approver.reconcile import _store_hint

    full = GatewayRequestError("Device pairing read publication was replaced", code="UNAVAILABLE")
    assert "free space on its state volume" in _store_hint(full)
    assert "free space" in _store_hint(GatewayRequestError("SqliteWorkerError: database or disk is full"))
    assert _store_hint(GatewayRequestError("missing scope: operator.pairing", code="INVALID_REQUEST")) == ""
