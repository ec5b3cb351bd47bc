"""Build the sidecar's parts from Settings: Docker source, gateway session, audit, metrics, approver.

Why here and not in the CLI: ``run``, ``once`` and ``explain`` need the same parts built the same way,
and the decisions about *how* the sidecar meets the gateway (device or not, which scopes) belong with the
service, not with argument parsing. Heavy libraries (docker, websockets, prometheus_client) are imported
inside the functions so ``openclaw-sidecar --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sidecar.envvars import LISTER_IDENTITY_FILE
from sidecar.errors import SourceError
from sidecar.gateway.urls import is_local_url

if TYPE_CHECKING:
    from sidecar.approver import Approver, OnConnect, OnDisconnect, OnEvent, SessionFactory
    from sidecar.approver.audit import AuditLog
    from sidecar.gateway.session import GatewaySession
    from sidecar.identity.keys import DeviceIdentity
    from sidecar.metrics import Metrics
    from sidecar.settings import Settings
    from sidecar.sources.docker import DockerSource
    from sidecar.sources.workloads import WorkloadSource

log = logging.getLogger("sidecar.service")

SIDECAR_IDENTITY_FILE = LISTER_IDENTITY_FILE  # in OPENCLAW_PAIRING_STATE_DIR, as `openclaw-sidecar list` uses
DOCKER_TIMEOUT_S = 5.0


def sidecar_identity(settings: Settings) -> DeviceIdentity | None:
    """The sidecar's own device identity, only where the gateway would require one.

    On the gateway's loopback (or the gateway's local socket, which the gateway container forwards to its
    loopback) the shared token admits the sidecar as gateway-client/backend with no device and no pairing
    request — nothing depends on silent local pairing, which the gateway can switch off. Any other URL
    makes the sidecar a remote device: it presents ``<OPENCLAW_PAIRING_STATE_DIR>/identity.json`` (created
    once), which must be approved once; the gateway session logs the command.
    """
    if is_local_url(settings.gateway_url):
        return None
    from sidecar.identity.device_file import load_or_create

    identity, _ = load_or_create(settings.state_dir / SIDECAR_IDENTITY_FILE)
    return identity


def gateway_scopes(settings: Settings) -> tuple[str, ...]:
    """``operator.pairing`` plus every scope the sidecar may hand out (2026.6+ checks the approver's)."""
    from sidecar.gateway.scopes import approver_scopes

    policy = settings.policy
    return approver_scopes(
        node_approvals=policy.allow_node_role or policy.allow_admin_scope,
        approvable_scopes={"operator.read", "operator.write", *policy.default_scopes},
    )


def session_factory(settings: Settings) -> SessionFactory:
    """The Approver's ``session_factory``: one GatewaySession over fresh GatewayClients."""
    from sidecar.gateway.client import GatewayClient
    from sidecar.gateway.session import GatewaySession
    from sidecar.identity.device_file import fallback_device

    identity = sidecar_identity(settings)
    scopes = gateway_scopes(settings)
    # 2026.3.31 grants a device-less local client no scopes: present <state dir>/identity.json there.
    fallback = None if identity else fallback_device(settings.state_dir / SIDECAR_IDENTITY_FILE)

    def client() -> GatewayClient:
        return GatewayClient(
            settings.gateway_url,
            token=settings.gateway_token,
            identity=identity,
            scopes=scopes,
            display_name="openclaw pairing sidecar",
            device_fallback=fallback,
        )

    def factory(on_connect: OnConnect, on_event: OnEvent, on_disconnect: OnDisconnect) -> GatewaySession:
        return GatewaySession(client, on_connect=on_connect, on_event=on_event, on_disconnect=on_disconnect)

    return factory


def docker_source(settings: Settings) -> DockerSource:
    from sidecar.sources.docker import DockerSource, DockerSourceOptions, connect

    return DockerSource(connect(timeout=DOCKER_TIMEOUT_S), DockerSourceOptions.from_settings(settings))


@dataclass
class Parts:
    settings: Settings
    source: WorkloadSource
    audit: AuditLog
    metrics: Metrics
    approver: Approver
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)  # e.g. the enrollment endpoint

    async def aclose(self) -> None:
        for close in self.closers:
            try:
                await close()
            except Exception:  # stopping must go on
                log.exception("while stopping %s", getattr(close, "__qualname__", close))


async def build(
    settings: Settings, *, metrics: Metrics | None = None, stop: asyncio.Event | None = None
) -> Parts:
    """Everything the approver needs. The compose project is resolved first (ConfigError if it can't be).

    With ``stop`` (``run``), an unreachable engine is retried until it answers or ``stop`` is set; without
    it (one-shot commands) the SourceError propagates.
    """
    from sidecar.approver import Approver
    from sidecar.approver.audit import AuditLog
    from sidecar.metrics import Metrics
    from sidecar.service.kube import kubernetes_source, source_kind

    audit = AuditLog(settings.audit_log)
    kind = source_kind(settings, log_choice=True)
    closers: list[Callable[[], Awaitable[None]]] = []
    project: str | None = None
    delay = 1.0
    while True:
        try:  # connecting negotiates the API version, so it is retried too
            if kind == "kubernetes":  # pods, and the enrollment endpoint (docs/kubernetes.md)
                source: WorkloadSource
                source, closers = await kubernetes_source(settings, audit.write)
            else:
                docker = await asyncio.to_thread(docker_source, settings)
                project = (await docker.resolve_scope()).project
                source = docker
            break
        except SourceError as exc:
            if stop is None or stop.is_set():
                raise
            log.warning("%s (retrying in %.0f s)", exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 15.0)
    metrics = metrics or Metrics()
    approver = Approver(
        settings,
        session_factory=session_factory(settings),
        source=source,
        audit=audit,
        metrics=metrics,
        project=project,
    )
    return Parts(settings, source, audit, metrics, approver, closers)
