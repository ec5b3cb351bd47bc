"""Which containers are ours: opt-in and scoped, failing closed.

Only containers carrying the opt-in label (``openclaw.pairing.auto-approve=true``) are workloads, and by
default only those in the sidecar's own compose project. When the sidecar cannot find its own project, it
refuses to guess: an explicit project or an explicit "all projects" is required (:func:`resolve_scope`).

Mode ``dev-approve-all`` adds every running container on the project's *networks*, labelled or not
(``DockerSourceOptions.dev_approve_all``). It needs one project: "all projects" is refused for it, because
then "the project's networks" would be every network on the engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sidecar.errors import ConfigError
from sidecar.settings import Mode, Settings
from sidecar.sources.docker.archive import IdentityUnavailable, validate_identity_path
from sidecar.sources.docker.inspect import COMPOSE_PROJECT_LABEL

OPT_IN_LABEL = "openclaw.pairing.auto-approve"
OPT_IN_VALUE = "true"
IDENTITY_PATH_LABEL = "openclaw.pairing.identity-path"
DEFAULT_IDENTITY_PATH = "/home/node/.openclaw/identity/device.pub.json"

# The settings (sidecar/settings) that scope the source; shown in errors.
PROJECT_SETTING = "OPENCLAW_PAIRING_PROJECT"
PROJECT_YAML_KEY = "project"
MODE_SETTING = "OPENCLAW_PAIRING_MODE"


@dataclass(frozen=True)
class DockerSourceOptions:
    """Everything the source needs from settings (kept separate so tests need no Settings object)."""

    opt_in_label: str = OPT_IN_LABEL
    opt_in_value: str = OPT_IN_VALUE
    identity_path_label: str = IDENTITY_PATH_LABEL
    default_identity_path: str = DEFAULT_IDENTITY_PATH
    project: str | None = None  # explicit compose project; wins over the detected one
    all_projects: bool = False  # explicit "every project on this engine" (project setting '*')
    # mode dev-approve-all: also report every running container on the project's networks (any labels)
    dev_approve_all: bool = False
    list_max_age_s: float = 30.0  # re-list containers at least this often even while events flow
    identity_max_age_s: float = 300.0  # re-read a cached identity at least this often
    ping_interval_s: float = 10.0  # watchdog: how often watch() checks the engine still answers
    ping_timeout_s: float = 5.0
    event_queue_size: int = 1024

    def __post_init__(self) -> None:
        if self.all_projects and self.project:
            raise ConfigError(
                f"Docker source: project {self.project!r} and 'all projects' contradict each other; "
                f"set {PROJECT_SETTING} to one project name or to '*'"
            )
        if self.dev_approve_all and self.all_projects:
            raise ConfigError(
                f"{MODE_SETTING}=dev-approve-all (YAML key mode) cannot be combined with "
                f"{PROJECT_SETTING}='*' (YAML key {PROJECT_YAML_KEY}): dev-approve-all approves anything on "
                "the project's networks, and '*' would make that every network on this Docker engine. Set "
                f"{PROJECT_SETTING} to auto (the sidecar's own compose project) or to one project name"
            )
        for name in (self.opt_in_label, self.identity_path_label):
            if not name or "=" in name or any(c.isspace() for c in name):
                raise ConfigError(
                    f"Docker label key {name!r} is invalid: use a non-empty key without '=' or spaces"
                )
        if not self.opt_in_value.strip():
            raise ConfigError(
                "the opt-in label value must not be empty (OPENCLAW_PAIRING_LABEL_OPT_IN_VALUE)"
            )
        if self.project is not None and not _PROJECT_RE.match(self.project):
            raise ConfigError(
                f"{PROJECT_SETTING}={self.project!r} is not a compose project name "
                "(lower-case letters, digits, '-', '_')"
            )
        try:
            validate_identity_path(self.default_identity_path)
        except IdentityUnavailable as exc:
            raise ConfigError(f"OPENCLAW_PAIRING_DEFAULT_IDENTITY_PATH: {exc}") from None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> DockerSourceOptions:
        """Map the sidecar's settings: ``project: auto`` → detect, ``'*'`` → all, a name → that one."""
        policy = settings.policy
        return cls(
            opt_in_label=policy.label_opt_in,
            opt_in_value=policy.label_opt_in_value,
            identity_path_label=policy.label_identity_path,
            default_identity_path=settings.default_identity_path,
            project=None if policy.project_auto else policy.project,
            all_projects=not policy.project_auto and policy.project is None,
            dev_approve_all=policy.mode is Mode.DEV_APPROVE_ALL,
            list_max_age_s=settings.reconcile_interval_s,
            **overrides,
        )


