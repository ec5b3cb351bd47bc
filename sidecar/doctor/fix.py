"""``doctor --fix``: only safe, local repairs of the identity on disk. Never an approval.

What is repaired, and why each is safe:

- create or adopt the identity, write it where OpenClaw reads it, publish its public half — by running
  the entrypoint's own ``ensure`` (the same locking, never-overwrite and conflict rules as at start-up);
- a legacy ``identity/device.json`` in a ≥ 2026.8 state dir — imported into the SQLite row by the
  identity module (which verifies the row before removing the JSON); a hard link to the JSON is kept
  as ``device.json.imported-<timestamp>`` so the key is never lost;
- an identity only in SQLite while the installed OpenClaw reads JSON — the same key is written to
  ``identity/device.json`` (create-only);
- ownership (as root) and modes of the key files and their directories.

Everything else — a damaged key, two different devices, a script, a Docker setting, anything at the
gateway — needs a human decision and is only reported. This module imports nothing that can talk to a
gateway: it cannot approve, reject or remove a device even by mistake.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from sidecar.doctor.checks.identity import entrypoint_config, private_paths
from sidecar.doctor.diagnose import Diagnosis
from sidecar.doctor.options import DoctorOptions
from sidecar.errors import PairingError
from sidecar.identity import fsutil, privileges
from sidecar.identity.detect import detect_format
from sidecar.identity.device_file import read_identity_file
from sidecar.identity.ensure import ensure
from sidecar.identity.keys import DeviceIdentity
from sidecar.identity.openclaw_state import JsonState, SqliteState, state_store

ENSURE_IDS = (
    "identity.missing",
    "identity.not-adopted",
    "identity.not-materialized",
    "identity.not-published",
)


@dataclass(frozen=True)
class FixResult:
    finding_id: str
    ok: bool
    action: str

    def to_json(self) -> dict[str, object]:
        return {"id": self.finding_id, "ok": self.ok, "action": self.action}


def _chown_state(opts: DoctorOptions, fmt: str) -> None:
    privileges.chown_all(state_store(fmt, opts.state_dir).managed_paths(), opts.uid, opts.gid)


def fix_legacy(opts: DoctorOptions) -> str:
    store = SqliteState(opts.state_dir)
    legacy = read_identity_file(store.legacy)
    if legacy is None:
        return f"{store.legacy} is already gone"
    backup = store.legacy.with_name(f"device.json.imported-{fsutil.timestamp()}")
    os.link(store.legacy, backup)
    try:
        store.write(legacy)  # imports, reads the row back, then removes the JSON
    except BaseException:
        if store.legacy.exists():
            backup.unlink(missing_ok=True)
        raise
    if not store.holds(legacy):
        raise PairingError(f"{store.location} does not hold device {legacy.device_id} after the import")
    _chown_state(opts, "sqlite")
    privileges.chown_all([backup], opts.uid, opts.gid)
    return f"imported device {legacy.device_id} into {store.location}; kept the old file as {backup}"


def fix_ensure(opts: DoctorOptions) -> str:
    if opts.uses_entrypoint:
        result = ensure(entrypoint_config(opts), opts.env)
        return f"openclaw-entrypoint --init-only: device {result.identity.device_id} ({result.source})"
    fmt = detect_format(opts.identity_format, opts.env, opts.state_dir).format
    if fmt == "file":
        raise PairingError("OPENCLAW_IDENTITY_FORMAT=file has no state dir identity to create")
    store = state_store(fmt, opts.state_dir)
    identity = DeviceIdentity.generate()
    store.write(identity)
    _chown_state(opts, fmt)
    return f"created device {identity.device_id} in {store.location}"


def fix_sqlite_in_json_era(opts: DoctorOptions) -> str:
    identity = SqliteState(opts.state_dir).read()
    if identity is None:
        raise PairingError(f"no identity in {opts.state_dir}/state/openclaw.sqlite to export")
    target = JsonState(opts.state_dir)
    target.write(identity)
    _chown_state(opts, "json")
    return f"wrote device {identity.device_id} to {target.location}"


def fix_owner(opts: DoctorOptions) -> str:
    if not privileges.is_root():
        raise PairingError(
            f"changing ownership to {opts.uid}:{opts.gid} needs root; rerun doctor --fix as root"
        )
    files, dirs = private_paths(opts)
    for path in files + dirs:
        fsutil.chown_path(path, opts.uid, opts.gid)
    return f"chown {opts.uid}:{opts.gid} " + " ".join(map(str, files + dirs))


def fix_modes(opts: DoctorOptions) -> str:
    files, dirs = private_paths(opts)
    done = []
    for path, mask in [(f, 0o077) for f in files] + [(d, 0o022) for d in dirs]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & mask:
            path.chmod(mode & ~mask)
            done.append(f"{path} {mode:04o}->{mode & ~mask:04o}")
    return "chmod " + ", ".join(done) if done else "modes already private"


FIXERS: tuple[tuple[tuple[str, ...], Callable[[DoctorOptions], str]], ...] = (
    (("identity.legacy-json-in-sqlite-state",), fix_legacy),
    (ENSURE_IDS, fix_ensure),
    (("identity.sqlite-in-json-era",), fix_sqlite_in_json_era),
    (("identity.wrong-owner",), fix_owner),
    (("identity.unsafe-mode",), fix_modes),
)


def apply(diagnosis: Diagnosis, opts: DoctorOptions) -> list[FixResult]:
    """Repair every fixable finding of ``diagnosis`` (each repair at most once, in a safe order)."""
    present = {f.id for f in diagnosis.findings if f.fixable}
    results: list[FixResult] = []
    for ids, fixer in FIXERS:
        hit = next((i for i in ids if i in present), None)
        if hit is None:
            continue
        try:
            results.append(FixResult(hit, True, fixer(opts)))
        except (PairingError, OSError) as exc:
            results.append(FixResult(hit, False, f"not fixed: {exc}"))
    return results
