"""Which workload source the sidecar uses, and the Kubernetes one assembled (source + enrollment endpoint).

``source: auto`` picks Kubernetes inside a pod (``KUBERNETES_SERVICE_HOST`` and a ServiceAccount token),
Docker elsewhere, and the choice is logged. Kubernetes needs the optional extra
``openclaw-pairing[kubernetes]``; everything it imports is imported here, lazily.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sidecar.settings import Settings
    from sidecar.sources.kubernetes import KubernetesSource

log = logging.getLogger("sidecar.service")

Closer = Callable[[], Awaitable[None]]


def source_kind(settings: Settings, *, log_choice: bool = False) -> str:
    """``docker`` or ``kubernetes``: the setting, or (``auto``) what the environment looks like."""
    if settings.source != "auto":
        return settings.source
    from sidecar.sources.kubernetes.api import in_cluster

    kind = "kubernetes" if in_cluster() else "docker"
    if log_choice:
        why = "running in a Kubernetes pod" if kind == "kubernetes" else "not in a Kubernetes pod"
        log.info("workload source: %s (source auto: %s)", kind, why)
    return kind


async def kubernetes_source(
    settings: Settings, audit: Callable[[dict[str, Any]], None]
) -> tuple[KubernetesSource, list[Closer]]:
    """The source over the configured namespaces, and (enroll_listen set) the enrollment endpoint."""
    from sidecar.sources.kubernetes import (
        Enroller,
        EnrollmentServer,
        EnrollPolicy,
        KubeAPI,
        KubernetesSource,
        KubernetesSourceOptions,
    )

    api = await KubeAPI.connect()
    k, p = settings.kubernetes, settings.policy
    namespaces = tuple(sorted(k.namespaces)) or (api.own_namespace,)
    options = KubernetesSourceOptions(
        namespaces=namespaces,
        label_opt_in=p.label_opt_in,
        label_opt_in_value=p.label_opt_in_value,
        label_roles=p.label_roles,
        label_scopes=p.label_scopes,
        label_node_commands=p.label_node_commands,
    )
    closers: list[Closer] = []
    if k.enroll_listen is None:
        source = KubernetesSource(api, options)
        log.info("kubernetes source: namespaces %s; enrollment off (annotations only)", ", ".join(namespaces))
        closers.append(api.close)
        return source, closers
    holder: dict[str, KubernetesSource] = {}
    enroller = Enroller(
        api,
        EnrollPolicy(
            namespaces=frozenset(namespaces),
            audience=k.enroll_audience,
            service_accounts=k.enroll_service_accounts,
            label_opt_in=p.label_opt_in,
            label_opt_in_value=p.label_opt_in_value,
            rate_limit=k.enroll_rate_limit,
            configmap=k.enroll_configmap,
            configmap_namespace=api.own_namespace,
        ),
        on_enrolled=lambda reason: holder["source"].notify(reason),
        known_uids=lambda: holder["source"].known_uids() if holder["source"].connected else None,
    )
    source = KubernetesSource(api, options, enrolled=enroller.lookup)
    holder["source"] = source
    remembered = await enroller.load()
    server = EnrollmentServer(enroller, k.enroll_listen[0], k.enroll_listen[1], audit)
    await server.start()
    log.info(
        "kubernetes source: namespaces %s; enrollment on port %d (%d remembered)",
        ", ".join(namespaces),
        server.port,
        remembered,
    )
    closers += [server.stop, api.close]
    return source, closers
