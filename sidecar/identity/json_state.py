"""OpenClaw ≤ 2026.7: the identity as ``$STATE/identity/device.json`` (the v1 record, mode 0600)."""

from __future__ import annotations

from pathlib import Path

from sidecar.errors import IdentityCorrupt
from sidecar.identity import fsutil
from sidecar.identity.device_file import read_identity_file
from sidecar.identity.keys import DeviceIdentity
from sidecar.identity.state_conflicts import REGENERATE, conflict_error


class JsonState:
    """OpenClaw ≤ 2026.7: ``identity/device.json``."""

    kind = "json"

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / "identity" / "device.json"
        self.location = str(self.path)

    def read(self) -> DeviceIdentity | None:
        return read_identity_file(self.path, recovery=f"restore it from a backup, or {REGENERATE}")

    def holds(self, identity: DeviceIdentity) -> bool:
        current = self.read()
        return current is not None and current.same_key(identity)

    def write(self, identity: DeviceIdentity, *, replace: bool = False) -> None:
        current = self.read()
        if current is not None:
            if current.same_key(identity):
                return
            if not replace:
                raise conflict_error(self.location, current.device_id, identity.device_id)
            fsutil.move_aside(self.path, "replaced")
        fsutil.make_dirs(self.path.parent)
        data = fsutil.json_bytes(identity.to_record())
        fsutil.atomic_write(self.path, data, fsutil.PRIVATE_FILE_MODE, exclusive=True)

    def set_aside_corrupt(self) -> list[Path]:
        try:
            self.read()
        except IdentityCorrupt:
            return [fsutil.move_aside(self.path)]
        return []

    def managed_paths(self) -> list[Path]:
        return [self.state_dir, self.path.parent, self.path]
