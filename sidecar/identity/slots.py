"""Identity slots on a mounted volume: ``$OPENCLAW_IDENTITY_DIR/<slot>/device.json``.

Why slots: several agents may share one identity volume, each keeping its own key pair under its own
name (``OPENCLAW_DEVICE_ID``, default ``default``). The slot outlives the container; its state dir does
not have to. A slot directory holds:

- ``device.json`` — the key pair in OpenClaw's v1 shape (0600, created once, never overwritten);
- ``device.pub.json`` — the published public half for the sidecar (0644);
- ``.lock`` — the ``flock`` that serialises entrypoints starting together on one volume.

OpenClaw itself has no ``OPENCLAW_DEVICE_ID`` and no slots; they are this project's feature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sidecar.errors import ConfigError
from sidecar.identity import fsutil
from sidecar.identity.device_file import read_identity_file, write_identity_file
from sidecar.identity.keys import DeviceIdentity
from sidecar.identity.publish import PUB_FILE

KEY_FILE = "device.json"

DEFAULT_SLOT = "default"
_SLOT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def validate_slot_name(name: str, variable: str = "OPENCLAW_DEVICE_ID") -> str:
    """A slot name is one safe path component: letters, digits, '.', '_', '-'; at most 64 characters."""
    if not _SLOT_RE.match(name) or ".." in name:
        raise ConfigError(
            f"{variable}={name!r} is not a valid slot name: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (it names a directory under OPENCLAW_IDENTITY_DIR)"
        )
    return name


@dataclass(frozen=True)
class Slot:
    """One named identity slot; ``directory`` is where its files live."""

    name: str
    directory: Path

    @classmethod
    def on_volume(cls, identity_dir: Path, name: str) -> Slot:
        return cls(validate_slot_name(name), identity_dir / name)

    @property
    def key_file(self) -> Path:
        return self.directory / KEY_FILE

    @property
    def pub_file(self) -> Path:
        return self.directory / PUB_FILE

    def recovery_hint(self) -> str:
        return (
            f"restore {self.key_file} from a backup, or run the entrypoint once with --regenerate "
            f"(it moves the file aside as {KEY_FILE}.corrupt-<timestamp> and creates a new device that "
            "needs a new approval)"
        )

    def read(self) -> DeviceIdentity | None:
        """The slot's identity, None if empty. Raises IdentityCorrupt (file kept) if damaged."""
        return read_identity_file(self.key_file, recovery=self.recovery_hint())

    def prepare(self) -> list[Path]:
        """Create the slot directory (0700) and any missing parents; returns the directories created."""
        return fsutil.make_dirs(self.directory)

    def store(self, identity: DeviceIdentity) -> None:
        """Create ``device.json``; FileExistsError if present (callers hold :meth:`lock`)."""
        write_identity_file(self.key_file, identity)

    def move_aside(self, label: str = "corrupt") -> Path:
        return fsutil.move_aside(self.key_file, label)
