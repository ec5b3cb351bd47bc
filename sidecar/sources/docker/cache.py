"""What the Docker source remembers between events, and which events touch it.

Why its own module: the cache is the source's memory (workloads, verified identities, network IPAM,
what the last listing saw) and the rules that decide whether an engine event concerns it are pure
functions of that memory — testable without an engine, and the part most likely to grow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sidecar.identity.keys import PublicIdentity
from sidecar.sources.docker.events import DockerEvent
from sidecar.sources.docker.scope import DockerSourceOptions
from sidecar.sources.workloads import Workload


@dataclass
class IdentityEntry:
    path: str
    identity: PublicIdentity
    read_at: float


@dataclass
class SourceCache:
    workloads: tuple[Workload, ...] | None = None
    listed_at: float = 0.0
    identities: dict[str, IdentityEntry] = field(default_factory=dict)
    ipam: dict[str, list[str]] = field(default_factory=dict)
    # What the last listing saw (kept across invalidations): events are matched against it.
    known_ids: frozenset[str] = frozenset()  # containers listed (any state)
    network_ids: frozenset[str] = frozenset()  # dev-approve-all: every network on the engine
    project_network_ids: frozenset[str] = frozenset()  # dev-approve-all: the project's networks
    # dev-approve-all: seen connecting to a project (or not yet listed) network; until it leaves or goes
    attached_ids: set[str] = field(default_factory=set)
    # Bumped by every invalidation: a refresh that started before an event must not store what it read.
    generation: int = 0
    # Per identity: an event about one container forgets only that container's identity, so a read of
    # another container's identity during a burst of events is kept (not re-read by every pass).
    identity_epoch: int = 0  # bumped when every identity is forgotten
    container_epochs: dict[str, int] = field(default_factory=dict)  # bumped when one container's is

    def identity_token(self, container_id: str) -> tuple[int, int]:
        """Changes whenever ``container_id``'s identity is forgotten: a read begun before is not stored."""
        return self.identity_epoch, self.container_epochs.get(container_id, 0)

    def forget_identity(self, container_id: str | None) -> None:
        if container_id is None:
            self.identities.clear()
            self.identity_epoch += 1
        else:
            self.identities.pop(container_id, None)
            self.container_epochs[container_id] = self.container_epochs.get(container_id, 0) + 1


def concerns_us(
    cache: SourceCache,
    options: DockerSourceOptions,
    event: DockerEvent,
    selected: Callable[[Mapping[str, str]], bool],
) -> bool:
    """Whether ``event`` may change what the source lists (updates dev-approve-all's attached set).

    Call with the cache lock held."""
    cid = event.container_id
    if not options.dev_approve_all:  # container events: the engine filtered them by label
        return event.type == "container" or cid in cache.known_ids
    if event.type == "container":
        ours = selected(event.attrs) or cid in cache.known_ids or cid in cache.attached_ids
        if event.action == "destroy":
            cache.attached_ids.discard(cid)
        return ours
    network = event.network_id
    if network in cache.project_network_ids or network not in cache.network_ids:
        if event.action == "connect":  # its start event may follow: follow the container
            cache.attached_ids.add(cid)
        else:  # still on another project network? then the re-list this causes knows it
            cache.attached_ids.discard(cid)
        return True
    return cid in cache.known_ids
