"""dev-approve-all only: the compose project's networks and every container attached to them.

Why apart: this is the one place the source widens beyond labelled containers, so it stays small and
visible — the project's networks come from their compose label, never "every network", and the set is
logged whenever it changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from sidecar.errors import ConfigError
from sidecar.sources.docker.api import DockerAPI
from sidecar.sources.docker.inspect import attached_to, project_network_ids
from sidecar.sources.docker.scope import PROJECT_SETTING, ProjectScope

log = logging.getLogger("sidecar.sources.docker")
Call = Callable[..., Any]


class ProjectNetworks:
    def __init__(self) -> None:
        self._logged: dict[str, str] | None = None

    def listed(
        self, call: Call, api: DockerAPI, scope: ProjectScope
    ) -> tuple[dict[str, str], frozenset[str]]:
        """The project's networks (id → name), and the ids of every network listed."""
        if scope.project is None:  # DockerSourceOptions refuses this; never widen to every network
            raise ConfigError(f"mode dev-approve-all needs one compose project; set {PROJECT_SETTING}")
        networks = list(call(api.networks) or [])
        found = project_network_ids(networks, scope.project)
        if found != self._logged:
            self._logged = found
            if found:
                log.info(
                    "dev-approve-all: every container on network(s) %s of project %r counts",
                    ", ".join(sorted(found.values())),
                    scope.project,
                )
            else:
                log.warning(
                    "dev-approve-all: no network is labelled com.docker.compose.project=%s; "
                    "nothing can be approved until one is",
                    scope.project,
                )
        every = frozenset(str(n["Id"]) for n in networks if isinstance(n, Mapping) and n.get("Id"))
        return found, every

    @staticmethod
    def containers_on(
        call: Call, api: DockerAPI, network_ids: Mapping[str, str], skip: set[str]
    ) -> list[Mapping[str, Any]]:
        """Containers (any state) attached to one of these networks, other than ``skip``."""
        if not network_ids:
            return []
        summaries = call(api.containers, all=True, filters={"network": sorted(network_ids)})
        return [  # the engine filters by network; check it here too
            s for s in summaries or [] if str(s["Id"]) not in skip and attached_to(s, network_ids)
        ]