_PROJECT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class ProjectScope:
    """Which compose project the source watches (``None`` = every project), and how that was decided."""

    project: str | None
    how: str

    def describe(self) -> str:
        return f"project {self.project!r} ({self.how})" if self.project else f"all projects ({self.how})"


_CGROUP_ID_RE = re.compile(r"(?:^|[/-])([0-9a-f]{64})(?:\.scope)?(?:/|$)")
_MOUNTINFO_ID_RE = re.compile(r"/containers/([0-9a-f]{64})/")
_HOSTNAME_ID_RE = re.compile(r"^[0-9a-f]{12,64}$")
_CONTAINER_FILES = frozenset({"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"})


def container_ids_from_cgroup(text: str) -> list[str]:
    """Full container ids in /proc/self/cgroup (cgroup v1 ``/docker/<id>``, systemd ``docker-<id>.scope``).

    Under cgroup v2 with a private cgroup namespace this is just ``0::/``; mountinfo covers that case.
    """
    found: list[str] = []
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        for match in _CGROUP_ID_RE.finditer(path):
            if match.group(1) not in found:
                found.append(match.group(1))
    return found


def container_ids_from_mountinfo(text: str) -> list[str]:
    """Container ids from the engine's bind mounts of /etc/hostname, /etc/hosts, /etc/resolv.conf.

    Only those three mount points count: a host process can see other containers' overlay mounts.
    """
    found: list[str] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[4] not in _CONTAINER_FILES:
            continue
        match = _MOUNTINFO_ID_RE.search(fields[3])
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return found


def root_upperdir(mountinfo: str) -> str | None:
    """The overlay ``upperdir`` of this process's root filesystem: unique to its container."""
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 10 or fields[4] != "/" or "-" not in fields:
            continue
        sep = fields.index("-")
        if len(fields) > sep + 3 and fields[sep + 1] == "overlay":
            for option in fields[sep + 3].split(","):
                if option.startswith("upperdir="):
                    return option.removeprefix("upperdir=")
    return None


def _upperdir(attrs: Mapping[str, Any]) -> str | None:
    data = ((attrs.get("GraphDriver") or {}).get("Data")) or {}
    value = data.get("UpperDir")
    return str(value) if value else None


def find_own_container(
    inspect_container: Callable[[str], Mapping[str, Any] | None],
    *,
    cgroup: str,
    mountinfo: str,
    hostname: str | None,
    sharing: Callable[[str], Sequence[str]] = lambda container_id: (),
) -> Mapping[str, Any] | None:
    """The sidecar's own container's inspect data, or None when it cannot be identified for sure.

    - cgroup ids (cgroup v1, systemd scopes) are the container's own: confirmed by the engine, accepted.
    - /etc/hostname|hosts|resolv.conf mounts and HOSTNAME belong to the owner of the *network namespace*:
      with ``network_mode: service:<x>`` (how compose runs the sidecar next to the gateway) that is x, not
      us. So such a candidate is accepted only when the root filesystem's overlay ``upperdir`` is its own;
      otherwise the containers sharing its namespace (``sharing``) are checked the same way. Without an
      overlay root, a candidate that others share a namespace with is ambiguous: None (fail closed).
    - HOSTNAME counts only when it looks like a container id and the engine confirms that container's
      configured hostname is exactly it: a host machine named like a container never adopts it.
    """
    for cid in container_ids_from_cgroup(cgroup):
        attrs = inspect_container(cid)
        if attrs is not None and attrs.get("Id") == cid:
            return attrs
    upper = root_upperdir(mountinfo)
    candidates: list[Mapping[str, Any]] = []
    for cid in container_ids_from_mountinfo(mountinfo):
        attrs = inspect_container(cid)
        if attrs is not None and attrs.get("Id") == cid:
            candidates.append(attrs)
    if hostname and _HOSTNAME_ID_RE.match(hostname):
        attrs = inspect_container(hostname)
        config = (attrs or {}).get("Config") or {}
        if (
            attrs is not None
            and str(attrs.get("Id", "")).startswith(hostname)
            and config.get("Hostname") == hostname
        ):
            candidates.append(attrs)
    for attrs in candidates:
        others = list(sharing(str(attrs["Id"])))
        if upper is None:
            if not others:
                return attrs
            continue
        if _upperdir(attrs) == upper:
            return attrs
        for other in others:
            shared = inspect_container(other)
            if shared is not None and _upperdir(shared) == upper:
                return shared
    return None


