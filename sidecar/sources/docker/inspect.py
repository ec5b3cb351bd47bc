"""Pure parsing of Docker's container and network data into :class:`Workload` (no I/O, easy to test)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sidecar.identity.keys import PublicIdentity
from sidecar.sources.workloads import Workload

COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"


def network_addresses(summary: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """``(ips, endpoint_gateways, network_ids)`` per network name from NetworkSettings.Networks."""
    networks = ((summary.get("NetworkSettings") or {}).get("Networks")) or {}
    ips: dict[str, str] = {}
    gateways: dict[str, str] = {}
    ids: dict[str, str] = {}
    for name, endpoint in networks.items():
        if not isinstance(endpoint, Mapping):
            continue
        if endpoint.get("IPAddress"):
            ips[str(name)] = str(endpoint["IPAddress"])
        if endpoint.get("Gateway"):
            gateways[str(name)] = str(endpoint["Gateway"])
        if endpoint.get("NetworkID"):
            ids[str(name)] = str(endpoint["NetworkID"])
    return ips, gateways, ids


def ipam_gateways(network: Mapping[str, Any]) -> list[str]:
    """Gateway addresses configured in a network's IPAM (``docker network inspect``)."""
    configs = ((network.get("IPAM") or {}).get("Config")) or []
    return [str(c["Gateway"]) for c in configs if isinstance(c, Mapping) and c.get("Gateway")]


def project_network_ids(networks: Iterable[Any], project: str) -> dict[str, str]:
    """``{id: name}`` of the networks (``docker network ls`` entries) labelled as this compose project's."""
    out: dict[str, str] = {}
    for network in networks:
        if not isinstance(network, Mapping) or not network.get("Id"):
            continue
        if (network.get("Labels") or {}).get(COMPOSE_PROJECT_LABEL) == project:
            out[str(network["Id"])] = str(network.get("Name") or network["Id"])
    return out


def attached_to(summary: Mapping[str, Any], network_ids: Collection[str]) -> list[str]:
    """Names of the container's networks whose id is one of ``network_ids``."""
    _, _, ids = network_addresses(summary)
    return sorted(name for name, net_id in ids.items() if net_id in network_ids)


def merge_gateways(endpoint: Mapping[str, str], ipam: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """One entry per network, plus ``"<network>#ipam<n>"`` for IPAM gateways that differ from it.

    The policy treats every value as "never a client address", so extra entries only make it stricter.
    """
    merged = dict(endpoint)
    for name, addresses in ipam.items():
        n = 0
        for address in addresses:
            if name not in merged:
                merged[name] = address
            elif address != merged[name] and address not in merged.values():
                n += 1
                merged[f"{name}#ipam{n}"] = address
    return merged


def workload_from_summary(
    summary: Mapping[str, Any],
    *,
    ipam: Mapping[str, Sequence[str]] | None = None,
    identity: PublicIdentity | None = None,
    identity_error: str | None = None,
    project_network_ids: Collection[str] = (),
) -> Workload:
    labels = {str(k): str(v) for k, v in (summary.get("Labels") or {}).items()}
    names = summary.get("Names") or []
    name = str(names[0]).lstrip("/") if names else str(summary.get("Id", ""))[:12]
    ips, endpoint_gateways, _ = network_addresses(summary)
    return Workload(
        id=str(summary["Id"]),
        name=name,
        labels=labels,
        ips=ips,
        network_gateways=merge_gateways(endpoint_gateways, ipam or {}),
        running=summary.get("State") == "running",
        service=labels.get(COMPOSE_SERVICE_LABEL),
        project=labels.get(COMPOSE_PROJECT_LABEL),
        image=str(summary.get("Image") or ""),
        image_id=str(summary.get("ImageID") or ""),
        identity=identity,
        identity_error=identity_error,
        project_networks=frozenset(attached_to(summary, project_network_ids)),
    )
