"""DockerSource's caching, events and failure handling against a fake of the few Engine calls it makes.

The fake answers like Engine 20.10 did when recorded (summary shapes, 404s, event dicts); the real engine
is exercised in tests/integration/test_docker_source.py.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import queue
import tarfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sidecar.errors import ConfigError, SourceError
from sidecar.identity.keys import DeviceIdentity
from sidecar.sources.docker import DockerSource, DockerSourceOptions
from sidecar.sources.workloads import Workload

PATH = "/home/node/.openclaw/identity/device.pub.json"
NET_ID = "8c" * 32
OTHER_NET_ID = "4e" * 32


def run_async(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test body in a fresh loop (the project does not use pytest-asyncio)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


class HTTPFail(requests.exceptions.HTTPError):
    def __init__(self, status: int, text: str) -> None:
        response = requests.Response()
        response.status_code = status
        super().__init__(text, response=response)
        self.explanation = text


class FakeStream:
    """A blocking event stream like docker's CancellableStream: iterate until close() or end()."""

    _STOP = object()

    def __init__(self) -> None:
        self.items: queue.Queue[Any] = queue.Queue()
        self.closed = False

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self.items.get()
            if item is self._STOP:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.closed = True
        self.items.put(self._STOP)

    def end(self) -> None:
        self.items.put(self._STOP)


class FakeEngine:
    def __init__(self) -> None:
        self.summaries: list[dict[str, Any]] = []
        # `docker network ls`: the project's default network and one outside any project
        self.nets: dict[str, dict[str, Any]] = {
            NET_ID: {"Id": NET_ID, "Name": "demo_default", "Labels": {"com.docker.compose.project": "demo"}},
            OTHER_NET_ID: {"Id": OTHER_NET_ID, "Name": "elsewhere", "Labels": {}},
        }
        self.files: dict[tuple[str, str], bytes] = {}
        self.calls: list[str] = []
        self.streams: dict[str, FakeStream] = {}
        self.stream_filters: dict[str, dict[str, Any]] = {}
        self.down = False
        self.archive_error: Exception | None = None
        self.ignore_filters = False
        self.lock = threading.Lock()

    # helpers
    def add(
        self,
        name: str,
        *,
        labels: dict[str, str],
        ip: str = "172.18.0.2",
        state: str = "running",
        networks: dict[str, str] | None = None,  # network id -> this container's IP there
    ) -> str:
        cid = (name.encode().hex() * 64)[:64]
        endpoints = {
            self.nets[net_id]["Name"]: {
                "NetworkID": net_id,
                "Gateway": address.rsplit(".", 1)[0] + ".1",
                "IPAddress": address,
            }
            for net_id, address in (networks or {NET_ID: ip}).items()
        }
        self.summaries.append(
            {
                "Id": cid,
                "Names": [f"/{name}"],
                "Image": "local/python:3.11-bookworm",
                "ImageID": "sha256:" + "9" * 64,
                "Labels": labels,
                "State": state,
                "NetworkSettings": {"Networks": endpoints},
            }
        )
        return cid

    def publish(self, cid: str, identity: DeviceIdentity, path: str = PATH) -> None:
        self.files[(cid, path)] = json.dumps(identity.public().to_json()).encode()

    def _check(self, name: str) -> None:
        with self.lock:
            self.calls.append(name)
        if self.down:
            raise requests.exceptions.ConnectionError("Connection aborted: FileNotFoundError(2)")

    # the DockerAPI protocol
    def containers(self, *, all: bool = False, filters: dict[str, Any] | None = None) -> Any:
        self._check("containers")
        out = []
        for s in self.summaries:
            if not all and s["State"] != "running":
                continue
            if not self.ignore_filters and not all_labels_match(
                s["Labels"], (filters or {}).get("label", [])
            ):
                continue
            wanted = (filters or {}).get("network")
            endpoints = s["NetworkSettings"]["Networks"]
            if (
                wanted
                and not self.ignore_filters
                and not any(e["NetworkID"] in wanted or name in wanted for name, e in endpoints.items())
            ):
                continue
            out.append(json.loads(json.dumps(s)))
        return out

    def networks(self, names: Any = None, ids: Any = None, filters: dict[str, Any] | None = None) -> Any:
        self._check("networks")
        return [json.loads(json.dumps(n)) for n in self.nets.values()]

    def inspect_container(self, container: str) -> Any:
        self._check("inspect_container")
        raise HTTPFail(404, f"No such container: {container}")

    def inspect_network(self, net_id: str) -> Any:
        self._check("inspect_network")
        return {"Id": net_id, "IPAM": {"Config": [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]}}

    def get_archive(self, container: str, path: str, chunk_size: int | None = None) -> Any:
        self._check("get_archive")
        if self.archive_error is not None:
            raise self.archive_error
        data = self.files.get((container, path))
        if data is None:
            raise HTTPFail(404, f"Could not find the file {path} in container {container}")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(path.rsplit("/", 1)[1])
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        raw = buf.getvalue()
        chunks = (raw[i : i + 512] for i in range(0, len(raw), 512))
        return chunks, {"name": info.name, "size": len(data), "mode": 420, "linkTarget": ""}

    def events(self, *, filters: dict[str, Any] | None = None, decode: bool = True) -> Any:
        self._check("events")
        kind = (filters or {})["type"][0]
        stream = FakeStream()
        self.streams[kind] = stream
        self.stream_filters[kind] = dict(filters or {})
        return stream

    def ping(self) -> Any:
        self._check("ping")
        return True

    # emitting events
    def container_event(self, action: str, cid: str, name: str, labels: dict[str, str] | None = None) -> None:
        attributes = {**(labels or {}), "name": name, "image": "local/python:3.11-bookworm"}
        self.streams["container"].items.put(
            {"Type": "container", "Action": action, "Actor": {"ID": cid, "Attributes": attributes}}
        )

    def network_event(self, action: str, cid: str, net_id: str = NET_ID) -> None:
        name = self.nets[net_id]["Name"] if net_id in self.nets else "new-net"
        self.streams["network"].items.put(
            {
                "Type": "network",
                "Action": action,
                "Actor": {"ID": net_id, "Attributes": {"container": cid, "name": name, "type": "bridge"}},
            }
        )


