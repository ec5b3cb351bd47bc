"""Pods as the policy sees them: the Kubernetes API's pod JSON → :class:`PodWorkload`. Pure, no I/O.

A pod counts when it carries the opt-in label (the same key as on Docker containers, by default
``openclaw.pairing.auto-approve=true``), is ``Running`` (or ``Pending`` while an init container runs:
pre-pairing) and has no ``deletionTimestamp``. Its addresses are
every entry of ``status.podIPs`` (IPv4 and IPv6); a ``hostNetwork`` pod has none of its own (its address
is the node's, shared with every host-network pod), so no request can be attributed to it by address.

Its device is learned without reading Secrets or exec'ing into it: the annotation
``openclaw.pairing/device-id`` pins a deviceId (the request's key is bound by deviceId = sha256(key)), or
the pod enrolled its key through the attested enrollment endpoint (:mod:`.enrollment`). Allowance:
annotations ``openclaw.pairing/roles`` and ``openclaw.pairing/scopes`` (label values cannot hold commas),
else the labels the Docker source reads, else the policy's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sidecar.identity.keys import DEVICE_ID_RE, PublicIdentity
from sidecar.sources.workloads import Workload

DEVICE_ID_ANNOTATION = "openclaw.pairing/device-id"
ROLES_ANNOTATION = "openclaw.pairing/roles"
SCOPES_ANNOTATION = "openclaw.pairing/scopes"
# Label values cannot hold commas or "*": the node-commands allowance is an annotation on pods.
NODE_COMMANDS_ANNOTATION = "openclaw.pairing/node-commands"


@dataclass(frozen=True, slots=True)
class PodInfo:
    """The few facts kept per pod (a watch of 5,000 pods keeps these, not the pods' JSON)."""

    uid: str
    namespace: str
    name: str
    resource_version: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]  # only the openclaw.pairing/* ones
    phase: str
    deleting: bool
    ips: tuple[str, ...]
    host_network: bool
    node: str
    service_account: str
    owner: str | None  # "Kind/name" of the controller
    image_digests: tuple[str, ...]
    initializing: bool = False  # Pending with an init container running right now (it has its pod IP)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def running(self) -> bool:
        """Live: Running, or Pending while one of its init containers runs — pre-pairing happens there,
        before the agent starts, from the pod's own IP. Never a terminating or finished pod."""
        if self.deleting:
            return False
        return self.phase == "Running" or (self.phase == "Pending" and self.initializing and bool(self.ips))


def pod_info(pod: Mapping[str, Any]) -> PodInfo:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    ips = tuple(str(p["ip"]) for p in status.get("podIPs") or () if isinstance(p, Mapping) and p.get("ip"))
    if not ips and status.get("podIP"):
        ips = (str(status["podIP"]),)
    owner = next(
        (
            f"{o.get('kind')}/{o.get('name')}"
            for o in meta.get("ownerReferences") or ()
            if o.get("controller")
        ),
        None,
    )
    statuses = [*(status.get("initContainerStatuses") or ()), *(status.get("containerStatuses") or ())]
    digests = tuple(
        sorted({str(s["imageID"]) for s in statuses if isinstance(s, Mapping) and s.get("imageID")})
    )
    annotations = {
        k: str(v) for k, v in (meta.get("annotations") or {}).items() if k.startswith("openclaw.pairing/")
    }
    return PodInfo(
        uid=str(meta.get("uid") or ""),
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        resource_version=str(meta.get("resourceVersion") or ""),
        labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
        annotations=annotations,
        phase=str(status.get("phase") or "Unknown"),
        deleting=bool(meta.get("deletionTimestamp")),
        ips=ips,
        host_network=bool(spec.get("hostNetwork")),
        node=str(spec.get("nodeName") or ""),
        service_account=str(spec.get("serviceAccountName") or "default"),
        owner=owner,
        image_digests=digests,
        initializing=any(
            isinstance(s, Mapping) and isinstance(s.get("state"), Mapping) and "running" in s["state"]
            for s in status.get("initContainerStatuses") or ()
        ),
    )