def resolve_scope(options: DockerSourceOptions, own: Mapping[str, Any] | None) -> ProjectScope:
    """Decide the project scope; raise ConfigError (naming both settings) rather than guess."""
    if options.all_projects:
        return ProjectScope(None, f"{PROJECT_SETTING}='*'")
    if options.project:
        return ProjectScope(options.project, f"set by {PROJECT_SETTING}")
    if own is not None:
        labels = ((own.get("Config") or {}).get("Labels")) or {}
        project = labels.get(COMPOSE_PROJECT_LABEL)
        name = str(own.get("Name", "")).lstrip("/") or str(own.get("Id", ""))[:12]
        if project:
            return ProjectScope(str(project), f"the sidecar's own container {name}")
        where = f"the sidecar's container {name} has no {COMPOSE_PROJECT_LABEL} label"
    else:
        where = (
            "the sidecar cannot identify its own container on this Docker engine (checked "
            "/proc/self/cgroup, /proc/self/mountinfo and HOSTNAME)"
        )
    if options.dev_approve_all:
        raise ConfigError(
            f"cannot tell which compose project's networks to watch: {where}. {MODE_SETTING}=dev-approve-all "
            f"needs one project: set {PROJECT_SETTING}=<project> (YAML key {PROJECT_YAML_KEY}); '*' is "
            "refused in this mode"
        )
    raise ConfigError(
        f"cannot tell which compose project to watch: {where}. Set {PROJECT_SETTING}=<project> "
        f"(YAML key {PROJECT_YAML_KEY}) to consider only that project's labelled containers, or "
        f"{PROJECT_SETTING}='*' to consider every labelled container on this Docker engine"
    )


def is_selected(labels: Mapping[str, str], options: DockerSourceOptions, scope: ProjectScope) -> bool:
    """The opt-in value check (same spelling rules as the policy: trimmed, case-insensitive) and scope.

    The engine filters by label *key* only, because its label filter compares values exactly.
    """
    value = labels.get(options.opt_in_label)
    if value is None or value.strip().lower() != options.opt_in_value.strip().lower():
        return False
    return scope.project is None or labels.get(COMPOSE_PROJECT_LABEL) == scope.project


def list_filters(options: DockerSourceOptions, scope: ProjectScope) -> dict[str, list[str]]:
    labels = [options.opt_in_label]
    if scope.project is not None:
        labels.append(f"{COMPOSE_PROJECT_LABEL}={scope.project}")
    return {"label": labels}


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(1 << 20)
    except OSError:
        return ""


def scope_of_this_sidecar(
    options: DockerSourceOptions,
    inspect_container: Callable[[str], Mapping[str, Any] | None],
    list_containers: Callable[[], Sequence[Mapping[str, Any]]],
    *,
    proc_root: str = "/proc/self",
    hostname: str | None = None,
) -> ProjectScope:
    """The project to watch: the configured one, or the one of the container this sidecar runs in."""
    own: Mapping[str, Any] | None = None
    if not (options.all_projects or options.project):

        def sharing(container_id: str) -> list[str]:
            """Containers that run in ``container_id``'s network namespace (network_mode container:)."""
            mode = f"container:{container_id}"
            return [
                str(s["Id"])
                for s in list_containers()
                if ((s.get("HostConfig") or {}).get("NetworkMode")) == mode
            ]

        own = find_own_container(
            inspect_container,
            cgroup=_read_text(f"{proc_root}/cgroup"),
            mountinfo=_read_text(f"{proc_root}/mountinfo"),
            hostname=hostname,
            sharing=sharing,
        )
    return resolve_scope(options, own)
