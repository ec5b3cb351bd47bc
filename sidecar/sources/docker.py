"""The Docker workload source: labelled containers, their IPs and their *published* public identities.

Why it looks the way it does:

- **Opt-in and scoped.** Only containers carrying the opt-in label (``openclaw.pairing.auto-approve=true``)
  are workloads, and by default only those in the sidecar's own compose project. When the sidecar cannot
  find its own project, it refuses to guess: an explicit project or an explicit "all projects" is required
  (fail closed, :func:`resolve_scope`).
- **Public halves only.** The identity is read through the Docker API (``GET /containers/{id}/archive``),
  never from a shared volume, and only from paths ending in ``.pub.json``; symlinks and anything that is
  not one small regular file are refused, so a label can never make the sidecar read a private key.
- **Events first, a safety net always.** Caches are trusted only while the event stream is live; without
  it every :meth:`DockerSource.snapshot` re-reads. Negative identity results are never cached, because an
  agent may publish its identity a moment after its container starts.
- **The event loop never blocks.** Every SDK call runs in a worker thread; the blocking event streams run
  in their own daemon threads and are bridged into asyncio with ``loop.call_soon_threadsafe`` through a
  bounded queue (an overflow forces a full refresh instead of growing memory).

Measured on docker SDK 7.x / Engine 20.10 (see docs/sidecar.md): a ``label`` filter on network events
filters by the *network's* labels, so network connect/disconnect events are taken unfiltered and matched
against the known container ids here.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import json
import logging
import os
import posixpath
import re
import tarfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sidecar.errors import ConfigError, SourceError
from sidecar.identity.keys import PublicIdentity
from sidecar.settings import Settings
from sidecar.sources.workloads import ChangeCallback, Workload

log = logging.getLogger(__name__)

OPT_IN_LABEL = "openclaw.pairing.auto-approve"
OPT_IN_VALUE = "true"
IDENTITY_PATH_LABEL = "openclaw.pairing.identity-path"
DEFAULT_IDENTITY_PATH = "/home/node/.openclaw/identity/device.pub.json"
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"

PUBLIC_SUFFIX = ".pub.json"
MAX_IDENTITY_BYTES = 64 * 1024
# A one-file tar adds headers (512 B each, plus PAX records) and 1 KiB of end blocks; allow generous slack.
MAX_ARCHIVE_BYTES = MAX_IDENTITY_BYTES + 32 * 1024
_ARCHIVE_CHUNK = 16 * 1024

# Go's os.FileMode type bits as reported in the X-Docker-Container-Path-Stat header.
_GO_MODE_TYPE_BITS = (
    (1 << 31)  # dir
    | (1 << 30)  # append-only (plan9) — never on Linux, refuse anyway
    | (1 << 27)  # symlink
    | (1 << 26)  # device
    | (1 << 25)  # named pipe
    | (1 << 24)  # socket
    | (1 << 21)  # char device
    | (1 << 19)  # irregular
)

CONTAINER_ACTIONS = ("start", "restart", "die", "destroy", "rename")
NETWORK_ACTIONS = ("connect", "disconnect")

# The setting (sidecar/settings.py) that scopes the source; shown in errors.
PROJECT_SETTING = "OPENCLAW_PAIRING_PROJECT"
PROJECT_YAML_KEY = "project"


# --- options and scope ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DockerSourceOptions:
    """Everything the source needs from settings (kept separate so tests need no Settings object)."""

    opt_in_label: str = OPT_IN_LABEL
    opt_in_value: str = OPT_IN_VALUE
    identity_path_label: str = IDENTITY_PATH_LABEL
    default_identity_path: str = DEFAULT_IDENTITY_PATH
    project: str | None = None  # explicit compose project; wins over the detected one
    all_projects: bool = False  # explicit "every project on this engine" (project setting '*')
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


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(1 << 20)
    except OSError:
        return ""


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
    raise ConfigError(
        f"cannot tell which compose project to watch: {where}. Set {PROJECT_SETTING}=<project> "
        f"(YAML key {PROJECT_YAML_KEY}) to consider only that project's labelled containers, or "
        f"{PROJECT_SETTING}='*' to consider every labelled container on this Docker engine"
    )


# --- pure extraction from `docker ps`-style summaries ---------------------------------------------


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


def network_addresses(summary: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """``(ips, endpoint_gateways, network_ids)`` per network name from NetworkSettings.Networks."""
    networks = ((summary.get("NetworkSettings") or {}).get("Networks")) or {}
    ips: dict[str, str] = {}
    gateways: dict[str, str] = {}
    ids: dict[str, str] = {}
    for name, endpoint in networks.items():
        if not isinstance(endpoint, Mapping):
            continue
        if endpoint.get("IPAddress"):
            ips[str(name)] = str(endpoint["IPAddress"])
        if endpoint.get("Gateway"):
            gateways[str(name)] = str(endpoint["Gateway"])
        if endpoint.get("NetworkID"):
            ids[str(name)] = str(endpoint["NetworkID"])
    return ips, gateways, ids


def ipam_gateways(network: Mapping[str, Any]) -> list[str]:
    """Gateway addresses configured in a network's IPAM (``docker network inspect``)."""
    configs = ((network.get("IPAM") or {}).get("Config")) or []
    return [str(c["Gateway"]) for c in configs if isinstance(c, Mapping) and c.get("Gateway")]


