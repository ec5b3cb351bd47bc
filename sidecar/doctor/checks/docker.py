"""Docker: will this container's identity survive a recreate, and will the sidecar approve it?

Read-only inspections through the Docker API (the same low-level client the sidecar uses):

- the directory that must survive (``OPENCLAW_IDENTITY_DIR`` when the entrypoint is used, else the
  OpenClaw state dir) is under a bind mount or named volume — not the writable layer, not tmpfs, and
  not an anonymous volume that ``down -v``/``up -V`` drop;
- the opt-in label is there and the identity-path label points at a readable, valid ``*.pub.json``
  (read exactly as the sidecar reads it, through ``get_archive``), written for the identity storage the
  container's OpenClaw release reads (its image's version label or tag);
- a container running ``openclaw-sidecar run`` exists, is healthy, has ``OPENCLAW_TRUSTED_ENV`` set
  (else it approves nothing) and watches this container's compose project.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sidecar.doctor.checks import Outcome
from sidecar.doctor.findings import Finding, finding
from sidecar.doctor.options import DoctorOptions
from sidecar.identity.keys import PublicIdentity
from sidecar.identity.release import image_release, own_key_cause
from sidecar.trust import is_trusted

SIDECAR_COMMAND_RE = re.compile(r"(^|[\s/])openclaw-sidecar\s+run\b")
_ANONYMOUS_VOLUME_RE = re.compile(r"^[0-9a-f]{64}$")


def container_env(attrs: Mapping[str, Any]) -> dict[str, str]:
    items = (attrs.get("Config") or {}).get("Env") or []
    return dict(item.split("=", 1) for item in items if "=" in item)


def identity_location(env: Mapping[str, str]) -> tuple[str, str]:
    """(directory that must persist, the variable or default that chose it)."""
    if env.get("OPENCLAW_IDENTITY_DIR"):
        return env["OPENCLAW_IDENTITY_DIR"], "OPENCLAW_IDENTITY_DIR"
    if env.get("OPENCLAW_STATE_DIR"):
        return env["OPENCLAW_STATE_DIR"], "OPENCLAW_STATE_DIR"
    home = env.get("HOME") or "/home/node"
    return posixpath.join(home, ".openclaw"), "the OpenClaw state dir ($HOME/.openclaw)"


def covering_mount(attrs: Mapping[str, Any], path: str) -> dict[str, Any] | None:
    """The mount that serves ``path`` inside the container (longest destination prefix), if any."""
    mounts: list[dict[str, Any]] = list(attrs.get("Mounts") or [])
    for dest in (attrs.get("HostConfig") or {}).get("Tmpfs") or {}:  # `--tmpfs` is not in Mounts
        mounts.append({"Type": "tmpfs", "Destination": dest})
    best: dict[str, Any] | None = None
    for mount in mounts:
        dest = str(mount.get("Destination") or "").rstrip("/") or "/"
        inside = path == dest or dest == "/" or path.startswith(dest + "/")
        if inside and (best is None or len(dest) > len(str(best.get("Destination", "")).rstrip("/"))):
            best = mount
    return best


def persistence_findings(attrs: Mapping[str, Any], env: Mapping[str, str]) -> tuple[list[Finding], str]:
    path, chosen_by = identity_location(env)
    name = str(attrs.get("Name", "")).lstrip("/")
    mount = covering_mount(attrs, path)
    if mount is None:
        seen = f"{path} ({chosen_by}) in container {name} is on no volume or bind mount: the writable layer"
        return [finding("docker.identity-in-writable-layer", seen, path=path)], seen
    kind, dest = mount.get("Type"), mount.get("Destination")
    if kind == "tmpfs":
        seen = f"{path} ({chosen_by}) in container {name} is on a tmpfs at {dest}"
        return [finding("docker.identity-in-writable-layer", seen, path=path)], seen
    if kind == "volume" and _ANONYMOUS_VOLUME_RE.match(str(mount.get("Name") or "")):
        seen = f"{path} is on anonymous volume {str(mount.get('Name'))[:12]}… at {dest}"
        return [finding("docker.identity-on-anonymous-volume", seen, path=path)], seen
    source = mount.get("Name") or mount.get("Source")
    return [], f"{path} is on {kind} {source} at {dest}: survives `docker compose up --force-recreate`"


def _published_identity(api: Any, attrs: Mapping[str, Any], path: str) -> PublicIdentity | str:
    """The valid published identity the sidecar reads at ``path``; else why there is none."""
    from sidecar.sources.docker import (
        IdentityUnavailable,
        check_archive_stat,
        parse_identity_archive,
        read_bounded,
    )

    try:
        stream, stat = api.get_archive(attrs["Id"], path)
        check_archive_stat(stat, path)
        return parse_identity_archive(read_bounded(stream), path)
    except IdentityUnavailable as exc:
        return str(exc)
    except Exception as exc:  # docker.errors.NotFound and friends: the file is not there
        return f"{path} cannot be read from the container ({getattr(exc, 'explanation', None) or exc})"


def storage_findings(
    name: str, published: PublicIdentity, labels: Mapping[str, str], image: str
) -> list[Finding]:
    """The identity was written for storage the container's OpenClaw release does not read."""
    cause = own_key_cause(published, labels, image)
    if cause is None:
        return []
    found = image_release(labels, image)
    assert found is not None  # own_key_cause needs the release
    return [finding("docker.identity-storage-mismatch", f"container {name}: {cause}", release=found[0])]


