"""The running sidecar, assembled: parts, probes, watchdog, process lifecycle.

Why a layer of its own: the CLI parses arguments and prints; *building* the service (Docker source,
gateway session, audit, metrics, approver, health server) and *keeping it alive* (signals, the 5-second
stop, the gateway-loss watchdog) is the same for ``run``, ``once`` and ``explain`` and for anything else
that embeds the sidecar. Layer order: settings → identity/gateway/sources → policy → approver → service → cli.
"""

from sidecar.service.assemble import (
    Parts,
    build,
    docker_source,
    gateway_scopes,
    session_factory,
    sidecar_identity,
)
from sidecar.service.lifecycle import run_async, run_forever
from sidecar.service.logs import JsonFormatter, configure_logging
from sidecar.service.watchdog import GatewayLossWatchdog

__all__ = [
    "GatewayLossWatchdog",
    "JsonFormatter",
    "Parts",
    "build",
    "configure_logging",
    "docker_source",
    "gateway_scopes",
    "run_async",
    "run_forever",
    "session_factory",
    "sidecar_identity",
]
