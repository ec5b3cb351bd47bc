"""The Kubernetes source through the real client library (kubernetes_asyncio) against the fake API over HTTP.

List + watch with resourceVersion, bookmarks, resuming after the server's timeout without a relist, 410
Gone → relist, the API going away (connected false, SourceError) and coming back; what counts as a pod of
ours (label, Running, no deletionTimestamp, all pod IPs); the evidence; and that the sidecar never asks
for Secrets or pods/exec.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from sidecar.errors import SourceError
from sidecar.sources.kubernetes import KubeAPI, KubernetesSource, KubernetesSourceOptions, PodWorkload
from tests.harness.kubeapi import FakeKubeAPI

T = TypeVar("T")
OPT_IN = {"openclaw.pairing.auto-approve": "true"}
NS = "agents"


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeKubeAPI]:
    api = FakeKubeAPI(bookmark_interval_s=0.2).start()
    yield api
    api.stop()


async def eventually(what: str, ok: Callable[[], Any], within: float = 5.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = ok()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def run_with_source(
    fake: FakeKubeAPI,
    tmp_path: Path,
    scenario: Callable[[KubernetesSource, list[str]], Awaitable[T]],
    *,
    namespaces: tuple[str, ...] = (NS,),
    watch_timeout_s: int = 290,
) -> T:
    async def main() -> T:
        api = await KubeAPI.connect(str(fake.kubeconfig(tmp_path / "kubeconfig", NS)))
        source = KubernetesSource(api, KubernetesSourceOptions(namespaces, watch_timeout_s=watch_timeout_s))
        changes: list[str] = []
        stop = asyncio.Event()
        watch = asyncio.create_task(source.watch(stop.is_set, changes.append))
        try:
            return await scenario(source, changes)
        finally:
            stop.set()
            await asyncio.gather(watch, return_exceptions=True)
            await api.close()

    return asyncio.run(main())


def test_lists_and_watches_labelled_running_pods_with_all_their_ips(
    fake: FakeKubeAPI, tmp_path: Path
) -> None:
    fake.add_pod(NS, "a-0", labels=OPT_IN, ips=("10.1.0.5", "fd00::5"), owner=("StatefulSet", "a"))
    fake.add_pod(NS, "plain", ips=("10.1.0.6",))
    fake.add_pod(NS, "waiting", labels=OPT_IN, ips=(), phase="Pending")
    fake.add_pod("elsewhere", "b", labels=OPT_IN, ips=("10.1.0.7",))

    async def scenario(source: KubernetesSource, changes: list[str]) -> None:
        await eventually("connected", lambda: source.connected)
        (w,) = await source.snapshot()
        assert isinstance(w, PodWorkload)
        assert (w.name, dict(w.ips), w.running) == (
            f"{NS}/a-0",
            {"pod": "10.1.0.5", "pod-1": "fd00::5"},
            True,
        )
        evidence = w.evidence()
        assert evidence["owner"] == "StatefulSet/a"
        assert evidence["node"] == "node-1"
        assert evidence["serviceAccount"] == "default"
        assert evidence["podUid"] == w.uid
        assert evidence["imageDigests"][0].endswith("ab" * 32)
        assert "no deviceId known" in (w.identity_error or "")

        fake.update_pod(NS, "waiting", phase="Running", ips=("10.1.0.8",))
        await eventually("the pod that started", lambda: any("waiting" in c for c in changes))
        assert {w.name for w in await source.snapshot()} == {f"{NS}/a-0", f"{NS}/waiting"}

        fake.update_pod(NS, "waiting", deleting=True)
        await eventually("terminating pod gone", lambda: len(source._build()) == 1)
        fake.update_pod(NS, "a-0", labels={})  # label removed: the watch says DELETED
        await eventually("unlabelled pod gone", lambda: len(source._build()) == 0)
        fake.update_pod(NS, "plain", labels=OPT_IN)
        await eventually("newly labelled pod", lambda: [w.name for w in source._build()] == [f"{NS}/plain"])
        assert source.relists == 1

    run_with_source(fake, tmp_path, scenario)
    paths = [p for _, p in fake.requests]
    assert any("allowwatchbookmarks=true" in p.lower() and "resourceVersion=" in p for p in paths), paths
    assert not [p for p in paths if "secret" in p or "/exec" in p or "elsewhere" in p]


def test_bookmarks_and_server_timeouts_resume_without_a_relist(fake: FakeKubeAPI, tmp_path: Path) -> None:
    fake.add_pod(NS, "a", labels=OPT_IN, ips=("10.1.0.5",))

    async def scenario(source: KubernetesSource, changes: list[str]) -> None:
        await eventually("connected", lambda: source.connected)
        fake.add_pod("other", "noise", labels=OPT_IN)  # moves the version on; invisible to our namespace
        moved = str(fake.rv)
        await eventually(
            "a watch resumed from the bookmarked version",
            lambda: any(f"resourceVersion={moved}&" in p for _, p in fake.requests),
            within=8,
        )
        fake.add_pod(NS, "b", labels=OPT_IN, ips=("10.1.0.9",))
        await eventually("pod b", lambda: len(source._build()) == 2)
        assert fake.watches_opened() >= 2
        assert source.relists == 1, "a watch that timed out resumes from its version, it does not relist"

    run_with_source(fake, tmp_path, scenario, watch_timeout_s=1)


def test_410_gone_relists_and_carries_on(fake: FakeKubeAPI, tmp_path: Path) -> None:
    fake.add_pod(NS, "a", labels=OPT_IN, ips=("10.1.0.5",))

    async def scenario(source: KubernetesSource, changes: list[str]) -> None:
        await eventually("connected", lambda: source.connected)
        fake.delete_pod(NS, "a")
        fake.add_pod(NS, "b", labels=OPT_IN, ips=("10.1.0.6",))
        await eventually("b", lambda: [w.name for w in source._build()] == [f"{NS}/b"])
        fake.compact()
        fake.drop_watches()  # the resumed watch's version is now too old: 410
        await eventually("relist", lambda: source.relists == 2)
        assert any(c.startswith("kubernetes:relisted") for c in changes)
        fake.add_pod(NS, "c", labels=OPT_IN, ips=("10.1.0.7",))
        await eventually("c after the relist", lambda: len(source._build()) == 2)
        assert source.connected

    run_with_source(fake, tmp_path, scenario)


def test_api_loss_sets_connected_false_and_a_new_watch_reconnects(fake: FakeKubeAPI, tmp_path: Path) -> None:
    fake.add_pod(NS, "a", labels=OPT_IN, ips=("10.1.0.5",))

    async def main() -> None:
        api = await KubeAPI.connect(str(fake.kubeconfig(tmp_path / "kubeconfig", NS)))
        source = KubernetesSource(api, KubernetesSourceOptions((NS,)))
        stop = asyncio.Event()
        task = asyncio.create_task(source.watch(stop.is_set, lambda r: None))
        await eventually("connected", lambda: source.connected)
        fake.set_down(True)
        with pytest.raises(SourceError, match="503"):
            await asyncio.wait_for(task, 5)
        assert not source.connected
        with pytest.raises(SourceError):
            await source.snapshot()  # no live watch: a snapshot reads the API, which is down
        fake.set_down(False)
        fake.add_pod(NS, "b", labels=OPT_IN, ips=("10.1.0.6",))
        task = asyncio.create_task(source.watch(stop.is_set, lambda r: None))
        await eventually("reconnected", lambda: source.connected)
        assert len(await source.snapshot()) == 2
        stop.set()
        await task
        await api.close()

    asyncio.run(main())


def test_several_namespaces_and_host_network_pods(fake: FakeKubeAPI, tmp_path: Path) -> None:
    fake.add_pod(NS, "a", labels=OPT_IN, ips=("10.1.0.5",))
    fake.add_pod("team2", "b", labels=OPT_IN, ips=("10.2.0.5",))
    fake.add_pod("team2", "h", labels=OPT_IN, ips=("192.168.1.10",), host_network=True)

    async def scenario(source: KubernetesSource, changes: list[str]) -> None:
        await eventually("connected", lambda: source.connected)
        by_name = {w.name: w for w in await source.snapshot()}
        assert set(by_name) == {f"{NS}/a", "team2/b", "team2/h"}
        assert by_name["team2/h"].ips == {}, "a hostNetwork pod's address is the node's, not its own"

    run_with_source(fake, tmp_path, scenario, namespaces=(NS, "team2"))