def label_findings(api: Any, attrs: Mapping[str, Any]) -> tuple[list[Finding], bool]:
    from sidecar.sources.docker import (
        DockerSourceOptions,
        IdentityUnavailable,
        ProjectScope,
        identity_path_for,
        is_selected,
    )

    options = DockerSourceOptions()
    labels = {str(k): str(v) for k, v in ((attrs.get("Config") or {}).get("Labels") or {}).items()}
    name = str(attrs.get("Name", "")).lstrip("/")
    if not is_selected(labels, options, ProjectScope(None, "doctor")):
        found = labels.get(options.opt_in_label)
        seen = f"container {name}: label {options.opt_in_label}=" + (repr(found) if found else "(absent)")
        return [finding("docker.missing-opt-in-label", seen)], False
    try:
        path = identity_path_for(labels, options.identity_path_label, options.default_identity_path)
    except IdentityUnavailable as exc:
        return [finding("docker.bad-identity-path-label", f"container {name}: {exc}")], True
    published = _published_identity(api, attrs, path)
    if isinstance(published, str):
        return [
            finding("docker.published-identity-missing", f"container {name}: {published}", path=path)
        ], True
    image = str((attrs.get("Config") or {}).get("Image") or "")
    return storage_findings(name, published, labels, image), True


def _sidecar_scope(attrs: Mapping[str, Any]) -> str | None:
    """The compose project a sidecar container watches (None: every project, or it cannot tell)."""
    from sidecar.errors import ConfigError
    from sidecar.sources.docker import DockerSourceOptions, resolve_scope

    setting = container_env(attrs).get("OPENCLAW_PAIRING_PROJECT", "auto").strip()
    try:
        options = DockerSourceOptions(
            project=None if setting in ("", "auto", "*") else setting, all_projects=setting == "*"
        )
        return resolve_scope(options, attrs).project
    except ConfigError:
        return None


def _running_sidecars(api: Any, only: str | None) -> list[Mapping[str, Any]]:
    """Running containers whose command is ``openclaw-sidecar run`` (only the one named ``only``, if set)."""
    running: Sequence[Mapping[str, Any]] = api.containers(filters={"status": "running"})
    found = []
    for summary in running:
        names = {str(n).lstrip("/") for n in summary.get("Names") or ()}
        if only is not None and only not in names and not str(summary.get("Id", "")).startswith(only):
            continue
        if SIDECAR_COMMAND_RE.search(summary.get("Command", "")):
            found.append(api.inspect_container(summary["Id"]))
    return found


def sidecar_findings(
    api: Any, agent: Mapping[str, Any], only: str | None = None
) -> tuple[list[Finding], str]:
    """The sidecar that would approve ``agent``: one watching its project first, then trusted, healthy."""
    sidecars = _running_sidecars(api, only)
    if not sidecars:
        where = (
            f"container {only} is not running `openclaw-sidecar run`"
            if only
            else ("no running container's command is `openclaw-sidecar run`")
        )
        return [finding("docker.no-sidecar", where)], ""
    project = ((agent.get("Config") or {}).get("Labels") or {}).get("com.docker.compose.project")

    def rank(attrs: Mapping[str, Any]) -> tuple[bool, bool, bool]:
        scope = _sidecar_scope(attrs)
        health = ((attrs.get("State") or {}).get("Health") or {}).get("Status")
        return scope in (None, project), is_trusted(container_env(attrs)), health != "unhealthy"

    best = max(sidecars, key=rank)
    name = str(best.get("Name", "")).lstrip("/")
    same_project, trusted, healthy = rank(best)
    health = ((best.get("State") or {}).get("Health") or {}).get("Status") or "no healthcheck"
    found: list[Finding] = []
    if not same_project:
        scope = _sidecar_scope(best)
        seen = f"sidecar {name} watches project {scope!r}; this container is in {project!r}"
        found.append(finding("docker.sidecar-other-project", seen, project=scope))
    if not healthy:
        found.append(finding("docker.sidecar-unhealthy", f"sidecar {name} is {health}", container=name))
    if not trusted:
        value = container_env(best).get("OPENCLAW_TRUSTED_ENV")
        seen = f"sidecar {name}: OPENCLAW_TRUSTED_ENV=" + (repr(value) if value is not None else "(unset)")
        found.append(finding("docker.sidecar-untrusted", seen, container=name))
    return found, f"sidecar {name} running ({health}, trusted={trusted})"


def check(opts: DoctorOptions) -> Outcome:
    if not opts.container:
        return Outcome("docker", skipped="no --container given")
    try:
        from sidecar.sources.docker import connect

        api = connect(timeout=opts.timeout)
        attrs = api.inspect_container(opts.container)
    except Exception as exc:  # SourceError, docker.errors.NotFound, connection errors
        seen = f"container {opts.container}: {getattr(exc, 'explanation', None) or exc}"
        return Outcome("docker", (finding("docker.cannot-inspect", seen),))
    env = container_env(attrs)
    found, summary = persistence_findings(attrs, env)
    labelled, opted_in = label_findings(api, attrs)
    found += labelled
    if opted_in:
        more, sidecar = sidecar_findings(api, attrs, opts.sidecar)
        found += more
        summary = "; ".join(s for s in (summary, sidecar) if s)
    path, _ = identity_location(env)
    lost = any(f.id == "docker.identity-in-writable-layer" for f in found)
    return Outcome("docker", tuple(found), summary, facts={"persistent": not lost, "persist_path": path})
