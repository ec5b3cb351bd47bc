"""``device.pub.json``: the public half of the identity, published for the pairing sidecar.

The sidecar reads it through the Docker API (``openclaw.pairing.identity-path``, default
``/home/node/.openclaw/identity/device.pub.json``) and verifies that ``deviceId`` is the SHA-256 of
``publicKey`` before trusting it. It holds no private material, so it is 0644. It also says where the
private half was written for the agent (``storage``: json | sqlite | file) and from which OpenClaw release
that was decided (``openclawVersion``), so a sidecar that sees the agent present *another* key can name
the likely cause (the agent's release reads the other storage). It is rewritten only
when its content would change, which keeps the common start-up path free of writes (read-only volumes).
"""

from __future__ import annotations

import json
from pathlib import Path

from sidecar.identity import fsutil
from sidecar.identity.keys import DeviceIdentity, PublicIdentity

PUB_FILE = "device.pub.json"


def public_document(
    identity: DeviceIdentity, slot: str | None, storage: str | None = None, release: str | None = None
) -> bytes:
    return fsutil.json_bytes(identity.public(slot, storage, release).to_json())


def read_public(path: Path) -> PublicIdentity | None:
    """A verified published identity, or None when missing, unreadable or inconsistent."""
    try:
        return PublicIdentity.from_json(json.loads(path.read_bytes()))
    except (OSError, ValueError):
        return None


def is_published(
    path: Path,
    identity: DeviceIdentity,
    slot: str | None,
    storage: str | None = None,
    release: str | None = None,
) -> bool:
    """``path`` publishes this identity for this slot; byte for byte (storage and release included) when
    ``storage`` is given, else any valid document of the same key and slot counts."""
    if storage is None and release is None:
        published = read_public(path)
        return published is not None and published.device_id == identity.device_id and published.slot == slot
    try:
        return path.read_bytes() == public_document(identity, slot, storage, release)
    except OSError:
        return False


def publish(
    path: Path,
    identity: DeviceIdentity,
    slot: str | None,
    storage: str | None = None,
    release: str | None = None,
) -> bool:
    """Write ``path`` (0644) unless it already has this content; returns True if it was written."""
    if is_published(path, identity, slot, storage, release):
        return False
    fsutil.make_dirs(path.parent)
    fsutil.atomic_write(path, public_document(identity, slot, storage, release), fsutil.PUBLIC_FILE_MODE)
    return True
