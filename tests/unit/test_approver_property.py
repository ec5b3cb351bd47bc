"""Property: without the trusted flag, no input makes the approver send an approve or reject RPC.

Hypothesis generates pending requests, paired devices, workloads (labelled or not, any project, with
matching, foreign or missing identities, gateway addresses...), every mode and policy knob, and event
sequences; the fake gateway records every RPC. Fail closed means the record stays empty and the audit
only ever says ignore / would-approve / would-reject.
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pairing_fixtures import (
    NOW,
    FakeClient,
    FakeClock,
    FakeGateway,
    FakeSession,
    FakeSource,
    ident,
    paired,
    request,
    workload,
)

from sidecar.approver import Approver
from sidecar.approver.audit import AuditLog
from sidecar.metrics import Metrics
from sidecar.settings import Mode, PolicySettings, Settings

IDS = [ident(n) for n in range(1, 6)]
IPS = ["172.18.0.5", "172.18.0.6", "172.18.0.7", "172.18.0.1", "::ffff:172.18.0.5", "10.0.0.9", "bogus"]
SCOPES = ["operator.read", "operator.write", "operator.admin", "operator.pairing", "operator.approvals"]

identities = st.sampled_from(IDS)
maybe_ip = st.one_of(st.none(), st.sampled_from(IPS))

requests = st.builds(
    lambda who, n, ip, role, scopes, silent, repair, age: request(
        who,
        request_id=f"r{n}",
        remote_ip=ip,
        role=role,
        roles=(role,),
        scopes=tuple(scopes),
        silent=silent,
        is_repair=repair,
        ts=NOW - age,
    ),
    identities,
    st.integers(0, 20),
    maybe_ip,
    st.sampled_from(["operator", "node"]),
    st.lists(st.sampled_from(SCOPES), max_size=3, unique=True),
    st.booleans(),
    st.booleans(),
    st.integers(0, 400_000),
)


@st.composite
def workloads_for(draw: st.DrawFn, reqs: list[Any]) -> list[Any]:
    """Workloads biased towards the requests (same identity and address), so approvals are reachable."""
    out = []
    for n in range(draw(st.integers(0, 5))):
        if reqs and draw(st.booleans()):
            r = draw(st.sampled_from(reqs))
            who = next(i for i in IDS if i.device_id == r.device_id) if draw(st.integers(0, 3)) else None
            ip = r.remote_ip if r.remote_ip in IPS[:3] else draw(st.sampled_from(IPS[:3]))
        else:
            who, ip = draw(st.one_of(st.none(), identities)), draw(st.sampled_from(IPS[:3]))
        extra = draw(
            st.sampled_from(
                [
                    {},
                    {"openclaw.pairing.roles": "operator,node"},
                    {"openclaw.pairing.scopes": "operator.admin,operator.read"},
                ]
            )
        )
        out.append(
            workload(
                f"w{n}",
                who,
                ip,
                labels={"openclaw.pairing.auto-approve": "true"} if draw(st.integers(0, 3)) else {},
                extra_labels=extra,
                running=bool(draw(st.integers(0, 3))),
                project=draw(st.sampled_from(["demo", "demo", "other", None])),
            )
        )
    return out


@st.composite
def scenarios(draw: st.DrawFn, max_requests: int = 6) -> tuple[list[Any], list[Any]]:
    reqs = draw(st.lists(requests, max_size=max_requests, unique_by=lambda r: r.request_id))
    return reqs, draw(workloads_for(reqs))


policies = st.builds(
    lambda mode, admin, node, fail, per, project: PolicySettings(
        mode=mode,
        allow_admin_scope=admin,
        allow_node_role=node,
        on_check_failure=fail,
        rate_limit_per_container=per,
        project=project,
        project_auto=False,
    ),
    st.sampled_from(list(Mode)),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["reject", "ignore"]),
    st.integers(1, 5),
    st.sampled_from(["demo", None]),
)


def build(
    policy: PolicySettings, pending: list[Any], loads: list[Any], paired_ids: list[Any]
) -> tuple[Approver, FakeGateway, io.StringIO, list[FakeSession]]:
    gw = FakeGateway()
    gw.add(*pending)
    for who in paired_ids:
        gw.paired[who.device_id] = paired(who)
    out = io.StringIO()
    sessions: list[FakeSession] = []

    def factory(on_connect: Any, on_event: Any, on_disconnect: Any) -> FakeSession:
        sessions.append(FakeSession(FakeClient(gw), on_connect, on_event, on_disconnect))
        return sessions[-1]

    approver = Approver(
        Settings(trusted=False, policy=policy),
        session_factory=factory,
        source=FakeSource(tuple(loads)),
        audit=AuditLog("-", stream=out),
        metrics=Metrics(),
        clock=FakeClock(),
        tick_s=0.01,
    )
    return approver, gw, out, sessions


def assert_fail_closed(gw: FakeGateway, out: io.StringIO) -> None:
    assert gw.rpcs == []
    actions = {json.loads(line)["action"] for line in out.getvalue().splitlines()}
    assert actions <= {"ignore", "would-approve", "would-reject"}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies, scenarios(), st.lists(identities, max_size=3))
def test_untrusted_once_and_explain_never_send_an_rpc(
    policy: PolicySettings, scenario: tuple[list[Any], list[Any]], paired_ids: list[Any]
) -> None:
    pending, loads = scenario
    approver, gw, out, _ = build(policy, pending, loads, paired_ids)

    async def body() -> None:
        await approver.once()
        for r in pending:
            await approver.explain(r.request_id)

    asyncio.run(body())
    assert_fail_closed(gw, out)


events = st.lists(
    st.one_of(
        st.tuples(st.just("requested"), requests),
        st.tuples(st.just("resolved"), requests),
        st.tuples(st.just("reconnect"), st.none()),
        st.tuples(st.just("tick"), st.integers(1, 120)),
    ),
    max_size=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies, scenarios(4), events)
def test_untrusted_run_loop_never_sends_an_rpc(
    policy: PolicySettings, scenario: tuple[list[Any], list[Any]], script: list[tuple[str, Any]]
) -> None:
    pending, loads = scenario
    approver, gw, out, sessions = build(policy, pending, loads, [])
    clock = approver._clock
    assert isinstance(clock, FakeClock)

    async def body() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(approver.run(stop))
        await asyncio.sleep(0.02)
        for kind, arg in script:
            session = sessions[-1]
            if kind == "requested":
                gw.add(arg)
                await session.event("device.pair.requested", arg.to_json())
            elif kind == "resolved":
                payload = {"requestId": arg.request_id, "deviceId": arg.device_id, "decision": "approved"}
                await session.event("device.pair.resolved", payload)
            elif kind == "reconnect":
                await session.disconnect()
                await session.connect()
            else:
                clock.advance(arg)
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(body())
    assert_fail_closed(gw, out)
