"""DockerSource against the real Docker engine: labels, projects, published identities, IPs, events.

Everything is created on a test-made ``internal`` network from the local base image (never pulled), is
labelled with this run's id, and is removed afterwards (the ``docker_client`` fixture also sweeps by label).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sidecar.errors import ConfigError
from sidecar.identity.keys import DeviceIdentity
from sidecar.sources.docker import DockerSource, DockerSourceOptions, connect
from sidecar.sources.workloads import Workload

pytestmark = [pytest.mark.integration, pytest.mark.docker]

IMAGE = "local/python:3.11-bookworm"
OPT_IN = {"openclaw.pairing.auto-approve": "true"}
DEFAULT_PATH = "/home/node/.openclaw/identity/device.pub.json"


@pytest.fixture
def image(docker_client: Any) -> str:
    import docker

    try:
        docker_client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(
            f"{IMAGE} is missing: run `scripts/docker-engine.sh base` (it is built locally, never pulled)"
        )
    return IMAGE


@pytest.fixture
def net(docker_client: Any, run_label: dict[str, str]) -> Iterator[Any]:
    network = docker_client.networks.create(
        f"ocp-src-{run_label['openclaw.test-run']}-{secrets.token_hex(3)}",
        driver="bridge",
        internal=True,
        labels=run_label,
    )
    network.reload()
    yield network
    for container in docker_client.containers.list(all=True, filters={"network": network.id}):
        container.remove(force=True)
    network.reload()
    network.remove()


@pytest.fixture
def project(run_label: dict[str, str]) -> str:
    return f"ocp-it-{run_label['openclaw.test-run']}-{secrets.token_hex(2)}"


@pytest.fixture
def project_net(docker_client: Any, run_label: dict[str, str], project: str) -> Iterator[Any]:
    """A network of the compose project (labelled as compose labels its networks): dev-approve-all's scope."""
    network = docker_client.networks.create(
        f"{project}_default",
        driver="bridge",
        internal=True,
        labels={**run_label, "com.docker.compose.project": project, "com.docker.compose.network": "default"},
    )
    network.reload()
    yield network
    for container in docker_client.containers.list(all=True, filters={"network": network.id}):
        container.remove(force=True)
    network.remove()


Start = Callable[..., Any]


@pytest.fixture
def start(docker_client: Any, run_label: dict[str, str], net: Any, image: str, project: str) -> Start:
    """Run a container on the test network; ``publish`` writes a device.pub.json *after* it starts."""

    def run(
        name: str,
        *,
        labels: dict[str, str] | None = None,
        in_project: str | None = None,
        publish: DeviceIdentity | None = None,
        path: str = DEFAULT_PATH,
        script: str = "",
        compose: bool = True,
        network: Any = None,
        **kwargs: Any,
    ) -> Any:
        """``compose=False``: no compose labels at all; ``network``: another network than ``net``."""
        compose_labels = {
            "com.docker.compose.project": in_project or project,
            "com.docker.compose.service": name,
        }
        all_labels = {**run_label, **(compose_labels if compose else {}), **(labels or {})}
        env = {}
        if publish is not None:
            env["PUB"] = json.dumps(publish.public().to_json())
            script = f'mkdir -p "$(dirname {path})" && printf "%s" "$PUB" > {path}; {script}'
        return docker_client.containers.run(
            image,
            ["sh", "-c", f"{script} exec sleep infinity"],
            name=f"{project}-{name}",
            labels=all_labels,
            environment=env,
            network=(network or net).name,
            init=True,
            detach=True,
            **kwargs,
        )

    return run


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)


async def snapshot_until(
    src: DockerSource, ok: Callable[[dict[str, Workload]], bool], within: float = 10.0
) -> dict[str, Workload]:
    deadline = time.monotonic() + within
    while True:
        found = {w.labels.get("com.docker.compose.service", w.name): w for w in await src.snapshot()}
        if ok(found) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


def ip_and_gateway(container: Any, net: Any) -> tuple[str, str]:
    container.reload()
    endpoint = container.attrs["NetworkSettings"]["Networks"][net.name]
    return endpoint["IPAddress"], endpoint["Gateway"]


