"""Prometheus metrics for the sidecar, on a private registry (tests and several approvers never collide).

Labels stay low-cardinality on purpose: decisions are counted by ``action`` (approve, reject, ignore,
would-approve, would-reject) and by the ``check`` that decided — the free-text reason lives in the audit
log, not in a label. The HTTP server (wired by the CLI) serves :meth:`Metrics.render`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

PREFIX = "openclaw_pairing"
CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.decisions = Counter(
            f"{PREFIX}_decisions",
            "Decisions recorded, by recorded action and deciding check",
            ["action", "check"],
            registry=r,
        )
        self.rpc_errors = Counter(
            f"{PREFIX}_rpc_errors", "Approve/reject/list RPCs that failed, by method", ["method"], registry=r
        )
        self.reconciles = Counter(
            f"{PREFIX}_reconciles", "Full reconcile passes (device.pair.list)", registry=r
        )
        self.pending = Gauge(
            f"{PREFIX}_pending_requests", "Pending pairing requests at the last reconcile", registry=r
        )
        self.decision_latency = Histogram(
            f"{PREFIX}_decision_latency_seconds",
            "From first seeing a request to acting on it (RPC sent or observe-only record)",
            ["action"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.gateway_connected = Gauge(
            f"{PREFIX}_gateway_connected", "1 while the gateway session is up", registry=r
        )
        self.docker_connected = Gauge(
            f"{PREFIX}_docker_connected", "1 while the workload source is up", registry=r
        )
        self.last_reconcile = Gauge(
            f"{PREFIX}_last_reconcile_timestamp_seconds",
            "Unix time of the last successful reconcile",
            registry=r,
        )
        self.trusted = Gauge(f"{PREFIX}_trusted", "1 when OPENCLAW_TRUSTED_ENV enables approvals", registry=r)

    def render(self) -> bytes:
        """The text exposition format (serve with ``CONTENT_TYPE``)."""
        return bytes(generate_latest(self.registry))