def is_opted_in(labels: Mapping[str, str], label: str, value: str) -> bool:
    return labels.get(label, "").strip().lower() == value.strip().lower()


def pinned_device_id(info: PodInfo) -> tuple[str | None, str | None]:
    """(deviceId, None) from the annotation, (None, why not) when it is malformed, (None, None) if absent."""
    raw = info.annotations.get(DEVICE_ID_ANNOTATION)
    if raw is None:
        return None, None
    value = raw.strip().lower()
    if not DEVICE_ID_RE.match(value):
        return None, f"annotation {DEVICE_ID_ANNOTATION} is not 64 hex characters (a deviceId)"
    return value, None


@dataclass(frozen=True)
class PodWorkload(Workload):
    """A pod: :class:`Workload` plus the facts a Kubernetes audit record needs."""

    namespace: str = ""
    uid: str = ""
    node: str = ""
    service_account: str = ""
    owner: str | None = None
    image_digests: tuple[str, ...] = ()
    identity_source: str | None = None  # annotation | enrollment

    def evidence(self) -> dict[str, object]:
        return {
            "kind": "Pod",
            "namespace": self.namespace,
            "pod": self.name.split("/", 1)[-1],
            "podUid": self.uid,
            "owner": self.owner,
            "node": self.node,
            "serviceAccount": self.service_account,
            "imageDigests": list(self.image_digests),
            "ips": dict(self.ips),
            "deviceId": self.claimed_device_id,
            "identitySource": self.identity_source,
        }


def policy_labels(
    info: PodInfo,
    label_roles: str,
    label_scopes: str,
    label_node_commands: str = "openclaw.pairing.node-commands",
) -> dict[str, str]:
    """The pod's labels, with the allowance annotations under the keys the policy reads."""
    labels = dict(info.labels)
    if ROLES_ANNOTATION in info.annotations:
        labels[label_roles] = info.annotations[ROLES_ANNOTATION]
    if SCOPES_ANNOTATION in info.annotations:
        labels[label_scopes] = info.annotations[SCOPES_ANNOTATION]
    if NODE_COMMANDS_ANNOTATION in info.annotations:
        labels[label_node_commands] = info.annotations[NODE_COMMANDS_ANNOTATION]
    return labels


def workload_for(
    info: PodInfo,
    *,
    label_roles: str,
    label_scopes: str,
    enrolled: PublicIdentity | None,
    label_node_commands: str = "openclaw.pairing.node-commands",
) -> PodWorkload:
    pinned, pin_error = pinned_device_id(info)
    identity: PublicIdentity | None = None
    error: str | None = None
    source: str | None = None
    if enrolled is not None and (pinned is None or pinned == enrolled.device_id):
        identity, source = enrolled, "enrollment"
    elif pinned is not None:
        source = "annotation"
    else:
        error = pin_error or (
            f"no deviceId known: annotate the pod with {DEVICE_ID_ANNOTATION} or let its init container "
            "enroll (docs/kubernetes.md)"
        )
    ips = (
        {} if info.host_network else {("pod" if i == 0 else f"pod-{i}"): ip for i, ip in enumerate(info.ips)}
    )
    return PodWorkload(
        id=info.uid,
        name=info.key,
        labels=policy_labels(info, label_roles, label_scopes, label_node_commands),
        ips=ips,
        running=info.running,
        service=info.owner,
        project=info.namespace,
        image_id=info.image_digests[0] if info.image_digests else "",
        identity=identity,
        identity_error=error,
        pinned_device_id=pinned if identity is None else None,
        namespace=info.namespace,
        uid=info.uid,
        node=info.node,
        service_account=info.service_account,
        owner=info.owner,
        image_digests=info.image_digests,
        identity_source=source,
    )