def test_finds_exactly_the_labelled_containers_of_its_project(
    start: Start, net: Any, project: str, tmp_path: Path
) -> None:
    alice, bob, plain, stranger, eve = (DeviceIdentity.generate() for _ in range(5))
    a = start("alice", labels=OPT_IN, publish=alice)
    # bob's identity comes from a read-only bind mount at a path named by label
    published = tmp_path / "bob.pub.json"
    published.write_text(json.dumps(bob.public().to_json()))
    start(
        "bob",
        labels={**OPT_IN, "openclaw.pairing.identity-path": "/ids/bob.pub.json"},
        volumes={str(published): {"bind": "/ids/bob.pub.json", "mode": "ro"}},
    )
    start("plain", publish=plain)  # not opted in
    start("stranger", labels=OPT_IN, publish=stranger, in_project=f"{project}-other")  # other project
    start(
        "eve",  # opted in, but her published path is a symlink to her private key: refused
        labels={**OPT_IN, "openclaw.pairing.identity-path": "/ids/eve.pub.json"},
        publish=eve,
        path="/ids/device.json",
        script="ln -s /ids/device.json /ids/eve.pub.json;",
    )
    src = DockerSource(connect(), DockerSourceOptions(project=project))

    def settled(f: dict[str, Workload]) -> bool:
        """All start scripts have run: alice's file and eve's symlink are written after the start."""
        return (
            set(f) == {"alice", "bob", "eve"}
            and all(f[name].identity is not None for name in ("alice", "bob"))
            and "symlink" in (f["eve"].identity_error or "")
        )

    found = run_async(snapshot_until(src, settled))

    assert set(found) == {"alice", "bob", "eve"}
    assert src.connected
    w = found["alice"]
    assert w.identity is not None
    assert (w.identity.device_id, w.identity.public_key) == (alice.device_id, alice.public_key_b64url)
    ip, gateway = ip_and_gateway(a, net)
    assert w.ips == {net.name: ip}
    assert w.network_gateways[net.name] == gateway == net.attrs["IPAM"]["Config"][0]["Gateway"]
    assert w.running
    assert (w.service, w.project, w.image) == ("alice", project, IMAGE)
    assert w.image_id.startswith("sha256:")
    assert w.id == a.id

    assert found["bob"].identity is not None
    assert found["bob"].identity.device_id == bob.device_id
    assert found["eve"].identity is None
    assert "symlink" in (found["eve"].identity_error or "")


def test_all_projects_only_when_explicit(start: Start, project: str) -> None:
    start("mine", labels=OPT_IN)
    start("theirs", labels=OPT_IN, in_project=f"{project}-x")
    every = run_async(DockerSource(connect(), DockerSourceOptions(all_projects=True)).snapshot())
    names = {w.name for w in every}
    assert {f"{project}-mine", f"{project}-theirs"} <= names


def test_finds_its_own_project_from_inside_a_real_container(start: Start, project: str) -> None:
    me = start("sidecar")
    me.reload()
    proc_root = f"/proc/{me.attrs['State']['Pid']}"
    src = DockerSource(
        connect(), DockerSourceOptions(), proc_root=proc_root, hostname=me.attrs["Config"]["Hostname"]
    )
    scope = run_async(src.resolve_scope())
    assert scope.project == project
    assert f"{project}-sidecar" in scope.how


def test_in_the_gateways_network_namespace_it_finds_itself_not_the_gateway(
    start: Start, docker_client: Any, run_label: dict[str, str], project: str, tmp_path: Path
) -> None:
    """compose's ``network_mode: service:openclaw-gateway``: /etc/hostname and HOSTNAME are the gateway's.

    cgroup v2 hides the container id from /proc/self/cgroup, so this simulates it: an empty cgroup file
    and the sidecar container's real mountinfo.
    """
    gateway = start("gateway", in_project=f"{project}-gw")
    sidecar = docker_client.containers.run(
        IMAGE,
        ["sleep", "infinity"],
        name=f"{project}-sidecar",
        labels={**run_label, "com.docker.compose.project": project},
        network_mode=f"container:{gateway.id}",
        init=True,
        detach=True,
    )
    try:
        sidecar.reload()
        proc = tmp_path / "proc"
        proc.mkdir()
        (proc / "cgroup").write_text("0::/\n")
        (proc / "mountinfo").write_text(Path(f"/proc/{sidecar.attrs['State']['Pid']}/mountinfo").read_text())
        hostname = gateway.attrs["Config"]["Hostname"]  # what HOSTNAME says inside the sidecar
        src = DockerSource(connect(), DockerSourceOptions(), proc_root=str(proc), hostname=hostname)
        scope = run_async(src.resolve_scope())
        assert scope.project == project
        assert f"{project}-sidecar" in scope.how
    finally:
        sidecar.remove(force=True)


