"""How DockerSource finds its own container and compose project — and refuses to guess (fail closed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from sidecar.errors import ConfigError
from sidecar.sources.docker import (
    DockerSourceOptions,
    container_ids_from_cgroup,
    container_ids_from_mountinfo,
    find_own_container,
    resolve_scope,
    root_upperdir,
)

CID = "02eaa52173772a26eceda624271a6c00e7f2a1c467d3d7f280c7ea3cf8f79f7b"
OTHER = "f" * 64

# Recorded inside a container on this engine (cgroup v1).
CGROUP_V1 = f"""9:name=systemd:/docker/{CID}
8:pids:/docker/{CID}
7:blkio:/docker/{CID}
"""
CGROUP_SYSTEMD = f"0::/system.slice/docker-{CID}.scope\n"
CGROUP_V2_PRIVATE = "0::/\n"
CGROUP_HOST = "9:name=systemd:/\n8:pids:/user.slice\n"

MOUNTINFO = f"""72 50 0:48 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/ABC
89 72 254:0 /var/lib/docker/containers/{CID}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw
90 72 254:0 /var/lib/docker/containers/{CID}/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw
"""
# A host process can see another container's files mounted elsewhere: that must not count.
MOUNTINFO_HOST = f"""30 1 254:0 / / rw - ext4 /dev/vda rw
99 30 254:0 /var/lib/docker/containers/{OTHER}/hostname /mnt/x rw - ext4 /dev/vda rw
"""


def test_cgroup_v1_and_systemd_layouts() -> None:
    assert container_ids_from_cgroup(CGROUP_V1) == [CID]
    assert container_ids_from_cgroup(CGROUP_SYSTEMD) == [CID]
    assert container_ids_from_cgroup(CGROUP_V2_PRIVATE) == []
    assert container_ids_from_cgroup(CGROUP_HOST) == []


def test_mountinfo_counts_only_the_engine_managed_etc_files() -> None:
    assert container_ids_from_mountinfo(MOUNTINFO) == [CID]
    assert container_ids_from_mountinfo(MOUNTINFO_HOST) == []


def own_attrs(project: str | None = "demo", hostname: str = CID[:12]) -> dict[str, Any]:
    labels = {"com.docker.compose.project": project} if project else {}
    return {"Id": CID, "Name": "/demo-pairing-sidecar-1", "Config": {"Hostname": hostname, "Labels": labels}}


def engine(*known: Mapping[str, Any]) -> Any:
    """inspect_container over a few containers, matching full ids, short-id prefixes and names."""

    def inspect(ref: str) -> Mapping[str, Any] | None:
        for attrs in known:
            if attrs["Id"].startswith(ref) or attrs["Name"].lstrip("/") == ref:
                return attrs
        return None

    return inspect


def test_found_by_cgroup() -> None:
    own = find_own_container(engine(own_attrs()), cgroup=CGROUP_V1, mountinfo="", hostname=None)
    assert own is not None
    assert own["Id"] == CID


def test_found_by_mountinfo_under_cgroup_v2() -> None:
    own = find_own_container(
        engine(own_attrs()), cgroup=CGROUP_V2_PRIVATE, mountinfo=MOUNTINFO, hostname=None
    )
    assert own is not None
    assert own["Id"] == CID


def test_found_by_hostname_only_when_it_is_the_containers_id_hostname() -> None:
    own = find_own_container(engine(own_attrs()), cgroup="", mountinfo="", hostname=CID[:12])
    assert own is not None
    # A custom hostname equal to an id prefix of some *other* container is not proof.
    other = find_own_container(
        engine(own_attrs(hostname="custom")), cgroup="", mountinfo="", hostname=CID[:12]
    )
    assert other is None


def test_a_host_named_like_a_container_does_not_adopt_it() -> None:
    named = {"Id": OTHER, "Name": "/agent", "Config": {"Hostname": "agent", "Labels": {}}}
    assert (
        find_own_container(engine(named), cgroup=CGROUP_HOST, mountinfo=MOUNTINFO_HOST, hostname="agent")
        is None
    )


def test_an_id_the_engine_does_not_know_is_not_us() -> None:
    # e.g. a sidecar in a container on *another* engine than the one DOCKER_HOST points at
    assert find_own_container(engine(), cgroup=CGROUP_V1, mountinfo=MOUNTINFO, hostname=CID[:12]) is None


def test_scope_from_own_project() -> None:
    scope = resolve_scope(DockerSourceOptions(), own_attrs("demo"))
    assert scope.project == "demo"
    assert "demo-pairing-sidecar-1" in scope.how


def test_explicit_project_wins() -> None:
    assert resolve_scope(DockerSourceOptions(project="other"), own_attrs("demo")).project == "other"
    assert resolve_scope(DockerSourceOptions(project="other"), None).project == "other"


def test_all_projects_is_explicit() -> None:
    scope = resolve_scope(DockerSourceOptions(all_projects=True), None)
    assert scope.project is None
    assert "'*'" in scope.how
    assert "all projects" in scope.describe()


@pytest.mark.parametrize("own", [None, own_attrs(project=None)])
def test_no_project_fails_closed_naming_the_setting(own: Mapping[str, Any] | None) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_scope(DockerSourceOptions(), own)
    message = str(info.value)
    assert "OPENCLAW_PAIRING_PROJECT=<project>" in message
    assert "OPENCLAW_PAIRING_PROJECT='*'" in message


# --- network_mode: service:<gateway> (compose's sidecar) ----------------------------------------------

GATEWAY = "b7671de234acf4b7bd90191da6127a5bf9c95bab4484bcfa582806c4dccb4820"
SIDECAR = "e67e8e203e90c6ffa4f95479bf5c804f5619cb13059fa45c1616b5435bc6c38a"
SIDECAR_UPPER = (
    "/var/lib/docker/overlay2/a4f55dbd51aacb93839d3394170ec7514c0705d95466203bf4ebe11cef104d4f/diff"
)
GATEWAY_UPPER = (
    "/var/lib/docker/overlay2/0691568816f090bff32eb444de774ce0025198c70565af5297d423d833705e11/diff"
)

# Recorded in a container started with --network container:<gateway>: the /etc files are the gateway's.
ROOT_OPTIONS = (
    f"rw,lowerdir=/var/lib/docker/overlay2/l/N67A:/var/lib/docker/overlay2/l/ENLF,upperdir={SIDECAR_UPPER}"
)
MOUNTINFO_SHARED = f"""237 102 0:83 / / rw,relatime master:7 - overlay overlay {ROOT_OPTIONS},workdir=/x/work
238 237 0:86 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
254 237 254:0 /var/lib/docker/containers/{GATEWAY}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw
255 237 254:0 /var/lib/docker/containers/{GATEWAY}/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw
256 237 254:0 /var/lib/docker/containers/{GATEWAY}/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw
"""


def shared_ns_engine() -> Any:
    gateway = {
        "Id": GATEWAY,
        "Name": "/gw-project-gateway-1",
        "Config": {"Hostname": GATEWAY[:12], "Labels": {"com.docker.compose.project": "gw-project"}},
        "GraphDriver": {"Data": {"UpperDir": GATEWAY_UPPER}},
    }
    sidecar = {
        "Id": SIDECAR,
        "Name": "/demo-pairing-sidecar-1",
        "Config": {"Hostname": GATEWAY[:12], "Labels": {"com.docker.compose.project": "demo"}},
        "GraphDriver": {"Data": {"UpperDir": SIDECAR_UPPER}},
    }
    return engine(gateway, sidecar)


def test_root_upperdir_from_mountinfo() -> None:
    assert root_upperdir(MOUNTINFO_SHARED) == SIDECAR_UPPER
    assert root_upperdir(MOUNTINFO) is None  # no upperdir option recorded there
    assert root_upperdir("30 1 254:0 / / rw - ext4 /dev/vda rw\n") is None  # not overlay


@pytest.mark.parametrize("hostname", [None, GATEWAY[:12]])
def test_in_another_containers_network_namespace_it_finds_itself_not_the_owner(hostname: str | None) -> None:
    own = find_own_container(
        shared_ns_engine(),
        cgroup=CGROUP_V2_PRIVATE,
        mountinfo=MOUNTINFO_SHARED,
        hostname=hostname,
        sharing=lambda cid: [SIDECAR] if cid == GATEWAY else [],
    )
    assert own is not None
    assert own["Id"] == SIDECAR
    assert resolve_scope(DockerSourceOptions(), own).project == "demo"


def test_no_sharer_with_our_root_filesystem_is_not_us() -> None:
    own = find_own_container(
        shared_ns_engine(),
        cgroup=CGROUP_V2_PRIVATE,
        mountinfo=MOUNTINFO_SHARED,
        hostname=None,
        sharing=lambda c: [],
    )
    assert own is None


def test_without_an_overlay_root_a_shared_namespace_is_ambiguous() -> None:
    no_overlay = MOUNTINFO_SHARED.replace(" - overlay overlay ", " - btrfs /dev/vdb ", 1)
    own = find_own_container(
        shared_ns_engine(),
        cgroup=CGROUP_V2_PRIVATE,
        mountinfo=no_overlay,
        hostname=None,
        sharing=lambda cid: [SIDECAR] if cid == GATEWAY else [],
    )
    assert own is None
    with pytest.raises(ConfigError, match="cannot identify its own container"):
        resolve_scope(DockerSourceOptions(), own)
