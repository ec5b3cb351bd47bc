"""DockerSource's pure extraction on canned `docker ps` summaries (shapes recorded from Engine 20.10)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sidecar.errors import ConfigError
from sidecar.settings import load_settings
from sidecar.sources.docker import (
    DockerSourceOptions,
    ProjectScope,
    ipam_gateways,
    is_selected,
    list_filters,
    merge_gateways,
    network_addresses,
    workload_from_summary,
)

CID = "02eaa52173772a26eceda624271a6c00e7f2a1c467d3d7f280c7ea3cf8f79f7b"

# `GET /containers/json?all=1` entry, as recorded here (trimmed of fields the source ignores).
SUMMARY: dict[str, Any] = {
    "Id": CID,
    "Names": ["/demo-agent-1"],
    "Image": "local/python:3.11-bookworm",
    "ImageID": "sha256:955b4b24a7bcdb006444fccb0fa1040eaf62ec76fb7940fe0d6050b020820c67",
    "Labels": {
        "com.docker.compose.project": "demo",
        "com.docker.compose.service": "agent",
        "openclaw.pairing.auto-approve": "true",
    },
    "State": "running",
    "HostConfig": {"NetworkMode": "demo_default"},
    "NetworkSettings": {
        "Networks": {
            "demo_default": {
                "NetworkID": "8cdb6a71dda38ea918202d789f8535b3e7260604a89ff7eb6ba2c6e96e75d0f5",
                "Gateway": "172.18.0.1",
                "IPAddress": "172.18.0.2",
                "IPPrefixLen": 16,
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
            },
            "demo_backend": {
                "NetworkID": "aa" * 32,
                "Gateway": "10.20.0.1",
                "IPAddress": "10.20.0.5",
            },
        }
    },
}


def summary(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(SUMMARY)
    data.update(changes)
    return data


def test_ips_gateways_and_network_ids_per_network() -> None:
    ips, gateways, ids = network_addresses(SUMMARY)
    assert ips == {"demo_default": "172.18.0.2", "demo_backend": "10.20.0.5"}
    assert gateways == {"demo_default": "172.18.0.1", "demo_backend": "10.20.0.1"}
    assert ids["demo_default"].startswith("8cdb6a71")


@pytest.mark.parametrize(
    "networks",
    [None, {}, {"none": {"IPAddress": "", "Gateway": ""}}, {"weird": "not-a-mapping"}],
)
def test_containers_without_addresses_have_none(networks: Any) -> None:
    ips, gateways, _ = network_addresses(summary(NetworkSettings={"Networks": networks}))
    assert ips == {}
    assert gateways == {}


def test_ipam_gateways_from_network_inspect() -> None:
    network = {
        "IPAM": {
            "Config": [
                {"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"},
                {"Subnet": "fd00::/64", "Gateway": "fd00::1"},
                {"Subnet": "10.9.0.0/24"},
            ]
        }
    }
    assert ipam_gateways(network) == ["172.18.0.1", "fd00::1"]
    assert ipam_gateways({"IPAM": {"Config": None}}) == []
    assert ipam_gateways({}) == []


def test_merge_keeps_endpoint_gateway_and_adds_differing_ipam_ones() -> None:
    merged = merge_gateways({"a": "172.18.0.1"}, {"a": ["172.18.0.1", "fd00::1"], "b": ["10.1.0.1"]})
    assert merged == {"a": "172.18.0.1", "a#ipam1": "fd00::1", "b": "10.1.0.1"}


def test_workload_from_summary_has_every_field_the_policy_reads() -> None:
    w = workload_from_summary(SUMMARY, ipam={"demo_default": ["172.18.0.1"]}, identity_error="missing")
    assert w.id == CID
    assert w.short_id == CID[:12]
    assert w.name == "demo-agent-1"
    assert w.service == "agent"
    assert w.project == "demo"
    assert w.image == "local/python:3.11-bookworm"
    assert w.image_id.startswith("sha256:955b")
    assert w.running is True
    assert w.ips == {"demo_default": "172.18.0.2", "demo_backend": "10.20.0.5"}
    assert w.network_gateways == {"demo_default": "172.18.0.1", "demo_backend": "10.20.0.1"}
    assert w.labels["openclaw.pairing.auto-approve"] == "true"
    assert w.identity is None
    assert w.identity_error == "missing"


@pytest.mark.parametrize("state", ["exited", "created", "paused", "restarting", "dead", None])
def test_only_state_running_counts_as_running(state: str | None) -> None:
    assert workload_from_summary(summary(State=state)).running is False


def test_name_falls_back_to_short_id() -> None:
    assert workload_from_summary(summary(Names=[])).name == CID[:12]


OPTS = DockerSourceOptions()
DEMO = ProjectScope("demo", "test")
ALL = ProjectScope(None, "test")


@pytest.mark.parametrize(
    ("labels", "scope", "selected"),
    [
        ({"openclaw.pairing.auto-approve": "true", "com.docker.compose.project": "demo"}, DEMO, True),
        ({"openclaw.pairing.auto-approve": " TRUE ", "com.docker.compose.project": "demo"}, DEMO, True),
        ({"openclaw.pairing.auto-approve": "false", "com.docker.compose.project": "demo"}, DEMO, False),
        ({"openclaw.pairing.auto-approve": "", "com.docker.compose.project": "demo"}, DEMO, False),
        ({"com.docker.compose.project": "demo"}, DEMO, False),
        ({"openclaw.pairing.auto-approve": "true", "com.docker.compose.project": "other"}, DEMO, False),
        ({"openclaw.pairing.auto-approve": "true"}, DEMO, False),
        ({"openclaw.pairing.auto-approve": "true", "com.docker.compose.project": "other"}, ALL, True),
        ({"openclaw.pairing.auto-approve": "true"}, ALL, True),
        ({"openclaw.autopair": "true"}, ALL, False),
    ],
)
def test_label_and_project_selection(labels: dict[str, str], scope: ProjectScope, selected: bool) -> None:
    assert is_selected(labels, OPTS, scope) is selected


def test_custom_label_key_and_value() -> None:
    opts = DockerSourceOptions(opt_in_label="example.com/pair", opt_in_value="yes")
    assert is_selected({"example.com/pair": "yes"}, opts, ALL)
    assert not is_selected({"openclaw.pairing.auto-approve": "true"}, opts, ALL)
    assert list_filters(opts, DEMO) == {"label": ["example.com/pair", "com.docker.compose.project=demo"]}


def test_server_side_filter_is_by_key_and_project() -> None:
    assert list_filters(OPTS, DEMO) == {
        "label": ["openclaw.pairing.auto-approve", "com.docker.compose.project=demo"]
    }
    assert list_filters(OPTS, ALL) == {"label": ["openclaw.pairing.auto-approve"]}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"project": "demo", "all_projects": True},
        {"project": "Not A Project"},
        {"opt_in_label": "a=b"},
        {"opt_in_label": ""},
        {"opt_in_value": " "},
        {"identity_path_label": "with space"},
        {"default_identity_path": "/home/node/.openclaw/identity/device.json"},
    ],
)
def test_invalid_options_are_config_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        DockerSourceOptions(**kwargs)


@pytest.mark.parametrize(
    ("project", "expected"),
    [("auto", (None, False)), ("*", (None, True)), ("demo", ("demo", False))],
)
def test_options_from_settings_map_the_project_setting(project: str, expected: tuple[Any, bool]) -> None:
    settings = load_settings(environ={"OPENCLAW_PAIRING_PROJECT": project})
    opts = DockerSourceOptions.from_settings(settings)
    assert (opts.project, opts.all_projects) == expected
    assert opts.opt_in_label == "openclaw.pairing.auto-approve"
    assert opts.default_identity_path == "/home/node/.openclaw/identity/device.pub.json"


def test_options_from_settings_carry_custom_labels() -> None:
    settings = load_settings(
        environ={
            "OPENCLAW_PAIRING_LABEL_OPT_IN": "acme.pair",
            "OPENCLAW_PAIRING_LABEL_OPT_IN_VALUE": "on",
            "OPENCLAW_PAIRING_LABEL_IDENTITY_PATH": "acme.identity",
            "OPENCLAW_PAIRING_DEFAULT_IDENTITY_PATH": "/state/identity/device.pub.json",
        }
    )
    opts = DockerSourceOptions.from_settings(settings)
    assert (opts.opt_in_label, opts.opt_in_value, opts.identity_path_label) == (
        "acme.pair",
        "on",
        "acme.identity",
    )
    assert opts.default_identity_path == "/state/identity/device.pub.json"