def test_refuses_to_guess_without_a_project(
    start: Start, docker_client: Any, run_label: dict[str, str]
) -> None:
    loner = docker_client.containers.run(
        IMAGE, ["sleep", "infinity"], labels=run_label, init=True, detach=True, network_mode="none"
    )
    try:
        loner.reload()
        src = DockerSource(
            connect(), DockerSourceOptions(), proc_root=f"/proc/{loner.attrs['State']['Pid']}", hostname=""
        )
        with pytest.raises(ConfigError, match="OPENCLAW_PAIRING_PROJECT"):
            run_async(src.resolve_scope())
    finally:
        loner.remove(force=True)


def test_reacts_to_start_die_destroy_and_network_events(
    start: Start, docker_client: Any, project: str, run_label: dict[str, str]
) -> None:
    carol = DeviceIdentity.generate()

    async def scenario() -> list[str]:
        src = DockerSource(connect(), DockerSourceOptions(project=project))
        reasons: list[str] = []
        stopping = False
        task = asyncio.create_task(src.watch(lambda: stopping, reasons.append))

        async def saw(prefix: str, within: float = 10.0) -> None:
            deadline = time.monotonic() + within
            while not any(r.startswith(prefix) for r in reasons):
                assert not task.done(), task.exception()
                assert time.monotonic() < deadline, f"no {prefix!r} in {reasons}"
                await asyncio.sleep(0.05)

        try:
            await saw("docker:connected")
            assert await src.snapshot() == ()

            c = await asyncio.to_thread(start, "carol", labels=OPT_IN, publish=carol)
            await saw(f"docker:start:{project}-carol")
            found = await snapshot_until(src, lambda f: "carol" in f and f["carol"].identity is not None)
            assert found["carol"].identity is not None
            assert found["carol"].identity.device_id == carol.device_id

            other = await asyncio.to_thread(start, "other", labels=OPT_IN, in_project=f"{project}-z")
            plain = await asyncio.to_thread(start, "plain")
            extra = await asyncio.to_thread(
                docker_client.networks.create,
                f"ocp-src-extra-{secrets.token_hex(3)}",
                internal=True,
                labels=run_label,
            )
            try:
                await asyncio.to_thread(extra.connect, c)
                await saw("docker:network-connect")
                found = await snapshot_until(src, lambda f: len(f["carol"].ips) == 2)
                assert set(found["carol"].ips) == {c.attrs["HostConfig"]["NetworkMode"], extra.name}
                await asyncio.to_thread(extra.disconnect, c)
                await saw("docker:network-disconnect")
            finally:
                await asyncio.to_thread(extra.remove)

            await asyncio.to_thread(c.stop, timeout=1)
            await saw(f"docker:die:{project}-carol")
            found = await snapshot_until(src, lambda f: not f["carol"].running)
            assert not found["carol"].running
            assert found["carol"].identity is None  # not read for a stopped container

            await asyncio.to_thread(c.remove)
            await saw(f"docker:destroy:{project}-carol")
            assert await src.snapshot() == ()

            for ignored in (other, plain):
                assert not any(ignored.name in r for r in reasons), reasons
            return reasons
        finally:
            stopping = True
            await asyncio.wait_for(task, 3)

    reasons = run_async(scenario())
    assert reasons[0] == "docker:connected"


# --- mode dev-approve-all: every running container on the project's networks --------------------------


def by_name(workloads: Any) -> dict[str, Workload]:
    return {w.name: w for w in workloads}


