"""Is the identity directory persistent? Decided from ``/proc/self/mountinfo``.

The classic way to lose a device identity is to keep it in the container's writable layer: every
``docker compose up`` then creates a new device that needs a new approval. A directory is treated as
persistent when the mount that contains it is a real mount (a volume, bind mount or PVC) and not
tmpfs/ramfs; the root file system counts as persistent only outside containers and when it is not an
overlay. The check is a heuristic used for a warning (or, with ``OPENCLAW_REQUIRE_PERSISTENT_IDENTITY=1``,
a refusal); it never changes what is written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
EPHEMERAL_FS = frozenset({"tmpfs", "ramfs"})
LAYERED_ROOT_FS = frozenset({"overlay", "aufs", "fuse-overlayfs", "overlayfs", "unionfs"})
CONTAINER_MARKERS = (Path("/.dockerenv"), Path("/run/.containerenv"))
_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Mount:
    mount_point: str
    fs_type: str
    source: str
    root: str


@dataclass(frozen=True)
class Persistence:
    persistent: bool
    mount: Mount | None
    reason: str


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (``\\040``)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """Parse ``/proc/<pid>/mountinfo`` (see proc(5)); malformed lines are skipped."""
    mounts = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < sep + 3:
            continue
        mounts.append(
            Mount(
                mount_point=_unescape(fields[4]),
                fs_type=fields[sep + 1],
                source=_unescape(fields[sep + 2]),
                root=_unescape(fields[3]),
            )
        )
    return mounts


def containing_mount(mounts: list[Mount], path: str) -> Mount | None:
    """The mount that serves ``path`` (an absolute, resolved path): the longest mount point prefix;
    among equal mount points the last one listed (it is mounted over the earlier ones)."""
    best: Mount | None = None
    for mount in mounts:
        mp = mount.mount_point
        inside = path == mp or mp == "/" or path.startswith(mp.rstrip("/") + "/")
        if inside and (best is None or len(mp) >= len(best.mount_point)):
            best = mount
    return best


def in_container(env: Mapping[str, str]) -> bool:
    return (
        "KUBERNETES_SERVICE_HOST" in env or "container" in env or any(m.exists() for m in CONTAINER_MARKERS)
    )


def judge(mounts: list[Mount], path: str, container: bool) -> Persistence:
    """Pure decision used by :func:`check`; ``container`` says whether ``/`` is a container's root."""
    mount = containing_mount(mounts, path)
    if mount is None:
        return Persistence(False, None, f"{path} is on no mount listed in mountinfo")
    if mount.fs_type in EPHEMERAL_FS:
        return Persistence(
            False, mount, f"{path} is on {mount.fs_type} at {mount.mount_point} (lost on restart)"
        )
    if mount.mount_point == "/":
        if mount.fs_type in LAYERED_ROOT_FS:
            return Persistence(False, mount, f"{path} is on the container's {mount.fs_type} root file system")
        if container:
            return Persistence(
                False, mount, f"{path} is on the container's root file system, not on a volume"
            )
    return Persistence(True, mount, f"{path} is on {mount.fs_type} mounted at {mount.mount_point}")


def check(path: Path, env: Mapping[str, str] | None = None, mountinfo: Path | None = None) -> Persistence:
    """Judge ``path`` (made absolute and resolved) against the running process's mounts."""
    env = os.environ if env is None else env
    mountinfo = MOUNTINFO if mountinfo is None else mountinfo
    try:
        text = mountinfo.read_text()
    except OSError as exc:
        return Persistence(False, None, f"cannot read {mountinfo}: {exc.strerror}")
    return judge(parse_mountinfo(text), os.path.realpath(path), in_container(env))
