"""Crash-safe file primitives for identity files: atomic writes, directory fsync, locks, permissions.

Why this module exists: a device identity is a private key that, once approved by a gateway, must never
be lost or half-written. Every write here follows the same discipline:

- write to a temp file in the *same* directory, ``fsync`` it, set its mode, then ``rename`` (or ``link``
  when the target must not exist yet) and ``fsync`` the directory, so a ``kill -9`` or power loss leaves
  either the old file or the complete new one, never a partial file;
- concurrent writers on one volume are serialised with ``flock`` on a lock file in that directory;
- read-only or permission errors become :class:`IdentityReadOnly` naming the path and what to do.

Standard library only (``entrypoint.py`` must start fast in small agent images).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import stat
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sidecar.errors import IdentityCorrupt, IdentityError, IdentityReadOnly

PRIVATE_FILE_MODE = 0o600
PUBLIC_FILE_MODE = 0o644
DIR_MODE = 0o700
TEMP_MARK = ".tmp-"  # temp files are ".<target name>.tmp-<random>"
LOCK_NAME = ".lock"

_READ_ONLY_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


def is_read_only_error(exc: OSError) -> bool:
    return exc.errno in _READ_ONLY_ERRNOS


def read_only_error(path: Path, exc: OSError, what: str) -> IdentityReadOnly:
    """Translate EROFS/EACCES/EPERM into an error that says which path and what to do."""
    if exc.errno == errno.EROFS:
        cause = "the file system is read-only"
    else:
        cause = f"permission denied for uid {os.geteuid()}"
    return IdentityReadOnly(
        f"cannot {what} {path}: {cause}. Mount the identity volume read-write for the first start "
        "(it may be read-only once the identity exists), or run the entrypoint as root so it can chown "
        "it to OPENCLAW_UID:OPENCLAW_GID."
    )


def timestamp() -> str:
    """UTC timestamp for '*.corrupt-<timestamp>' names: sortable, no characters shells dislike."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(directory: Path, mode: int = DIR_MODE) -> list[Path]:
    """Create ``directory`` and missing parents with ``mode``; returns those created (outermost first).

    The caller may need the list to chown exactly what it created. An existing directory's mode is
    tightened to ``mode`` when we own it (never loosened), so a volume prepared 0755 ends up private.
    """
    missing: list[Path] = []
    probe = directory
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise IdentityError(f"{probe} exists but is not a directory; remove it or change the setting")
    created: list[Path] = []
    for path in reversed(missing):
        try:
            path.mkdir(mode=mode)
        except FileExistsError:
            continue  # created concurrently by another entrypoint
        except OSError as exc:
            if is_read_only_error(exc):
                raise read_only_error(path, exc, "create directory") from None
            raise
        path.chmod(mode)  # mkdir's mode is filtered by the umask
        fsync_dir(path.parent)
        created.append(path)
    if not created:
        st = directory.stat()
        if st.st_uid == os.geteuid() and st.st_mode & 0o777 & ~mode:
            with contextlib.suppress(OSError):  # read-only volume: keep the mode it has
                directory.chmod(st.st_mode & 0o777 & mode)
    return created


def tighten_private(paths: Iterable[Path], mode: int = PRIVATE_FILE_MODE) -> list[str]:
    """Take group/other permissions away from existing private-key files; one line per file changed.

    A key kept 0644 by an earlier tool, a copy or a restored backup is readable by every user of the
    volume: tightened (never loosened, never followed through a symlink), and said. A read-only volume
    keeps its mode, and that is said too, so the file and its mode never go unmentioned.
    """
    notes: list[str] = []
    for path in paths:
        try:
            st = path.lstat()
        except OSError:
            continue
        current = stat.S_IMODE(st.st_mode)
        if not stat.S_ISREG(st.st_mode) or not current & ~mode & 0o777:
            continue
        try:
            path.chmod(current & mode)
        except OSError as exc:
            notes.append(
                f"{path} holds a private key with mode {current:04o} and could not be tightened "
                f"({exc.strerror}): chmod 600 it"
            )
            continue
        notes.append(f"{path} held a private key with mode {current:04o}: tightened to {current & mode:04o}")
    return notes


