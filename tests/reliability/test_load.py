"""Load: many pending requests within seconds while labelled containers start and stop.

``make test``: 120 pending requests from a remote namespace (no container: all must stay unapproved),
10 legitimate agents, 30 labelled containers started and stopped meanwhile. ``make test-soak``: 500, 40
and 200. The sidecar must stay ready throughout (sampled), its memory flat (RSS sampled and reported),
every legitimate request approved and no other.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sidecar.identity.keys import DeviceIdentity
from tests.harness.agents import IMAGE, wait_until
from tests.harness.devices import connect_device
from tests.harness.gateway import RealGateway
from tests.harness.netns import ClientNetns
from tests.reliability import realworld as rw
from tests.reliability.tally import Tally, scale

CATEGORY = "load"
pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.gateway, pytest.mark.netns]


def test_pending_flood_and_container_churn(
    gateway96: RealGateway,
    docker_client: Any,
    docker_net: Any,
    client_ns: ClientNetns,
    run_label: dict[str, str],
    tmp_path: Path,
    tally: Tally,
) -> None:
    gw = gateway96
    flood, legit_n, churn_n = scale(120, 500), scale(10, 40), scale(30, 200)
    project = f"ocp-load-{run_label['openclaw.test-run']}-{secrets.token_hex(2)}"
    sc = rw.sidecar(gw, tmp_path / "sidecar", project=project)
    samples: list[tuple[float, int, int]] = []  # (t, rss KiB, /readyz)
    stop = threading.Event()

    def sample() -> None:
        t0 = time.monotonic()
        while not stop.is_set():
            samples.append((time.monotonic() - t0, rw.rss_kib(sc.proc.pid), sc.probe("/readyz")))
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    def churn() -> None:
        for i in range(churn_n):
            c = docker_client.containers.run(
                IMAGE, ["sleep", "infinity"], name=f"{project}-churn{i}", detach=True, init=True,
                network=docker_net.name,
                labels={**run_label, **rw.OPT_IN, "com.docker.compose.project": project,
                        "com.docker.compose.service": f"churn{i}"},
            )  # fmt: skip
            c.remove(force=True)

    url = gw.url_via(client_ns.host_ip)

    async def noise() -> list[str | None]:
        sem = asyncio.Semaphore(32)

        async def one() -> str | None:
            async with sem:
                try:
                    return (await connect_device(url, gw.token, DeviceIdentity.generate())).request_id
                except Exception:
                    return None

        return list(await asyncio.gather(*(one() for _ in range(flood))))

    churner = threading.Thread(target=churn, daemon=True)
    try:
        churner.start()
        t_flood = time.monotonic()
        noise_ids = client_ns.call(lambda: asyncio.run(noise()), timeout=600)
        flood_s = time.monotonic() - t_flood
        agents = rw.run_agents(
            docker_client,
            [
                rw.AgentSpec(f"legit{i}", until_admitted=True, retry_for=240, retry_every=2)
                for i in range(legit_n)
            ],
            network=docker_net.name, url=gw.url_via(docker_net.gateway_ip), token=gw.token,
            workdir=tmp_path / "agents", project=project, run_label=run_label,
        )  # fmt: skip
        churner.join(600)
        wait_until(
            "every legitimate agent admitted", lambda: all(a.refresh() and a.admitted for a in agents), 300, 2
        )
        time.sleep(2)
    finally:
        stop.set()
        sampler.join(5)
    try:
        made = [rid for rid in noise_ids if rid]
        legit = {a.key.device_id for a in agents}
        paired = rw.paired_ids(gw)
        wrong = paired - legit
        tally.inputs(len(made) + sum(len(a.request_ids) for a in agents) + churn_n)
        tally.wrong_approvals(len(wrong))
        tally.requests_missed(len(legit - paired))
        not_ready = [s for s in samples if s[2] != 200]
        rss = [s[1] for s in samples if s[1]]
        tally.measure(f"{len(made)} pending requests made in", flood_s, "s")
        tally.measure(
            f"sidecar RSS peak ({len(rss)} samples; first {rss[0] // 1024} MiB, last {rss[-1] // 1024} MiB)",
            max(rss) / 1024,
            "MiB",
        )
        tally.measure("/readyz samples not 200 during load", len(not_ready), f"of {len(samples)}")
        assert not wrong, wrong
        assert legit <= paired
        assert not not_ready, not_ready[:5]
        assert sc.proc.poll() is None
    finally:
        sc.stop()