def all_labels_match(labels: dict[str, str], wanted: list[str]) -> bool:
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


OPTED = {"openclaw.pairing.auto-approve": "true", "com.docker.compose.project": "demo"}
ALICE = DeviceIdentity.from_seed(b"\x01" * 32, created_at_ms=1)
BOB = DeviceIdentity.from_seed(b"\x02" * 32, created_at_ms=2)


def source(engine: FakeEngine, **options: Any) -> DockerSource:
    options.setdefault("project", "demo")
    return DockerSource(engine, DockerSourceOptions(**options))


def by_name(workloads: tuple[Workload, ...]) -> dict[str, Workload]:
    return {w.name: w for w in workloads}


class Watcher:
    """Runs source.watch() as a task and records the reasons it reports."""

    def __init__(self, src: DockerSource, slow_s: float = 0.0) -> None:
        self.src, self.slow_s = src, slow_s
        self.reasons: list[str] = []
        self.stopping = False
        self.task: asyncio.Task[None] | None = None

    async def _on_change(self, reason: str) -> None:
        self.reasons.append(reason)
        if self.slow_s:
            await asyncio.sleep(self.slow_s)

    async def __aenter__(self) -> Watcher:
        self.task = asyncio.create_task(self.src.watch(lambda: self.stopping, self._on_change))
        await self.wait_for("docker:connected")
        return self

    async def wait_for(self, prefix: str, within: float = 3.0) -> None:
        async with asyncio.timeout(within):
            while not any(r.startswith(prefix) for r in self.reasons):
                if self.task is not None and self.task.done():
                    self.task.result()
                await asyncio.sleep(0.01)

    async def __aexit__(self, *exc: object) -> None:
        self.stopping = True
        assert self.task is not None
        async with asyncio.timeout(2):
            await asyncio.gather(self.task, return_exceptions=True)


# --- snapshot without events ---------------------------------------------------------------------


