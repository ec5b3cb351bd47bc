"""Address comparison for the policy: one canonical spelling per IP, so string equality is IP equality.

The gateway may report a peer as an IPv4-mapped IPv6 address (``::ffff:172.18.0.3``) when it listens
dual-stack, while Docker reports ``172.18.0.3``; compare them as equal, and never treat a malformed
string as an address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from sidecar.sources.workloads import Workload


def normalize_ip(value: str) -> str | None:
    """Canonical text of an IP address (IPv4-mapped IPv6 unwrapped), or None when it is not one."""
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        addr = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def workload_ips(workload: Workload) -> dict[str, str]:
    """This container's addresses (canonical) → the network each is on."""
    out: dict[str, str] = {}
    for network, ip in workload.ips.items():
        canonical = normalize_ip(ip) if ip else None
        if canonical:
            out[canonical] = network
    return out


def gateway_networks(workloads: Iterable[Workload]) -> dict[str, str]:
    """Every known bridge-gateway address (canonical) → its network; traffic from one is not a container's."""
    out: dict[str, str] = {}
    for w in workloads:
        for network, ip in w.network_gateways.items():
            canonical = normalize_ip(ip) if ip else None
            if canonical:
                out[canonical] = network
    return out
