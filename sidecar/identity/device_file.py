"""One identity key file in OpenClaw's v1 JSON shape: read it, create it once, never overwrite it.

Used for the slot files on the identity volume and by the sidecar for its own identity
(:func:`load_or_create`). The file is ``{version, deviceId, publicKeyPem, privateKeyPem, createdAtMs}``,
2-space JSON, mode 0600 — byte-compatible with OpenClaw's ``identity/device.json``.

Creation is serialised by a lock in the file's directory and done with an exclusive atomic link, so
any number of processes starting together end up with exactly one identity, and a crash mid-write
leaves no partial file. A file that exists but does not parse or verify is *kept* and reported as
:class:`IdentityCorrupt` — replacing it silently would turn an approved device into a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sidecar.errors import IdentityCorrupt, IdentityError, IdentityReadOnly
from sidecar.identity import fsutil
from sidecar.identity.keys import DeviceIdentity

__all__ = [
    "create_identity_file",
    "fallback_device",
    "load_or_create",
    "read_identity_file",
    "write_identity_file",
]


def read_identity_file(path: Path, *, recovery: str | None = None) -> DeviceIdentity | None:
    """Load and verify a v1 identity file; None when it does not exist.

    Raises IdentityCorrupt (naming ``path`` and ``recovery``, a command or action that fixes it) when
    the file exists but is unreadable, not JSON, or its keys do not verify.
    """
    hint = recovery or f"move it aside (mv {path} {path}.corrupt) to create a new identity"
    try:
        data = fsutil.read_json(path)
    except IdentityCorrupt as exc:
        raise IdentityCorrupt(f"{exc}. The file was kept; to recover: {hint}", path=str(path)) from None
    if data is None:
        return None
    try:
        return DeviceIdentity.from_record(data)
    except ValueError as exc:
        raise IdentityCorrupt(
            f"{path} is not a valid OpenClaw device identity ({exc}). The file was kept; to recover: {hint}",
            path=str(path),
        ) from None


def write_identity_file(path: Path, identity: DeviceIdentity) -> None:
    """Atomically create ``path`` with ``identity`` (0600). Raises FileExistsError if it exists."""
    data = fsutil.json_bytes(identity.to_record())
    fsutil.atomic_write(path, data, fsutil.PRIVATE_FILE_MODE, exclusive=True)


def create_identity_file(path: Path, identity: DeviceIdentity | None = None) -> tuple[DeviceIdentity, str]:
    """Under the directory lock: return the existing identity, or store ``identity`` (default: new).

    Returns ``(identity, "existing" | "created")``. The caller must have created the directory.
    """
    with fsutil.locked(path.parent, f".{path.name}.lock"):
        current = read_identity_file(path)
        if current is not None:
            return current, "existing"
        new = identity if identity is not None else DeviceIdentity.generate()
        write_identity_file(path, new)
        return new, "created"


def load_or_create(path: Path) -> tuple[DeviceIdentity, str]:
    """The identity stored at ``path`` (a v1 JSON key file), created on first use.

    Returns ``(identity, source)`` with source ``"existing"`` or ``"created"``. The parent directory
    is created 0700. Fast path (file exists) takes no lock. Raises IdentityCorrupt for a damaged
    file (kept as is) and IdentityReadOnly when it must be created on a read-only location.
    """
    existing = read_identity_file(path)
    if existing is not None:
        return existing, "existing"
    fsutil.make_dirs(path.parent)
    try:
        return create_identity_file(path)
    except FileExistsError:  # lost a race with a writer that did not use the lock
        found = read_identity_file(path)
        if found is None:
            raise IdentityReadOnly(f"{path} appeared and vanished while creating it; retry") from None
        return found, "existing"


def fallback_device(path: Path | None, *, create: bool = True) -> Callable[[], DeviceIdentity]:
    """The device a local client presents when the gateway grants a device-less one no scopes (2026.3.31).

    ``path``'s identity (created there when ``create``), else — no path, or it cannot be read or
    written — a key that lives as long as this process. Loaded on first use only: most gateways never
    ask. On the gateway's loopback such a device is paired silently by OpenClaw itself.
    """
    held: list[DeviceIdentity] = []

    def load() -> DeviceIdentity:
        if not held:
            found: DeviceIdentity | None = None
            if path is not None:
                try:
                    found = load_or_create(path)[0] if create else read_identity_file(path)
                except IdentityError:
                    found = None
            held.append(found or DeviceIdentity.generate())
        return held[0]

    return load
