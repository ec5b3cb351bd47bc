"""Ownership and privilege drop: make the identity the agent user's, then stop being root.

A key file left owned by root on a bind mount is a classic cause of silent identity loss: the agent,
running as ``node`` (uid 1000 in the official image), cannot read it, and OpenClaw ≥ 2026.6 then uses a
throw-away key, i.e. a new device every start. So when the entrypoint runs as root it chowns what it
manages to ``OPENCLAW_UID:OPENCLAW_GID`` and drops to that user before ``exec``; when it does not run as
root it changes no ownership and stays who it is.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path

from sidecar.errors import ConfigError
from sidecar.identity import fsutil


def is_root() -> bool:
    return os.geteuid() == 0


def chown_all(paths: Iterable[Path], uid: int, gid: int) -> None:
    """chown each existing path (not following symlinks). A no-op unless running as root."""
    if not is_root():
        return
    seen: set[Path] = set()
    for path in paths:
        if path not in seen:
            seen.add(path)
            fsutil.chown_path(path, uid, gid)


def agent_home(uid: int) -> str | None:
    """The home directory of ``uid`` from the passwd database, if it has an entry."""
    try:
        return pwd.getpwuid(uid).pw_dir
    except KeyError:
        return None


def agent_home_for(env: Mapping[str, str], uid: int) -> str:
    """The HOME the agent will run with: root's HOME is replaced by the agent user's when dropping.

    Docker sets HOME from the image's USER; an image that starts the entrypoint as root has HOME=/root,
    which the dropped agent could not even read, so its state dir would silently land elsewhere.
    """
    home = env.get("HOME", "")
    if is_root() and uid != 0 and home in ("", agent_home(0)):
        return agent_home(uid) or home or "/"
    return home or agent_home(os.geteuid()) or "/"


def drop_privileges(uid: int, gid: int, env: MutableMapping[str, str]) -> None:
    """Become ``uid:gid`` for good (supplementary groups reset); USER/LOGNAME follow when they are root's.

    A no-op when not root or when the target is root itself. Raises ConfigError if the drop did not
    stick (the kernel refused), rather than exec'ing the agent as root.
    """
    if not is_root() or uid == 0:
        return
    try:
        entry: pwd.struct_passwd | None = pwd.getpwuid(uid)
    except KeyError:
        entry = None
    if entry is not None:
        os.initgroups(entry.pw_name, gid)
    else:
        os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise ConfigError(f"could not drop privileges to OPENCLAW_UID={uid} OPENCLAW_GID={gid}")
    if entry is not None:
        if env.get("USER") in (None, "", "root"):
            env["USER"] = entry.pw_name
        if env.get("LOGNAME") in (None, "", "root"):
            env["LOGNAME"] = entry.pw_name