def _temp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}{TEMP_MARK}{secrets.token_hex(6)}")


def write_temp(target: Path, data: bytes, mode: int) -> Path:
    """Write ``data`` to a fresh temp file next to ``target``, fsynced, with ``mode``. Returns its path."""
    tmp = _temp_path(target)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    except OSError as exc:
        if is_read_only_error(exc):
            raise read_only_error(target, exc, "write") from None
        raise
    try:
        os.fchmod(fd, mode)  # O_CREAT's mode is filtered by the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return tmp


def atomic_write(
    target: Path, data: bytes, mode: int = PRIVATE_FILE_MODE, *, exclusive: bool = False
) -> None:
    """Atomically make ``target`` contain ``data``.

    ``exclusive=True`` never replaces an existing file (hard link instead of rename; raises
    FileExistsError), which is how private keys are created: even a writer that bypassed the lock
    could not overwrite an identity. Without it the file is replaced (used for public files).
    """
    tmp = write_temp(target, data, mode)
    try:
        if exclusive:
            try:
                os.link(tmp, target)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                    raise
                # No hard links on this file system: fall back to a checked rename (callers hold the lock).
                if target.exists():
                    raise FileExistsError(errno.EEXIST, "file exists", str(target)) from None
                os.replace(tmp, target)
        else:
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(target.parent)


def json_bytes(data: Any) -> bytes:
    """OpenClaw's on-disk JSON style: 2-space indent and a trailing newline."""
    return (json.dumps(data, indent=2) + "\n").encode("utf-8")


def read_json(path: Path) -> Any | None:
    """Parse a JSON file; None when it does not exist. Unreadable/invalid → IdentityCorrupt (file kept)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except PermissionError:
        raise IdentityError(
            f"cannot read {path}: permission denied for uid {os.geteuid()}. Run the entrypoint as root (it "
            "chowns the identity to OPENCLAW_UID:OPENCLAW_GID) or fix the owner of the file and its"
            " directories."
        ) from None
    except OSError as exc:
        raise IdentityCorrupt(f"cannot read {path}: {exc.strerror}", path=str(path)) from None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise IdentityCorrupt(f"{path} is not valid JSON ({exc})", path=str(path)) from None


def move_aside(path: Path, label: str = "corrupt") -> Path:
    """Rename ``path`` to ``<path>.<label>-<timestamp>`` (never overwriting) and return the new name."""
    base = f"{path.name}.{label}-{timestamp()}"
    for n in range(100):
        candidate = path.with_name(base if n == 0 else f"{base}.{n}")
        if not candidate.exists():
            os.rename(path, candidate)
            fsync_dir(path.parent)
            return candidate
    raise FileExistsError(errno.EEXIST, "too many moved-aside copies", str(path))


def remove_stale_temps(directory: Path) -> None:
    """Delete temp files left by a writer killed mid-write. Call only while holding the dir's lock."""
    try:
        entries = list(directory.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(".") and TEMP_MARK in entry.name:
            with contextlib.suppress(OSError):
                entry.unlink()


@contextlib.contextmanager
def locked(directory: Path, name: str = LOCK_NAME, *, required: bool = True) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``directory/name`` (created 0600 if needed); yields whether it did.

    flock locks die with their process, so a killed entrypoint never leaves the volume locked. When the
    lock file cannot be created (read-only volume) this raises IdentityReadOnly, or with
    ``required=False`` goes on unlocked: a read-only directory cannot be written by anyone here, and any
    write attempted there fails on its own with IdentityReadOnly naming the file.
    """
    lock_path = directory / name
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    except OSError as exc:
        if not is_read_only_error(exc):
            raise
        try:
            fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC)  # flock works on a read-only fd
        except OSError:
            if required:
                raise read_only_error(lock_path, exc, "create the lock file") from None
            yield False
            return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        remove_stale_temps(directory)
        yield True
    finally:
        os.close(fd)  # releases the lock


def chown_path(path: Path, uid: int, gid: int) -> None:
    """``lchown`` without following symlinks; ignores missing paths and read-only file systems."""
    try:
        os.chown(path, uid, gid, follow_symlinks=False)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.EROFS:
            raise
