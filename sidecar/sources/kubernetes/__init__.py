"""The Kubernetes workload source: opted-in pods, their IPs, and device keys learned without Secrets or exec.

:mod:`.pods` (pod JSON → :class:`~sidecar.sources.workloads.Workload`, pure), :mod:`.api` (the few API
calls, through ``kubernetes_asyncio``, imported lazily: a Docker-only install never needs it),
:mod:`.source` (list + watch), :mod:`.enrollment` (attested enrollment: TokenReview + signature) and
:mod:`.server` (its HTTP endpoint). Import the public names from here.
"""

from sidecar.sources.kubernetes.api import Gone, KubeAPI, NotFound, available, in_cluster
from sidecar.sources.kubernetes.enrollment import Enroller, Outcome
from sidecar.sources.kubernetes.pods import (
    DEVICE_ID_ANNOTATION,
    ROLES_ANNOTATION,
    SCOPES_ANNOTATION,
    PodInfo,
    PodWorkload,
    pod_info,
    workload_for,
)
from sidecar.sources.kubernetes.records import Enrollment, EnrollPolicy, Refused
from sidecar.sources.kubernetes.server import EnrollmentServer
from sidecar.sources.kubernetes.source import KubernetesSource, KubernetesSourceOptions

__all__ = [
    "DEVICE_ID_ANNOTATION",
    "ROLES_ANNOTATION",
    "SCOPES_ANNOTATION",
    "EnrollPolicy",
    "Enroller",
    "Enrollment",
    "EnrollmentServer",
    "Gone",
    "KubeAPI",
    "KubernetesSource",
    "KubernetesSourceOptions",
    "NotFound",
    "Outcome",
    "PodInfo",
    "PodWorkload",
    "Refused",
    "available",
    "in_cluster",
    "pod_info",
    "workload_for",
]