@run_async
async def test_snapshot_finds_labelled_containers_with_verified_identity_and_addresses() -> None:
    engine = FakeEngine()
    alice = engine.add("demo-alice-1", labels=OPTED)
    engine.add("demo-plain-1", labels={"com.docker.compose.project": "demo"}, ip="172.18.0.9")
    engine.add("other-agent-1", labels={**OPTED, "com.docker.compose.project": "other"}, ip="172.18.0.10")
    engine.publish(alice, ALICE)
    src = source(engine)
    assert not src.connected
    workloads = await src.snapshot()
    assert [w.name for w in workloads] == ["demo-alice-1"]
    w = workloads[0]
    assert w.identity is not None
    assert w.identity.device_id == ALICE.device_id
    assert w.ips == {"demo_default": "172.18.0.2"}
    assert w.network_gateways == {"demo_default": "172.18.0.1"}
    assert src.connected
    assert src.scope is not None
    assert src.scope.project == "demo"


@run_async
async def test_client_side_filter_holds_even_if_the_engine_ignores_filters() -> None:
    engine = FakeEngine()
    engine.ignore_filters = True
    engine.add("demo-plain-1", labels={"com.docker.compose.project": "demo"})
    engine.add("demo-off-1", labels={**OPTED, "openclaw.pairing.auto-approve": "false"})
    engine.add("other-agent-1", labels={**OPTED, "com.docker.compose.project": "other"})
    assert await source(engine).snapshot() == ()


@run_async
async def test_stopped_containers_are_listed_but_their_identity_is_not_read() -> None:
    engine = FakeEngine()
    cid = engine.add("demo-alice-1", labels=OPTED, state="exited")
    engine.publish(cid, ALICE)
    (w,) = await source(engine).snapshot()
    assert not w.running
    assert w.identity is None
    assert w.identity_error is not None
    assert "exited" in w.identity_error
    assert "get_archive" not in engine.calls


@run_async
async def test_identity_path_label_is_honoured_and_a_private_path_is_refused() -> None:
    engine = FakeEngine()
    good = engine.add("demo-good-1", labels={**OPTED, "openclaw.pairing.identity-path": "/id/a.pub.json"})
    bad = engine.add("demo-bad-1", labels={**OPTED, "openclaw.pairing.identity-path": "/id/device.json"})
    engine.publish(good, ALICE, "/id/a.pub.json")
    engine.files[(bad, "/id/device.json")] = json.dumps(BOB.to_record()).encode()
    found = by_name(await source(engine).snapshot())
    assert found["demo-good-1"].identity is not None
    assert found["demo-bad-1"].identity is None
    assert "never private key" in (found["demo-bad-1"].identity_error or "")
    assert engine.calls.count("get_archive") == 1  # the private path was never requested


@run_async
async def test_missing_identity_is_retried_on_the_next_snapshot() -> None:
    engine = FakeEngine()
    cid = engine.add("demo-alice-1", labels=OPTED)
    src = source(engine)
    (w,) = await src.snapshot()
    assert w.identity is None
    assert "does not exist" in (w.identity_error or "")
    engine.publish(cid, ALICE)  # the agent publishes a moment after its container started
    (w,) = await src.snapshot()
    assert w.identity is not None


@run_async
async def test_without_events_every_snapshot_re_reads() -> None:
    engine = FakeEngine()
    cid = engine.add("demo-alice-1", labels=OPTED)
    engine.publish(cid, ALICE)
    src = source(engine)
    await src.snapshot()
    engine.publish(cid, BOB)  # e.g. restarted with a new identity while nobody watched
    (w,) = await src.snapshot()
    assert w.identity is not None
    assert w.identity.device_id == BOB.device_id


@run_async
async def test_engine_refusing_the_archive_read_is_a_per_container_reason() -> None:
    engine = FakeEngine()
    engine.add("demo-alice-1", labels=OPTED)
    engine.archive_error = HTTPFail(500, "permission denied by socket proxy")
    src = source(engine)
    (w,) = await src.snapshot()
    assert "refused" in (w.identity_error or "")
    assert "socket proxy" in (w.identity_error or "")
    assert src.connected


