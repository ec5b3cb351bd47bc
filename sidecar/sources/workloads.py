"""What the policy knows about a container: a plain, immutable record filled in by a workload source.

Sources (Docker today, Kubernetes later) do the I/O; the policy only ever sees these records, so it can
be tested as a table. A workload never carries private key material: only the *published* public half.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sidecar.identity.keys import PublicIdentity


@dataclass(frozen=True)
class Workload:
    id: str  # full container id
    name: str
    labels: Mapping[str, str]
    ips: Mapping[str, str]  # network name -> this container's IPv4 address on it
    network_gateways: Mapping[str, str] = field(default_factory=dict)  # network name -> bridge gateway IP
    running: bool = True
    service: str | None = None  # com.docker.compose.service
    project: str | None = None  # com.docker.compose.project
    image: str = ""
    image_id: str = ""
    identity: PublicIdentity | None = None  # the verified published identity, if any
    identity_error: str | None = None  # why there is none (missing file, invalid document, ...)
    # Names of this container's networks that belong to the watched compose project (network label
    # com.docker.compose.project). Filled in mode dev-approve-all only, which approves by address there.
    project_networks: frozenset[str] = frozenset()
    # A deviceId the platform pins without publishing the key (Kubernetes: the pod annotation
    # openclaw.pairing/device-id). The request's publicKey is bound by deviceId = sha256(publicKey).
    pinned_device_id: str | None = None

    @property
    def claimed_device_id(self) -> str | None:
        """The deviceId this workload stands for: its verified identity's, else the pinned one."""
        return self.identity.device_id if self.identity else self.pinned_device_id

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def evidence(self) -> dict[str, object]:
        """The facts about this workload that go into an audit record."""
        return {
            "containerId": self.id,
            "containerName": self.name,
            "service": self.service,
            "project": self.project,
            "image": self.image,
            "imageId": self.image_id,
            "ips": dict(self.ips),
            "deviceId": self.claimed_device_id,
        }


ChangeCallback = Callable[[str], Awaitable[None] | None]


class WorkloadSource(Protocol):
    """Where workloads come from: sidecar.sources.docker.DockerSource,
    sidecar.sources.kubernetes.KubernetesSource, test fakes."""

    @property
    def connected(self) -> bool: ...

    async def snapshot(self) -> tuple[Workload, ...]:
        """The current opted-in workloads (cached; cheap to call on every decision).

        In mode dev-approve-all also every running container on the project's networks, opted in or not.
        """
        ...

    async def watch(self, stop: Callable[[], bool], on_change: ChangeCallback) -> None:
        """Follow the source's events until ``stop()``; call ``on_change(reason)`` after each relevant change.

        Raises ``sidecar.errors.SourceError`` when the source is lost; callers retry and reconcile.
        """
        ...