def merge_gateways(endpoint: Mapping[str, str], ipam: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """One entry per network, plus ``"<network>#ipam<n>"`` for IPAM gateways that differ from it.

    The policy treats every value as "never a client address", so extra entries only make it stricter.
    """
    merged = dict(endpoint)
    for name, addresses in ipam.items():
        n = 0
        for address in addresses:
            if name not in merged:
                merged[name] = address
            elif address != merged[name] and address not in merged.values():
                n += 1
                merged[f"{name}#ipam{n}"] = address
    return merged


def workload_from_summary(
    summary: Mapping[str, Any],
    *,
    ipam: Mapping[str, Sequence[str]] | None = None,
    identity: PublicIdentity | None = None,
    identity_error: str | None = None,
) -> Workload:
    labels = {str(k): str(v) for k, v in (summary.get("Labels") or {}).items()}
    names = summary.get("Names") or []
    name = str(names[0]).lstrip("/") if names else str(summary.get("Id", ""))[:12]
    ips, endpoint_gateways, _ = network_addresses(summary)
    return Workload(
        id=str(summary["Id"]),
        name=name,
        labels=labels,
        ips=ips,
        network_gateways=merge_gateways(endpoint_gateways, ipam or {}),
        running=summary.get("State") == "running",
        service=labels.get(COMPOSE_SERVICE_LABEL),
        project=labels.get(COMPOSE_PROJECT_LABEL),
        image=str(summary.get("Image") or ""),
        image_id=str(summary.get("ImageID") or ""),
        identity=identity,
        identity_error=identity_error,
    )


# --- the published identity -----------------------------------------------------------------------


class IdentityUnavailable(ValueError):
    """The published identity cannot be used; the message says why and what to do."""


def validate_identity_path(path: str) -> str:
    """An absolute, normalized path to a ``*.pub.json`` file; anything else is refused before any I/O."""
    if not isinstance(path, str) or not path.startswith("/") or "\x00" in path or len(path) > 4096:
        raise IdentityUnavailable(f"identity path {path!r} must be an absolute path inside the container")
    if posixpath.normpath(path) != path or "//" in path or path.endswith("/"):
        raise IdentityUnavailable(
            f"identity path {path!r} must be normalized (no '.', '..', '//' or trailing '/')"
        )
    if not posixpath.basename(path).endswith(PUBLIC_SUFFIX) or posixpath.basename(path) == PUBLIC_SUFFIX:
        raise IdentityUnavailable(
            f"identity path {path!r} does not end in {PUBLIC_SUFFIX!r}: the sidecar only ever reads "
            "published public identities, never private key files"
        )
    return path


def identity_path_for(labels: Mapping[str, str], options: DockerSourceOptions) -> str:
    path = labels.get(options.identity_path_label)
    if path is None:
        return options.default_identity_path
    try:
        return validate_identity_path(path)
    except IdentityUnavailable as exc:
        raise IdentityUnavailable(f"label {options.identity_path_label}: {exc}") from None


def check_archive_stat(stat: Mapping[str, Any] | None, path: str) -> None:
    """Refuse by the engine's path stat before any body is transferred (directories can be huge)."""
    if not isinstance(stat, Mapping):
        return
    mode = stat.get("mode")
    if isinstance(mode, int) and mode & _GO_MODE_TYPE_BITS:
        target = stat.get("linkTarget")
        what = f"a symlink to {target!r}" if target else "not a regular file"
        raise IdentityUnavailable(f"{path} is {what}: publish the identity as a regular file")
    size = stat.get("size")
    if isinstance(size, int) and size > MAX_IDENTITY_BYTES:
        raise IdentityUnavailable(f"{path} is {size} bytes, more than the {MAX_IDENTITY_BYTES} allowed")


def read_bounded(chunks: Iterable[bytes], limit: int = MAX_ARCHIVE_BYTES) -> bytes:
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        if len(buf) > limit:
            raise IdentityUnavailable(f"the archive of the identity file exceeds {limit} bytes")
    return bytes(buf)


def parse_identity_archive(data: bytes, path: str) -> PublicIdentity:
    """The one regular file of a ``get_archive`` tar → verified :class:`PublicIdentity`.

    Refuses symlinks, hard links, directories, devices, extra members, oversized or truncated files and
    documents that carry a private key (the publisher is broken; the sidecar must not hold that key).
    """
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            members = tar.getmembers()
            if len(members) != 1:
                raise IdentityUnavailable(
                    f"{path}: expected exactly one file in the archive, got {len(members)}"
                )
            member = members[0]
            if member.issym() or member.islnk():
                raise IdentityUnavailable(f"{path} is a link to {member.linkname!r}: publish a regular file")
            if not member.isreg():
                raise IdentityUnavailable(f"{path} is not a regular file")
            if member.name != posixpath.basename(path):
                raise IdentityUnavailable(f"{path}: unexpected archive member {member.name!r}")
            if member.size > MAX_IDENTITY_BYTES:
                raise IdentityUnavailable(
                    f"{path} is {member.size} bytes, more than {MAX_IDENTITY_BYTES} allowed"
                )
            fh = tar.extractfile(member)
            raw = fh.read(MAX_IDENTITY_BYTES + 1) if fh is not None else b""
            if len(raw) != member.size:
                raise IdentityUnavailable(f"{path}: the archive is truncated")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise IdentityUnavailable(f"{path}: the engine's archive is malformed ({exc})") from None
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise IdentityUnavailable(f"{path} is not valid UTF-8 JSON") from None
    if isinstance(document, dict) and ({"privateKeyPem", "privateKey"} & document.keys()):
        raise IdentityUnavailable(
            f"{path} contains a private key: refusing it; publish only the public half (device.pub.json)"
        )
    try:
        return PublicIdentity.from_json(document)
    except ValueError as exc:
        raise IdentityUnavailable(f"{path} is not a valid published identity: {exc}") from None


# --- the Docker API surface this module uses (docker.APIClient; fakes in unit tests) ----------------


class DockerAPI(Protocol):
    def containers(self, *, all: bool = ..., filters: dict[str, Any] | None = ...) -> Any: ...
    def inspect_container(self, container: str) -> Any: ...
    def inspect_network(self, net_id: str) -> Any: ...
    def get_archive(self, container: str, path: str, chunk_size: int | None = ...) -> Any: ...
    def events(self, *, filters: dict[str, Any] | None = ..., decode: Literal[True] = ...) -> Any: ...
    def ping(self) -> Any: ...


class EventStream(Protocol):
    def __iter__(self) -> Iterator[Any]: ...
    def close(self) -> None: ...


def connect(base_url: str | None = None, timeout: float = 10.0) -> DockerAPI:
    """A low-level client from DOCKER_HOST (or ``base_url``); errors name what to fix."""
    import docker  # lazy: keeps `openclaw-sidecar --help` fast

    try:
        if base_url:
            return docker.APIClient(base_url=base_url, timeout=int(timeout), version="auto")
        return docker.from_env(timeout=int(timeout)).api
    except docker.errors.DockerException as exc:
        where = base_url or os.environ.get("DOCKER_HOST") or "default socket"
        raise SourceError(
            f"cannot connect to the Docker engine ({where}): {exc}. "
            "Mount /var/run/docker.sock (read-only is enough) or a socket proxy and set DOCKER_HOST"
        ) from None


def _is_not_found(exc: BaseException) -> bool:
    return getattr(getattr(exc, "response", None), "status_code", None) == 404


def _is_api_error(exc: BaseException) -> bool:
    """An HTTP answer from the engine (the engine is there, the request failed) vs a lost connection."""
    response = getattr(exc, "response", None)
    return response is not None and getattr(response, "status_code", None) is not None


# --- the source -----------------------------------------------------------------------------------


@dataclass
class _IdentityEntry:
    path: str
    identity: PublicIdentity
    read_at: float


@dataclass
class _Cache:
    workloads: tuple[Workload, ...] | None = None
    listed_at: float = 0.0
    identities: dict[str, _IdentityEntry] = field(default_factory=dict)
    ipam: dict[str, list[str]] = field(default_factory=dict)
    known_ids: frozenset[str] = frozenset()  # ids of the last listing (kept across invalidations)
    # Bumped by every invalidation: a refresh that started before an event must not store what it read.
    generation: int = 0


class DockerSource:
    """:class:`~sidecar.sources.workloads.WorkloadSource` backed by a Docker engine."""

    def __init__(
        self,
        api: DockerAPI,
        options: DockerSourceOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        proc_root: str = "/proc/self",
        hostname: str | None = None,
    ) -> None:
        self._api = api
        self._options = options or DockerSourceOptions()
        self._clock = clock
        self._proc_root = proc_root
        self._hostname = hostname if hostname is not None else os.environ.get("HOSTNAME")
        self._scope: ProjectScope | None = None
        self._cache = _Cache()
        self._cache_lock = threading.Lock()  # guards _cache between worker threads and the loop
        self._refresh_lock: asyncio.Lock | None = None
        self._connected = False
        self._watching = False

    # --- public -------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def scope(self) -> ProjectScope | None:
        return self._scope

    async def resolve_scope(self) -> ProjectScope:
        """Find the project to watch now (call at startup so a ConfigError stops the sidecar early)."""
        return await asyncio.to_thread(self._scope_blocking)

    async def snapshot(self) -> tuple[Workload, ...]:
        if self._refresh_lock is None:
            self._refresh_lock = asyncio.Lock()
        async with self._refresh_lock:  # concurrent callers share one refresh
            cached = self._fresh_cache()
            if cached is not None:
                return cached
            return await asyncio.to_thread(self._refresh_blocking)

    def invalidate(self, container_id: str | None = None) -> None:
        """Forget cached data (one container's identity, or everything); the next snapshot re-reads."""
        with self._cache_lock:
            self._cache.generation += 1
            self._cache.workloads = None
            if container_id is None:
                self._cache.identities.clear()
            else:
                self._cache.identities.pop(container_id, None)

    async def watch(self, stop: Callable[[], bool], on_change: ChangeCallback) -> None:
        """Follow container and network events until ``stop()``; SourceError when the engine is lost."""
        await self.resolve_scope()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=self._options.event_queue_size)
        overflow = threading.Event()
        streams: list[EventStream] = []
        closing = threading.Event()

        def post(item: tuple[str, Any]) -> None:  # runs on the loop thread
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                overflow.set()

        threads = [
            threading.Thread(
                target=self._pump,
                args=(kind, filters, streams, closing, loop, post),
                name=f"docker-events-{kind}",
                daemon=True,
            )
            for kind, filters in self._event_filters().items()
        ]
        self.invalidate()
        try:
            for thread in threads:
                thread.start()
            await self._wait_streams_open(streams, len(threads), queue)
            self._watching = True
            self._connected = True
            self.invalidate()  # anything cached before the stream was live may have missed events
            await _call(on_change, "docker:connected")
            next_ping = self._clock() + self._options.ping_interval_s
            while not stop():
                if overflow.is_set():  # events were dropped: whatever they said, re-read everything
                    overflow.clear()
                    self.invalidate()
                    await _call(on_change, "docker:events-overflow")
                if self._clock() >= next_ping:
                    await self._ping()
                    next_ping = self._clock() + self._options.ping_interval_s
                try:
                    kind, payload = await asyncio.wait_for(queue.get(), timeout=0.2)
                except TimeoutError:
                    continue
                if kind in ("error", "end"):
                    self._connected = False
                    raise SourceError(
                        f"lost the Docker event stream: {payload}; will reconnect and reconcile"
                    )
                reason = self._apply_event(payload)
                if reason is not None:
                    await _call(on_change, reason)
        finally:
            self._watching = False
            closing.set()
            for stream in list(streams):
                with contextlib.suppress(Exception):
                    stream.close()
            self.invalidate()

    # --- scope --------------------------------------------------------------------------------

    def _scope_blocking(self) -> ProjectScope:
        if self._scope is None:
            own: Mapping[str, Any] | None = None
            if not (self._options.all_projects or self._options.project):
                own = find_own_container(
                    self._inspect_or_none,
                    cgroup=_read_text(f"{self._proc_root}/cgroup"),
                    mountinfo=_read_text(f"{self._proc_root}/mountinfo"),
                    hostname=self._hostname,
                    sharing=self._sharing_network_of,
                )
            self._scope = resolve_scope(self._options, own)
            log.info("docker source watches %s", self._scope.describe())
        return self._scope

    def _sharing_network_of(self, container_id: str) -> list[str]:
        """Ids of containers that run in ``container_id``'s network namespace (network_mode container:)."""
        summaries = self._call(self._api.containers, all=True) or []
        mode = f"container:{container_id}"
        return [str(s["Id"]) for s in summaries if ((s.get("HostConfig") or {}).get("NetworkMode")) == mode]

    def _inspect_or_none(self, container: str) -> Mapping[str, Any] | None:
        try:
            attrs = self._call(self._api.inspect_container, container)
        except _NotFound:
            return None
        return attrs if isinstance(attrs, Mapping) else None

    # --- listing ------------------------------------------------------------------------------

    def _fresh_cache(self) -> tuple[Workload, ...] | None:
        """The cached list if events are flowing, it is young enough and no identity needs a retry."""
        with self._cache_lock:
            cached = self._cache.workloads
            if cached is None or not self._watching:
                return None
            if self._clock() - self._cache.listed_at > self._options.list_max_age_s:
                return None
            if any(w.running and w.identity is None for w in cached):
                return None  # negative results are never cached
            return cached

    def _refresh_blocking(self) -> tuple[Workload, ...]:
        scope = self._scope_blocking()
        with self._cache_lock:
            generation = self._cache.generation
        summaries = self._call(self._api.containers, all=True, filters=list_filters(self._options, scope))
        workloads: list[Workload] = []
        for summary in summaries or []:
            labels = summary.get("Labels") or {}
            if not is_selected(labels, self._options, scope):
                continue
            _, _, network_ids = network_addresses(summary)
            ipam = {name: self._ipam_for(net_id) for name, net_id in network_ids.items()}
            identity, error = self._identity_for(summary, generation)
            workloads.append(
                workload_from_summary(summary, ipam=ipam, identity=identity, identity_error=error)
            )
        result = tuple(sorted(workloads, key=lambda w: (w.name, w.id)))
        with self._cache_lock:
            self._cache.known_ids = frozenset(w.id for w in result)
            if self._cache.generation == generation:  # no event arrived meanwhile: safe to reuse
                self._cache.workloads = result
                self._cache.listed_at = self._clock()
            for stale in [cid for cid in self._cache.identities if cid not in self._cache.known_ids]:
                del self._cache.identities[stale]
        return result

    def _ipam_for(self, network_id: str) -> list[str]:
        with self._cache_lock:
            if network_id in self._cache.ipam:
                return self._cache.ipam[network_id]
        try:
            network = self._call(self._api.inspect_network, network_id)
        except _NotFound:
            return []  # removed between list and inspect; the endpoint's own gateway still counts
        gateways = ipam_gateways(network) if isinstance(network, Mapping) else []
        with self._cache_lock:  # a network's IPAM cannot change while it exists: cache by id
            self._cache.ipam[network_id] = gateways
        return gateways

    # --- identity -----------------------------------------------------------------------------

    def _identity_for(
        self, summary: Mapping[str, Any], generation: int
    ) -> tuple[PublicIdentity | None, str | None]:
        cid = str(summary["Id"])
        if summary.get("State") != "running":
            return None, f"container is {summary.get('State') or 'not running'}; its identity is not read"
        try:
            path = identity_path_for(summary.get("Labels") or {}, self._options)
        except IdentityUnavailable as exc:
            return None, str(exc)
        now = self._clock()
        with self._cache_lock:
            entry = self._cache.identities.get(cid)
        if (
            entry is not None
            and entry.path == path
            and self._watching
            and now - entry.read_at <= self._options.identity_max_age_s
        ):
            return entry.identity, None
        try:
            identity = self._read_identity(cid, path)
        except IdentityUnavailable as exc:
            with self._cache_lock:
                self._cache.identities.pop(cid, None)
            return None, str(exc)
        with self._cache_lock:
            if self._cache.generation == generation:
                self._cache.identities[cid] = _IdentityEntry(path, identity, now)
        return identity, None

    def _read_identity(self, container_id: str, path: str) -> PublicIdentity:
        try:
            chunks, stat = self._call(self._api.get_archive, container_id, path, chunk_size=_ARCHIVE_CHUNK)
        except _NotFound:
            raise IdentityUnavailable(
                f"{path} does not exist in the container: publish the identity there (openclaw-entrypoint "
                f"does) or point label {self._options.identity_path_label} at it"
            ) from None
        except _ApiRefused as exc:
            raise IdentityUnavailable(f"{path}: the engine refused the read ({exc})") from None
        try:
            check_archive_stat(stat, path)
            data = read_bounded(chunks)
        finally:
            with contextlib.suppress(Exception):
                chunks.close()
        return parse_identity_archive(data, path)

    # --- events -------------------------------------------------------------------------------

    def _event_filters(self) -> dict[str, dict[str, Any]]:
        scope = self._scope
        assert scope is not None
        return {
            "container": {
                "type": ["container"],
                "event": list(CONTAINER_ACTIONS),
                "label": list_filters(self._options, scope)["label"],
            },
            # A label filter here would match the *network's* labels: take all connects and filter below.
            "network": {"type": ["network"], "event": list(NETWORK_ACTIONS)},
        }

    def _pump(
        self,
        kind: str,
        filters: dict[str, Any],
        streams: list[EventStream],
        closing: threading.Event,
        loop: asyncio.AbstractEventLoop,
        post: Callable[[tuple[str, Any]], None],
    ) -> None:
        """Thread body: read one blocking event stream and hand each event to the loop."""

        def send(item: tuple[str, Any]) -> bool:
            try:
                loop.call_soon_threadsafe(post, item)
            except RuntimeError:  # loop closed: nobody is listening any more
                return False
            return True

        try:
            stream: EventStream = self._api.events(filters=filters, decode=True)
            streams.append(stream)
            if closing.is_set():
                stream.close()
                return
            send(("open", kind))
            for event in stream:
                if closing.is_set() or not send(("event", event)):
                    return
            if not closing.is_set():
                send(("end", f"the {kind} event stream ended (engine restarted or connection closed)"))
        except Exception as exc:  # any failure of the stream ends the watch; the caller reconnects
            if not closing.is_set():
                send(("error", f"{kind} events: {type(exc).__name__}: {exc}"))

    async def _wait_streams_open(
        self, streams: list[EventStream], expected: int, queue: asyncio.Queue[tuple[str, Any]]
    ) -> None:
        opened = 0
        deadline = self._clock() + self._options.ping_timeout_s
        while opened < expected:
            remaining = deadline - self._clock()
            if remaining <= 0:
                self._connected = False
                raise SourceError("the Docker engine did not open an event stream in time; will retry")
            try:
                kind, payload = await asyncio.wait_for(queue.get(), timeout=remaining)
            except TimeoutError:
                continue
            if kind == "open":
                opened += 1
            elif kind in ("error", "end"):
                self._connected = False
                raise SourceError(f"cannot follow Docker events: {payload}")

    def _apply_event(self, event: Any) -> str | None:
        """Invalidate what an event changed; return the on_change reason, or None if it is not ours."""
        if not isinstance(event, Mapping):
            return None
        etype, action = event.get("Type"), str(event.get("Action", ""))
        attrs = ((event.get("Actor") or {}).get("Attributes")) or {}
        if etype == "container" and action in CONTAINER_ACTIONS:
            cid = str((event.get("Actor") or {}).get("ID") or event.get("id") or "")
            self.invalidate(cid)
            return f"docker:{action}:{attrs.get('name') or cid[:12]}"
        if etype == "network" and action in NETWORK_ACTIONS:
            cid = str(attrs.get("container", ""))
            with self._cache_lock:
                known = cid in self._cache.known_ids
            if known:  # a labelled container not listed yet is re-listed anyway (its start invalidated)
                self.invalidate()
                return f"docker:network-{action}:{attrs.get('name', '?')}:{cid[:12]}"
        return None

    async def _ping(self) -> None:
        try:
            await asyncio.wait_for(
                asyncio.to_thread(self._call, self._api.ping), self._options.ping_timeout_s
            )
        except (TimeoutError, SourceError) as exc:
            self._connected = False
            raise SourceError(
                f"the Docker engine stopped answering ({exc or 'timeout'}); will reconnect"
            ) from None

    # --- calling the SDK ----------------------------------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one SDK call, keep ``connected`` honest, and translate failures into our classes."""
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            if _is_not_found(exc):
                self._connected = True
                raise _NotFound(str(exc)) from exc
            if _is_api_error(exc):
                self._connected = True
                raise _ApiRefused(_api_message(exc)) from exc
            self._connected = False
            raise SourceError(
                f"the Docker engine is unreachable ({type(exc).__name__}: {exc}). Check that the Docker "
                "socket (or socket proxy) is mounted and DOCKER_HOST points at it"
            ) from exc
        self._connected = True
        return result


class _NotFound(Exception):
    """404 from the engine: the container, network or path does not exist (internal)."""


class _ApiRefused(SourceError):
    """The engine answered with an HTTP error other than 404."""


def _api_message(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    status = getattr(getattr(exc, "response", None), "status_code", "?")
    return f"HTTP {status}: {explanation or exc}"


async def _call(callback: ChangeCallback, reason: str) -> None:
    result = callback(reason)
    if inspect.isawaitable(result):
        await result