@run_async
async def test_unreachable_engine_is_a_source_error_and_not_connected() -> None:
    engine = FakeEngine()
    engine.add("demo-alice-1", labels=OPTED)
    src = source(engine)
    await src.snapshot()
    engine.down = True
    with pytest.raises(SourceError, match=r"unreachable.*DOCKER_HOST"):
        await src.snapshot()
    assert not src.connected


@run_async
async def test_no_project_anywhere_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "cgroup").write_text("0::/\n")
    (tmp_path / "mountinfo").write_text("")
    src = DockerSource(FakeEngine(), DockerSourceOptions(), proc_root=str(tmp_path), hostname="buildhost")
    with pytest.raises(ConfigError, match="OPENCLAW_PAIRING_PROJECT"):
        await src.snapshot()


# --- with events -------------------------------------------------------------------------------


@run_async
async def test_events_are_filtered_by_label_and_project_server_side() -> None:
    engine = FakeEngine()
    async with Watcher(source(engine)):
        pass
    container = engine.stream_filters["container"]
    assert container["type"] == ["container"]
    assert container["label"] == ["openclaw.pairing.auto-approve", "com.docker.compose.project=demo"]
    assert {"start", "die", "destroy", "rename", "restart"} <= set(container["event"])
    assert engine.stream_filters["network"] == {"type": ["network"], "event": ["connect", "disconnect"]}
    assert all(s.closed for s in engine.streams.values())


@run_async
async def test_cache_is_used_while_events_flow_and_invalidated_by_container_events() -> None:
    engine = FakeEngine()
    cid = engine.add("demo-alice-1", labels=OPTED)
    engine.publish(cid, ALICE)
    src = source(engine)
    async with Watcher(src) as watcher:
        await src.snapshot()
        listed = engine.calls.count("containers")
        await asyncio.gather(*(src.snapshot() for _ in range(5)))
        assert engine.calls.count("containers") == listed  # served from the cache
        engine.publish(cid, BOB)
        engine.container_event("start", cid, "demo-alice-1")
        await watcher.wait_for("docker:start:demo-alice-1")
        (w,) = await src.snapshot()
        assert w.identity is not None
        assert w.identity.device_id == BOB.device_id
        assert engine.calls.count("containers") == listed + 1


@run_async
async def test_past_half_its_age_the_cache_is_relisted_behind_the_callers_back() -> None:
    """A snapshot never waits for the container list while the cache is valid: past half of
    list_max_age_s it answers from the cache and re-lists in the background (the next one is fresh)."""
    engine = FakeEngine()
    cid = engine.add("demo-alice-1", labels=OPTED)
    engine.publish(cid, ALICE)
    now = [1000.0]
    src = DockerSource(engine, DockerSourceOptions(project="demo", list_max_age_s=30.0), clock=lambda: now[0])
    async with Watcher(src):
        first = await src.snapshot()
        listed = engine.calls.count("containers")
        now[0] += 10  # younger than half: nothing happens
        assert await src.snapshot() is first
        await asyncio.sleep(0.05)
        assert engine.calls.count("containers") == listed
        now[0] += 10  # 20 s old: answered from the cache at once, re-listed behind
        assert await src.snapshot() is first
        for _ in range(100):
            if engine.calls.count("containers") > listed:
                break
            await asyncio.sleep(0.01)
        assert engine.calls.count("containers") == listed + 1
        await asyncio.sleep(0.05)
        now[0] += 20  # 40 s after the first list, 20 s after the background one: still valid
        second = await src.snapshot()
        assert second is not first
        assert engine.calls.count("containers") == listed + 1


