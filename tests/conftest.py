"""Shared fixtures: the real OpenClaw gateway (both versions), network namespaces, a real Docker engine.

`make test` (scripts/run-tests.sh) runs pytest inside a private network namespace with no route out.

Fixtures
- ``gateway96`` / ``gateway226`` (session): a running real gateway, `tests.harness.gateway.RealGateway`
  (``.url`` loopback URL — a client here is *local*, like the sidecar in production; ``.url_via(ip)``;
  ``.token``; ``.version``; ``.protocol``; ``.cli(*args)`` / ``.cli_json(*args)`` run the real CLI on the
  gateway host; ``.restart()``). ``gateway`` is parametrized over both versions. Pairing state is reset
  before each test that uses them.
- ``client_ns`` (session): `ClientNetns`, a second namespace joined by veth. ``client_ns.call(fn)`` runs a
  function there (its sockets are remote peers for the gateway; the gateway is at
  ``gateway.url_via(client_ns.host_ip)``); ``client_ns.exec_argv(argv)`` wraps a command.
- ``docker_client`` (session): docker SDK client. ``docker_net`` (function): a fresh ``internal`` Docker
  network labelled with this run's id, plugged into the test namespace: containers on it reach the
  gateways at ``docker_net.gateway_ip``; removed with its containers afterwards.
- ``run_label`` (session): ``{"openclaw.test-run": <id>}`` — put it on everything a test creates in Docker.

Skips: outside CI a missing prerequisite skips with the command that enables it; with
``OPENCLAW_TEST_REQUIRE=1`` (set by .ci/run) or ``CI=true`` it fails instead.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sidecar.envvars import TEST_RELEASES
from tests.harness import netns
from tests.harness.devices import reset_pairing
from tests.harness.gateway import VERSIONS, RealGateway, installed


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that restart the Docker engine run last: every container of every fixture stops with it."""
    items.sort(key=lambda item: item.get_closest_marker("engine_restart") is not None)


REQUIRE = os.environ.get("OPENCLAW_TEST_REQUIRE") == "1" or os.environ.get("CI", "").lower() == "true"
RUN_ID = secrets.token_hex(4)


def need(ok: bool, what: str, how: str) -> None:
    """Skip (developer machine) or fail (CI) when a prerequisite is missing."""
    if ok:
        return
    message = f"{what} is not available. {how}"
    if REQUIRE:
        pytest.fail(f"{message} (skipping is forbidden: OPENCLAW_TEST_REQUIRE=1 / CI=true)")
    pytest.skip(message)


def need_netns() -> None:
    need(
        netns.can_make_netns(),
        "a private network namespace (root, pytest started by scripts/run-tests.sh)",
        "Run `make test` (or `make test ARGS='-k <name>'`) as root.",
    )


# --- gateways --------------------------------------------------------------------------------


class GatewayPool:
    """Starts each version once per run, both in parallel on first use (the 9.x start takes 15–30 s).

    With OPENCLAW_TEST_RELEASES (make test-compat: up to nine releases) one gateway runs at a time: the
    one a test asks for starts, the others stop (tests/compat orders its tests by release).
    """

    def __init__(self, root: Path, one_at_a_time: bool = TEST_RELEASES.is_set(os.environ)) -> None:
        self.root = root
        self.gateways: dict[str, RealGateway] = {}
        self.lock = threading.Lock()
        self.one_at_a_time = one_at_a_time

    def get(self, version: str) -> RealGateway:
        need(installed(version), f"openclaw {version}", "Run `scripts/provision-node.sh` (make test does).")
        need_netns()
        with self.lock:
            if self.one_at_a_time and version not in self.gateways:
                self.stop_all()
                gw = RealGateway(version, self.root / version)
                gw.start()
                gw.wait_ready()
                self.gateways = {version: gw}
            if not self.gateways:
                for v in VERSIONS:
                    if installed(v):
                        gw = RealGateway(v, self.root / v)
                        gw.start()
                        self.gateways[v] = gw
                for gw in self.gateways.values():
                    gw.wait_ready()
            return self.gateways[version]

    def stop_all(self) -> None:
        for gw in self.gateways.values():
            gw.stop()


@pytest.fixture(scope="session")
def gateway_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayPool]:
    pool = GatewayPool(tmp_path_factory.mktemp("gateways"))
    yield pool
    pool.stop_all()


@pytest.fixture
def gateway96(gateway_pool: GatewayPool) -> RealGateway:
    gw = gateway_pool.get("2026.9.6")
    reset_pairing(gw)
    return gw


@pytest.fixture
def gateway226(gateway_pool: GatewayPool) -> RealGateway:
    gw = gateway_pool.get("2026.2.26")
    reset_pairing(gw)
    return gw


@pytest.fixture(params=VERSIONS)
def gateway(request: pytest.FixtureRequest, gateway_pool: GatewayPool) -> RealGateway:
    gw = gateway_pool.get(request.param)
    reset_pairing(gw)
    return gw


# --- namespaces ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def client_ns() -> Iterator[netns.ClientNetns]:
    need_netns()
    ns = netns.ClientNetns.create(RUN_ID)
    yield ns
    ns.destroy()


# --- Docker ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def run_label() -> dict[str, str]:
    return {"openclaw.test-run": RUN_ID}


@pytest.fixture(scope="session")
def docker_client(run_label: dict[str, str]) -> Iterator[Any]:
    try:
        import docker

        client = docker.from_env(timeout=60)
        client.ping()
        ok = True
    except Exception:
        ok = False
    need(
        ok,
        "a Docker engine",
        "Start Docker, or run `make test` as root on Debian (it installs and starts dockerd).",
    )
    yield client
    selector = f"openclaw.test-run={RUN_ID}"
    for container in client.containers.list(all=True, filters={"label": selector}):
        container.remove(force=True)
    for network in client.networks.list(filters={"label": selector}):
        network.remove()
    client.close()


@dataclass
class DockerNet:
    name: str
    network: Any
    gateway_ip: str  # the test namespace's address on this network: the gateways listen there too
    subnet: str


_plug_index = iter(range(1, 10_000))


@pytest.fixture
def docker_net(docker_client: Any, run_label: dict[str, str]) -> Iterator[DockerNet]:
    need_netns()
    name = f"ocp-test-{RUN_ID}-{secrets.token_hex(3)}"
    network = docker_client.networks.create(name, driver="bridge", internal=True, labels=run_label)
    network.reload()
    plug = netns.plug_into_docker_network(network.attrs, next(_plug_index))
    subnet = network.attrs["IPAM"]["Config"][0]["Subnet"]
    yield DockerNet(name, network, plug.ip, subnet)
    for container in docker_client.containers.list(all=True, filters={"network": network.id}):
        container.remove(force=True)
    plug.unplug()
    network.remove()