def test_dev_mode_reports_every_running_container_on_the_project_networks_and_strict_does_not(
    start: Start, net: Any, project_net: Any, project: str
) -> None:
    alice = DeviceIdentity.generate()
    start("alice", labels=OPT_IN, publish=alice, network=project_net)
    bare = start("bare", compose=False, network=project_net)  # no labels at all
    guest = start("guest", in_project=f"{project}-other", network=project_net)  # another project's
    start("outsider", publish=alice)  # the project's, unlabelled, but only on the other network
    sleeper = start("sleeper", compose=False, network=project_net)
    sleeper.stop(timeout=1)
    names = {f"{project}-{n}" for n in ("alice", "bare", "guest")}

    dev = DockerSource(connect(), DockerSourceOptions(project=project, dev_approve_all=True))
    found = run_async(
        snapshot_until(
            dev,
            lambda f: (
                {w.name for w in f.values()} == names
                and all(w.identity is not None for w in f.values() if w.name.endswith("-alice"))
            ),
        )
    )
    found = by_name(found.values())
    assert set(found) == names
    for name, container in ((f"{project}-bare", bare), (f"{project}-guest", guest)):
        w = found[name]
        ip, gateway = ip_and_gateway(container, project_net)
        assert w.ips == {project_net.name: ip}
        assert w.project_networks == {project_net.name}
        assert w.network_gateways[project_net.name] == gateway
        assert w.running
        assert w.identity is None
        assert "not opted in" in (w.identity_error or "")
    assert found[f"{project}-alice"].project_networks == {project_net.name}
    assert found[f"{project}-alice"].identity is not None

    strict = run_async(DockerSource(connect(), DockerSourceOptions(project=project)).snapshot())
    assert [w.name for w in strict] == [f"{project}-alice"]
    assert strict[0].project_networks == frozenset()


def test_dev_mode_with_every_project_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"OPENCLAW_PAIRING_MODE=dev-approve-all.*OPENCLAW_PAIRING_PROJECT='\*'"
    ):
        DockerSourceOptions(all_projects=True, dev_approve_all=True)


def test_dev_mode_follows_unlabelled_containers_joining_and_leaving_the_project_networks(
    start: Start, project_net: Any, project: str
) -> None:
    async def scenario() -> list[str]:
        src = DockerSource(connect(), DockerSourceOptions(project=project, dev_approve_all=True))
        reasons: list[str] = []
        stopping = False
        task = asyncio.create_task(src.watch(lambda: stopping, reasons.append))

        async def saw(prefix: str, within: float = 10.0) -> None:
            deadline = time.monotonic() + within
            while not any(r.startswith(prefix) for r in reasons):
                assert not task.done(), task.exception()
                assert time.monotonic() < deadline, f"no {prefix!r} in {reasons}"
                await asyncio.sleep(0.05)

        try:
            await saw("docker:connected")
            assert await src.snapshot() == ()

            other = await asyncio.to_thread(start, "other", compose=False)  # not on a project network
            bare = await asyncio.to_thread(start, "bare", compose=False, network=project_net)
            await saw(f"docker:start:{project}-bare")
            found = by_name((await snapshot_until(src, lambda f: len(f) == 1)).values())
            assert found[f"{project}-bare"].project_networks == {project_net.name}

            await asyncio.to_thread(project_net.connect, other)
            await saw(f"docker:network-connect:{project_net.name}:{other.id[:12]}")
            found = by_name((await snapshot_until(src, lambda f: len(f) == 2)).values())
            assert found[f"{project}-other"].project_networks == {project_net.name}
            assert len(found[f"{project}-other"].ips) == 2
            await asyncio.to_thread(project_net.disconnect, other)
            await saw(f"docker:network-disconnect:{project_net.name}:{other.id[:12]}")
            found = by_name((await snapshot_until(src, lambda f: len(f) == 1)).values())
            assert set(found) == {f"{project}-bare"}
            left = len(reasons)

            await asyncio.to_thread(bare.stop, timeout=1)
            await saw(f"docker:die:{project}-bare")
            assert await snapshot_until(src, lambda f: not f) == {}

            # once it left the project network, the other container is not followed any more
            await asyncio.to_thread(other.restart, timeout=1)
            await asyncio.sleep(1.0)
            assert not any(f"{project}-other" in r or other.id[:12] in r for r in reasons[left:]), reasons
            return reasons
        finally:
            stopping = True
            await asyncio.wait_for(task, 3)

    reasons = run_async(scenario())
    assert reasons[0] == "docker:connected"
