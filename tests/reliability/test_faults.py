"""Faults with the real gateway, the real sidecar process and real agent containers.

- the gateway killed with SIGKILL during a burst of pending requests, then restarted (both releases):
  the backlog is approved after the reconnect, nothing approved twice, nothing missed;
- the sidecar killed with SIGKILL between its decision and the approve RPC, then restarted: no duplicate
  and no lost decision;
- every gateway event dropped: the periodic reconcile alone approves, within about one interval;
- the gateway unreachable (killed and kept down, or frozen with SIGSTOP, where the TCP connection stays
  open and nothing answers; for minutes under make test-soak): readiness says so, and everything
  recovers by itself.
The Docker engine restart is in test_recovery.py (it runs last: every container stops with it).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from sidecar.exitcodes import EXIT_UNREACHABLE
from sidecar.settings import Settings
from tests.harness.agents import wait_until
from tests.harness.gateway import RealGateway
from tests.reliability import realworld as rw
from tests.reliability.tally import Tally, scale

CATEGORY = "faults"
pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.gateway, pytest.mark.netns]


@pytest.fixture
def project(run_label: dict[str, str]) -> str:
    return f"ocp-flt-{run_label['openclaw.test-run']}-{secrets.token_hex(2)}"


def agents_for(
    n: int, prefix: str, docker_client: Any, docker_net: Any, gw: RealGateway, **kw: Any
) -> list[rw.Agent]:
    specs = [rw.AgentSpec(f"{prefix}{i}", until_admitted=True, retry_for=180) for i in range(n)]
    return rw.run_agents(
        docker_client,
        specs,
        network=docker_net.name,
        url=gw.url_via(docker_net.gateway_ip),
        token=gw.token,
        **kw,
    )


def check_nothing_twice_nothing_missed(
    gw: RealGateway, agents: list[rw.Agent], sidecars: list[Any], tally: Tally
) -> None:
    listing = rw.listing(gw)
    paired = {d.device_id for d in listing.paired}
    legit = {a.key.device_id for a in agents}
    missed = legit - paired
    wrong = paired - legit
    twice = {rid: n for sc in sidecars for rid, n in rw.approvals_sent(sc).items() if n > 1}
    tally.requests_missed(len(missed))
    tally.wrong_approvals(len(wrong))
    assert not missed, missed
    assert not wrong, wrong
    assert not twice, twice
    check_no_second_request_approved(listing, agents, sidecars, tally)


def check_no_second_request_approved(
    listing: Any, agents: list[rw.Agent], sidecars: list[Any], tally: Tally
) -> None:
    """No device approved under two request ids, and every extra request of a device is the known race.

    A connect that races the approval of a device's request (the gateway read "not paired", the approval
    landed, then it filed the request) leaves a new request with a new id for the now paired device,
    created as a repair (``isRepair``: the gateway saw the device paired when it stored it). Approving it
    would change nothing but rotate the device's token; the policy skips it (``ALREADY_PAIRED``). Before
    that skip, the sidecar kill -9 test saw a device approved twice about once in five runs. Reproduced
    directly with devices reconnecting in a loop while they are approved: on 2026.2.26 the device gets
    the new id; on 2026.9.6 a re-check admits that very connect and the new request is only announced
    (``device.pair.requested``) and left pending.
    """
    records = [r for sc in sidecars for r in sc.records() if r.get("kind", "device") == "device"]
    sent: dict[str, set[str]] = {}
    for r in records:
        if r.get("action") == "approve" and r.get("outcome") == "sent":
            sent.setdefault(r["deviceId"], set()).add(r["requestId"])
    legit = {a.key.device_id for a in agents}
    approved_rids = set().union(*sent.values()) if sent else set()
    evidence = f"records: {records}\nagents: {[(a.name, a.results) for a in agents]}"
    again = {d[:12]: sorted(rids) for d, rids in sent.items() if len(rids) > 1}
    assert not again, f"devices approved under more than one request id: {again}\n{evidence}"
    leftovers = [
        r for r in records if r["deviceId"] in legit and r["requestId"] not in approved_rids
        and r.get("action") == "ignore" and r.get("check") == "repair"
    ]  # fmt: skip
    for r in leftovers:  # the race, and nothing else: a paired device's repair request, skipped
        assert "already paired with the same public key" in r["reason"], r
        assert r["evidence"]["request"]["isRepair"] is True, r
        assert r["deviceId"] in sent, r
    still_pending = [p for p in listing.pending if p.device_id in legit]
    for p in still_pending:  # left on the gateway until its TTL: must be that same race's request
        assert p.is_repair, f"a non-repair request of an admitted device is still pending: {p}"
    if leftovers:
        tally.measure("requests left by a connect racing the approval (skipped: already paired)",
                      len(leftovers), "")  # fmt: skip


def test_gateway_kill9_during_a_burst_backlog_approved_after_restart(
    gateway: RealGateway,
    docker_client: Any,
    docker_net: Any,
    run_label: dict[str, str],
    project: str,
    tmp_path: Path,
    tally: Tally,
) -> None:
    n = scale(6, 30)
    sc = rw.sidecar(gateway, tmp_path / "sidecar", project=project)
    try:
        agents = agents_for(
            n, "burst", docker_client, docker_net, gateway,
            workdir=tmp_path / "agents", project=project, run_label=run_label,
        )  # fmt: skip
        # as soon as the first request exists: the rest of the burst meets a dead gateway
        wait_until("the first request", lambda: any(a.refresh() for a in agents), within=60)
        down = rw.kill9_and_restart(gateway)
        tally.fault("gateway kill -9")
        restarted = time.monotonic()
        wait_until(
            "every agent admitted",
            lambda: all(a.refresh() and a.admitted for a in agents),
            within=180,
            every=1.0,
        )
        tally.measure(f"gateway {gateway.version} down (kill -9 → ready)", down, "s")
        tally.measure(
            f"backlog of {n} approved and admitted after gateway {gateway.version} restart",
            time.monotonic() - restarted,
            "s",
        )
        tally.inputs(sum(len(a.request_ids) for a in agents))
        check_nothing_twice_nothing_missed(gateway, agents, [sc], tally)
        assert sc.probe("/readyz") == 200
    finally:
        sc.stop()


def test_sidecar_kill9_between_decision_and_rpc_no_duplicate_no_loss(
    gateway96: RealGateway,
    docker_client: Any,
    docker_net: Any,
    run_label: dict[str, str],
    project: str,
    tmp_path: Path,
    tally: Tally,
) -> None:
    marker = tmp_path / "killed-before"
    sc = rw.sidecar(gateway96, tmp_path / "sidecar", project=project, hook=f"kill-before-approve:{marker}")
    agents = agents_for(
        3, "victim", docker_client, docker_net, gateway96,
        workdir=tmp_path / "agents", project=project, run_label=run_label,
    )  # fmt: skip
    try:
        wait_until("the sidecar killed before its first approve", lambda: sc.proc.poll() is not None, 60)
        assert sc.proc.returncode == -signal.SIGKILL
        tally.fault("sidecar kill -9 between decision and RPC")
        killed_rid = marker.read_text()
        assert killed_rid not in rw.approvals_sent(sc)  # the decision was never carried out
        restarted = time.monotonic()
        sc2 = rw.sidecar(
            gateway96, tmp_path / "sidecar", project=project, hook=f"kill-before-approve:{marker}"
        )
        try:
            wait_until(
                "every agent admitted", lambda: all(a.refresh() and a.admitted for a in agents), 120, 1.0
            )
            tally.measure(
                "all approved after the sidecar's kill -9 and restart", time.monotonic() - restarted, "s"
            )
            tally.inputs(sum(len(a.request_ids) for a in agents))
            check_nothing_twice_nothing_missed(gateway96, agents, [sc2], tally)
            assert rw.approvals_sent(sc2).get(killed_rid, 0) <= 1
        finally:
            sc2.stop()
    finally:
        sc.stop()


def test_events_dropped_the_reconcile_catches_up_within_one_interval(
    gateway96: RealGateway,
    docker_client: Any,
    docker_net: Any,
    run_label: dict[str, str],
    project: str,
    tmp_path: Path,
    tally: Tally,
) -> None:
    interval = 5.0
    sc = rw.sidecar(gateway96, tmp_path / "sidecar", project=project, hook="drop-events")
    try:
        agents = agents_for(
            3, "quiet", docker_client, docker_net, gateway96,
            workdir=tmp_path / "agents", project=project, run_label=run_label,
        )  # fmt: skip
        tally.fault("gateway events dropped", 3)
        wait_until("every agent admitted", lambda: all(a.refresh() and a.admitted for a in agents), 120, 1.0)
        latencies = []
        for agent in agents:
            record = next(
                r for rid in agent.request_ids if (r := sc.record_for(rid)) and r["action"] == "approve"
            )
            latencies.append((record["timeMs"] - record["evidence"]["request"]["ts"]) / 1000)
        tally.inputs(len(agents))
        tally.measure(
            f"approval latency with every event dropped (interval {interval:.0f} s), max", max(latencies), "s"
        )
        check_nothing_twice_nothing_missed(gateway96, agents, [sc], tally)
        assert max(latencies) < 3 * interval, latencies  # the reconcile, not luck: generous bound
    finally:
        sc.stop()


GATEWAY_LOSS_S = Settings().exit_after_gateway_loss_s  # the default the test's sidecar runs with
FROZEN_NOTICED_WITHIN = 30.0  # s; keepalive (handshake.PING_INTERVAL + PING_TIMEOUT + CLOSE_GRACE) ≈ 13 s


@pytest.mark.parametrize("how", [pytest.param("refused", id="stopped"), pytest.param("frozen", id="frozen")])
def test_gateway_unreachable_readiness_says_so_and_recovery_is_automatic(
    how: str,
    gateway96: RealGateway,
    docker_client: Any,
    docker_net: Any,
    run_label: dict[str, str],
    project: str,
    tmp_path: Path,
    tally: Tally,
) -> None:
    """``stopped``: the gateway killed and kept down (connections refused); ``frozen``: SIGSTOP (the TCP
    connection stays open and nothing answers: noticed by the client's keepalive pings within about
    13 s, sidecar/gateway/handshake.py; the tick watchdog alone would take 60 s, longer than the 30 s
    the gateway stays frozen here, so readiness turning 503 at all proves the pings did it)."""
    away_for = scale(20, 120) if how == "refused" else scale(30, 240)
    sc = rw.sidecar(gateway96, tmp_path / "sidecar", project=project)
    assert gateway96.proc is not None
    pgid = gateway96.proc.pid
    not_ready_at = None
    t0 = time.monotonic()
    if how == "frozen":
        os.killpg(pgid, signal.SIGSTOP)
    else:
        os.killpg(pgid, signal.SIGKILL)
        gateway96.proc.wait(10)
    tally.fault(f"gateway unreachable ({how})")
    exited_at = None
    try:
        while time.monotonic() - t0 < away_for:
            if exited_at is None and sc.proc.poll() is not None:
                exited_at = time.monotonic() - t0
            elif not_ready_at is None and sc.probe("/readyz") != 200:
                not_ready_at = time.monotonic() - t0
            time.sleep(0.5)
    finally:
        if how == "frozen":
            os.killpg(pgid, signal.SIGCONT)
        else:
            gateway96._ready_scan_from = gateway96.stdout_path.stat().st_size  # type: ignore[attr-defined]
            gateway96.launch()
            gateway96.wait_ready(180)
    try:
        back = time.monotonic()
        tally.measure(f"readiness 503 after the gateway became unreachable ({how}, {away_for} s)",
                      not_ready_at if not_ready_at is not None else float("nan"), "s")  # fmt: skip
        assert not_ready_at is not None, f"/readyz stayed 200 for {away_for} s with the gateway {how}"
        if how == "frozen":  # generous: keepalive needs ≈13 s at most, the tick watchdog alone 60 s
            assert not_ready_at < FROZEN_NOTICED_WITHIN, f"frozen gateway noticed after {not_ready_at:.0f} s"
        sidecars = [sc]
        if exited_at is None and sc.proc.poll() is not None:  # while the gateway was starting again
            exited_at = time.monotonic() - t0
        if exited_at is not None:
            # Longer than exit_after_gateway_loss (120 s by default): the sidecar exits 4 on purpose, so that
            # its restart policy re-joins a gateway that came back (docs/sidecar.md). The test plays the
            # restart policy; the soak's 120 s and 240 s outages get here, make test's 20 s and 30 s do not.
            assert sc.proc.returncode == EXIT_UNREACHABLE, f"the sidecar exited {sc.proc.returncode}"
            assert exited_at >= GATEWAY_LOSS_S - 5, (
                f"the sidecar exited after {exited_at:.0f} s, before its timer"
            )
            tally.measure(f"sidecar exit 4 after the gateway-loss timer ({how})", exited_at, "s")
            sc = rw.sidecar(gateway96, tmp_path / "sidecar-restarted", project=project)
            sidecars.append(sc)
        else:
            assert sc.proc.poll() is None, f"the sidecar exited ({sc.proc.returncode})"
        wait_until("ready again", lambda: sc.probe("/readyz") == 200, within=120, every=0.5)
        tally.measure(f"ready again after the gateway came back ({how})", time.monotonic() - back, "s")
        agents = agents_for(
            1, "after", docker_client, docker_net, gateway96,
            workdir=tmp_path / "agents", project=project, run_label=run_label,
        )  # fmt: skip
        wait_until("the new agent admitted", lambda: all(a.refresh() and a.admitted for a in agents), 60, 1.0)
        tally.inputs(1)
        check_nothing_twice_nothing_missed(gateway96, agents, sidecars, tally)
    finally:
        with contextlib.suppress(Exception):
            sc.stop()
