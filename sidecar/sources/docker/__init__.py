"""The Docker workload source: labelled containers, their IPs and their *published* public identities.

One module per concern, so each can be read and tested alone: :mod:`.scope` (which containers are ours),
:mod:`.inspect` (Docker's data → :class:`~sidecar.sources.workloads.Workload`), :mod:`.archive` (the
published identity, read safely), :mod:`.api` (the Engine API surface, connecting, sorting its errors),
:mod:`.events` (the event streams and their reader threads) and :mod:`.source` (the engine, the cache and
the event watch).
The public names are re-exported here; import them from ``sidecar.sources.docker``.
"""

from sidecar.sources.docker.api import DockerAPI, EventStream, connect
from sidecar.sources.docker.archive import (
    MAX_ARCHIVE_BYTES,
    MAX_IDENTITY_BYTES,
    PUBLIC_SUFFIX,
    IdentityUnavailable,
    check_archive_stat,
    identity_path_for,
    parse_identity_archive,
    read_bounded,
    validate_identity_path,
)
from sidecar.sources.docker.events import CONTAINER_ACTIONS, NETWORK_ACTIONS, event_filters
from sidecar.sources.docker.inspect import (
    COMPOSE_PROJECT_LABEL,
    COMPOSE_SERVICE_LABEL,
    attached_to,
    ipam_gateways,
    merge_gateways,
    network_addresses,
    project_network_ids,
    workload_from_summary,
)
from sidecar.sources.docker.scope import (
    DEFAULT_IDENTITY_PATH,
    IDENTITY_PATH_LABEL,
    MODE_SETTING,
    OPT_IN_LABEL,
    OPT_IN_VALUE,
    PROJECT_SETTING,
    PROJECT_YAML_KEY,
    DockerSourceOptions,
    ProjectScope,
    container_ids_from_cgroup,
    container_ids_from_mountinfo,
    find_own_container,
    is_selected,
    list_filters,
    resolve_scope,
    root_upperdir,
)
from sidecar.sources.docker.source import DockerSource

__all__ = [
    "COMPOSE_PROJECT_LABEL",
    "COMPOSE_SERVICE_LABEL",
    "CONTAINER_ACTIONS",
    "DEFAULT_IDENTITY_PATH",
    "IDENTITY_PATH_LABEL",
    "MAX_ARCHIVE_BYTES",
    "MAX_IDENTITY_BYTES",
    "MODE_SETTING",
    "NETWORK_ACTIONS",
    "OPT_IN_LABEL",
    "OPT_IN_VALUE",
    "PROJECT_SETTING",
    "PROJECT_YAML_KEY",
    "PUBLIC_SUFFIX",
    "DockerAPI",
    "DockerSource",
    "DockerSourceOptions",
    "EventStream",
    "IdentityUnavailable",
    "ProjectScope",
    "attached_to",
    "check_archive_stat",
    "connect",
    "container_ids_from_cgroup",
    "container_ids_from_mountinfo",
    "event_filters",
    "find_own_container",
    "identity_path_for",
    "ipam_gateways",
    "is_selected",
    "list_filters",
    "merge_gateways",
    "network_addresses",
    "parse_identity_archive",
    "project_network_ids",
    "read_bounded",
    "resolve_scope",
    "root_upperdir",
    "validate_identity_path",
    "workload_from_summary",
]
