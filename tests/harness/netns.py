"""Network namespaces for tests: remote peers, and a door from Docker networks into the test namespace.

`make test` runs pytest inside a private network namespace (scripts/run-tests.sh), so the real gateway
binds only there and nothing can leave the machine: there is no route out. From that namespace:

- `ClientNetns` is a second namespace joined by a veth pair. Code run there is a *remote* peer for the
  gateway (OpenClaw treats every non-loopback peer as remote, so its requests stay pending).
- `plug_into_docker_network` puts a veth end on a test-created Docker network's bridge, so containers on
  that network reach the gateway at an address of their own subnet, and the gateway sees their real IPs.

Python 3.11 has no `os.setns`, and `setns(CLONE_NEWNET)` only affects the calling thread, so
`ClientNetns.call` runs a function on a fresh thread that first joins the namespace.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=30)


def in_private_netns() -> bool:
    """True when this process runs in a network namespace with no default route (the test sandbox)."""
    if os.environ.get("OPENCLAW_TEST_NETNS") != "1":
        return False
    routes = sh("ip", "route", "show", "default", check=False).stdout.strip()
    return routes == ""


def can_make_netns() -> bool:
    return os.geteuid() == 0 and in_private_netns()


@dataclass
class ClientNetns:
    """A named namespace joined to the test namespace by a veth pair (host side .1, client side .2)."""

    name: str
    host_ip: str
    client_ip: str
    _host_if: str

    @classmethod
    def create(cls, tag: str, index: int = 0) -> ClientNetns:
        name = f"ocp-{tag}-{index}"
        net = ipaddress.ip_network(f"10.213.{index}.0/24")
        host_ip, client_ip = str(net.network_address + 1), str(net.network_address + 2)
        host_if, client_if = f"ocph{os.getpid() % 10000}x{index}", f"ocpc{os.getpid() % 10000}x{index}"
        sh("ip", "netns", "add", name)
        # Stray name lookups inside the namespace must fail locally, never leave the machine.
        resolv = Path("/etc/netns") / name / "resolv.conf"
        resolv.parent.mkdir(parents=True, exist_ok=True)
        resolv.write_text("nameserver 127.0.0.1\n")
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", client_if, "netns", name)
        sh("ip", "addr", "add", f"{host_ip}/24", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        for cmd in (
            ("ip", "link", "set", "lo", "up"),
            ("ip", "addr", "add", f"{client_ip}/24", "dev", client_if),
            ("ip", "link", "set", client_if, "up"),
        ):
            sh("ip", "netns", "exec", name, *cmd)
        return cls(name, host_ip, client_ip, host_if)

    @property
    def path(self) -> str:
        return f"/var/run/netns/{self.name}"

    def call(self, fn: Callable[[], T], timeout: float = 120.0) -> T:
        """Run ``fn`` on a thread inside this namespace (sockets it opens belong to the namespace)."""
        box: dict[str, object] = {}

        def target() -> None:
            try:
                fd = os.open(self.path, os.O_RDONLY)
                try:
                    if _libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), f"setns({self.path}) failed")
                finally:
                    os.close(fd)
                box["value"] = fn()
            except BaseException as exc:  # re-raised in the caller's thread
                box["error"] = exc

        thread = threading.Thread(target=target, name=f"netns-{self.name}", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"function in namespace {self.name} still running after {timeout} s")
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        return box["value"]  # type: ignore[return-value]

    def exec_argv(self, argv: list[str]) -> list[str]:
        """The argv that runs a command inside this namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def destroy(self) -> None:
        sh("ip", "netns", "del", self.name, check=False)
        sh("ip", "link", "del", self._host_if, check=False)
        resolv_dir = Path("/etc/netns") / self.name
        for child in resolv_dir.glob("*"):
            child.unlink(missing_ok=True)
        if resolv_dir.exists():
            resolv_dir.rmdir()


@dataclass
class DockerPlug:
    """A veth whose outer end is enslaved to a Docker bridge; the inner end is in the test namespace."""

    ip: str
    inner_if: str
    bridge: str

    def unplug(self) -> None:
        sh("ip", "link", "del", self.inner_if, check=False)


def outer_netns_pid() -> int:
    """The nearest ancestor process that lives outside our network namespace (where dockerd's bridges are).

    PID 1 is not usable on every machine (its namespace link can be unreadable), but the process that
    started the private namespace (scripts/run-tests.sh, or any `unshare` wrapper) always is.
    """
    own = os.readlink("/proc/self/ns/net")
    pid = os.getppid()
    while pid > 1:
        try:
            if os.readlink(f"/proc/{pid}/ns/net") != own:
                return pid
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    raise RuntimeError(
        "no ancestor process outside this network namespace: start pytest via scripts/run-tests.sh"
    )


def plug_into_docker_network(network_attrs: dict[str, object], index: int) -> DockerPlug:
    """Give the test namespace an address on a Docker network (the last usable one of its subnet).

    Docker allocates container addresses from the bottom of the subnet, so the top one is free. The outer
    veth end goes to the outer namespace (where dockerd made the bridge) and joins the network's bridge.
    """
    options = network_attrs.get("Options") or {}
    assert isinstance(options, dict)
    net_id = str(network_attrs["Id"])
    bridge = str(options.get("com.docker.network.bridge.name") or f"br-{net_id[:12]}")
    ipam = network_attrs["IPAM"]
    assert isinstance(ipam, dict)
    subnet = ipaddress.ip_network(ipam["Config"][0]["Subnet"])
    ip = str(subnet.broadcast_address - 1)
    inner, outer = f"ocpd{os.getpid() % 10000}x{index}", f"ocpo{os.getpid() % 10000}x{index}"
    host = str(outer_netns_pid())
    sh("ip", "link", "add", inner, "type", "veth", "peer", "name", outer, "netns", host)
    sh("nsenter", "-t", host, "-n", "ip", "link", "set", outer, "master", bridge)
    sh("nsenter", "-t", host, "-n", "ip", "link", "set", outer, "up")
    sh("ip", "addr", "add", f"{ip}/{subnet.prefixlen}", "dev", inner)
    sh("ip", "link", "set", inner, "up")
    return DockerPlug(ip, inner, bridge)
