"""What every check sees: the request, the workloads, the paired devices, settings, history and ``now``.

Kept apart from the checks so each check module stays small; everything here is a pure view of its
inputs (no I/O, no clock).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sidecar.gateway.models import PairedDevice, PendingRequest
from sidecar.identity.keys import normalize_public_key
from sidecar.policy.history import History
from sidecar.policy.net import normalize_ip
from sidecar.policy.snapshot import SnapshotIndex, index_of
from sidecar.settings import PolicySettings
from sidecar.sources.workloads import Workload

PENDING_TTL_MS = 300_000  # the gateway's DEVICE_PAIRING_PENDING_TTL_MS; a request older than this is gone
DEFAULT_ROLE = "operator"  # what the gateway assumes when a request names no role


@dataclass(frozen=True)
class Context:
    request: PendingRequest
    workloads: tuple[Workload, ...]
    paired: Mapping[str, PairedDevice]
    settings: PolicySettings
    history: History
    now_ms: int
    workload: Workload | None = None  # set by the check that attributes the request to a container

    @property
    def remote_ip(self) -> str | None:
        return normalize_ip(self.request.remote_ip) if self.request.remote_ip else None

    @property
    def public_key(self) -> str | None:
        try:
            return normalize_public_key(self.request.public_key)
        except ValueError:
            return None

    def in_scope(self, w: Workload) -> bool:
        return self.settings.project is None or w.project == self.settings.project

    def labelled(self, w: Workload) -> bool:
        value = w.labels.get(self.settings.label_opt_in, "")
        return value.strip().lower() == self.settings.label_opt_in_value.strip().lower()

    @property
    def index(self) -> SnapshotIndex:
        """Lookups into the workload snapshot, built once per snapshot (``sidecar.policy.snapshot``)."""
        return index_of(self.workloads, self.settings)

    @property
    def candidates(self) -> tuple[Workload, ...]:
        """Labelled, running containers in the project scope: the only ones strict and ip can approve.

        (dev-approve-all goes by address on the project's networks instead: ``check_dev_network``.)
        """
        return self.index.candidates

    @property
    def requested_roles(self) -> frozenset[str]:
        roles = {r for r in (*self.request.roles, self.request.role) if r}
        return frozenset(roles or {DEFAULT_ROLE})

    @property
    def requested_scopes(self) -> frozenset[str]:
        return frozenset(s for s in self.request.scopes if s)


def short(value: str) -> str:
    return value[:12] + "…" if len(value) > 12 else value


def names(workloads: Iterable[Workload]) -> str:
    return ", ".join(sorted(w.name for w in workloads))


def words(text: str) -> frozenset[str]:
    return frozenset(part.strip() for part in text.replace(" ", ",").split(",") if part.strip())
