"""Reading a container's *published* identity (``device.pub.json``) out of a ``get_archive`` tar, safely.

The identity is read through the Docker API, never from a shared volume, and only from paths ending in
``.pub.json``; symlinks and anything that is not one small regular file are refused, so a container label
can never make the sidecar read (or hold) a private key.
"""

from __future__ import annotations

import io
import json
import posixpath
import tarfile
from collections.abc import Iterable, Mapping
from typing import Any

from sidecar.errors import SourceError
from sidecar.identity.keys import PublicIdentity

PUBLIC_SUFFIX = ".pub.json"
MAX_IDENTITY_BYTES = 64 * 1024
# A one-file tar adds headers (512 B each, plus PAX records) and 1 KiB of end blocks; allow generous slack.
MAX_ARCHIVE_BYTES = MAX_IDENTITY_BYTES + 32 * 1024

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


class IdentityUnavailable(SourceError):
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


def identity_path_for(labels: Mapping[str, str], label: str, default: str) -> str:
    """The container's published-identity path: its ``label`` if set (validated), else ``default``."""
    path = labels.get(label)
    if path is None:
        return default
    try:
        return validate_identity_path(path)
    except IdentityUnavailable as exc:
        raise IdentityUnavailable(f"label {label}: {exc}") from None


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