@run_async
async def test_an_event_about_one_container_forgets_only_its_identity() -> None:
    """During a burst, events arrive while identities are being read: an event about C (or a network
    change) must not throw away A's and B's identities read meanwhile, or every pass re-reads them all."""
    engine = FakeEngine()
    cids = [engine.add(f"demo-{n}-1", labels=OPTED, ip=f"172.18.0.{i + 2}") for i, n in enumerate("abc")]
    for cid in cids:
        engine.publish(cid, ALICE if cid != cids[2] else BOB)
    src = source(engine)
    read = engine.get_archive

    def get_archive(container: str, path: str, chunk_size: int | None = None) -> Any:
        if container == cids[0]:
            src.invalidate(cids[2])  # what the container event for C does, while A is being read
        return read(container, path, chunk_size)

    engine.get_archive = get_archive  # type: ignore[method-assign]
    async with Watcher(src) as watcher:
        await src.snapshot()
        engine.get_archive = read  # type: ignore[method-assign]
        reads = engine.calls.count("get_archive")
        assert reads == 3
        (await src.snapshot())  # the listing was invalidated: re-listed; only C's identity read again
        assert engine.calls.count("get_archive") <= reads + 1  # C again at most (it may be read after)
        reads = engine.calls.count("get_archive")
        engine.network_event("connect", cids[1])  # an address change: re-list, identities kept
        await watcher.wait_for("docker:network-connect")
        listed = engine.calls.count("containers")
        workloads = await src.snapshot()
        assert engine.calls.count("containers") == listed + 1
        assert engine.calls.count("get_archive") == reads
        assert all(w.identity is not None for w in workloads)


@run_async
async def test_network_events_count_only_for_known_containers() -> None:
    engine = FakeEngine()
    cid = engine.add("demo-alice-1", labels=OPTED)
    engine.publish(cid, ALICE)
    src = source(engine)
    async with Watcher(src) as watcher:
        await src.snapshot()
        engine.network_event("connect", "e" * 64)  # some unrelated container
        engine.network_event("connect", cid)
        await watcher.wait_for("docker:network-connect")
        assert [r for r in watcher.reasons if "network" in r] == [
            f"docker:network-connect:demo_default:{cid[:12]}"
        ]


@run_async
async def test_a_lost_event_stream_ends_watch_with_source_error() -> None:
    engine = FakeEngine()
    src = source(engine)
    watcher = Watcher(src)
    await watcher.__aenter__()
    assert src.connected
    engine.streams["container"].end()
    assert watcher.task is not None
    with pytest.raises(SourceError, match="event stream ended"):
        async with asyncio.timeout(2):
            await watcher.task
    assert not src.connected
    assert all(s.closed for s in engine.streams.values())


@run_async
async def test_an_exception_in_the_stream_ends_watch_with_source_error() -> None:
    engine = FakeEngine()
    watcher = Watcher(source(engine))
    await watcher.__aenter__()
    engine.streams["network"].items.put(requests.exceptions.ChunkedEncodingError("connection broken"))
    assert watcher.task is not None
    with pytest.raises(SourceError, match="ChunkedEncodingError"):
        async with asyncio.timeout(2):
            await watcher.task


@run_async
async def test_watch_fails_fast_when_the_engine_is_down() -> None:
    engine = FakeEngine()
    engine.down = True
    src = source(engine)
    with pytest.raises(SourceError):
        async with asyncio.timeout(3):
            await src.watch(lambda: False, lambda reason: None)
    assert not src.connected


@run_async
async def test_watchdog_ping_detects_a_silent_engine() -> None:
    engine = FakeEngine()
    src = source(engine, ping_interval_s=0.05)
    watcher = Watcher(src)
    await watcher.__aenter__()
    engine.down = True
    assert watcher.task is not None
    with pytest.raises(SourceError, match="stopped answering"):
        async with asyncio.timeout(2):
            await watcher.task


@run_async
async def test_overflow_forces_a_full_refresh_instead_of_growing() -> None:
    engine = FakeEngine()
    cid = engine.add("demo-alice-1", labels=OPTED)
    src = source(engine, event_queue_size=2)
    async with Watcher(src, slow_s=0.3) as watcher:
        for _ in range(20):
            engine.container_event("start", cid, "demo-alice-1")
        await watcher.wait_for("docker:events-overflow", within=5)


@run_async
async def test_stop_returns_promptly_and_closes_streams() -> None:
    engine = FakeEngine()
    src = source(engine)
    watcher = Watcher(src)
    await watcher.__aenter__()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await watcher.__aexit__()
    assert loop.time() - started < 1.0
    assert all(s.closed for s in engine.streams.values())
