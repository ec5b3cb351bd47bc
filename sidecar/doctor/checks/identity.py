"""Identity on disk: present, valid, in the storage the installed OpenClaw reads, persistent, private.

Everything is read through ``sidecar.identity`` — the same code openclaw-entrypoint runs — so doctor
judges exactly what the agent will load, and never writes. The checks, in the order a user hits them:

1. the settings parse (else the entrypoint refuses to start);
2. the slot and the state dir hold an identity, a valid one, and the same one;
3. the storage matches the OpenClaw version: ≤ 2026.7 reads ``identity/device.json``, ≥ 2026.8 the SQLite
   row, and a leftover JSON in a ≥ 2026.8 state dir blocks start-up;
4. the public half is published for the sidecar;
5. the directory that must survive a new container is on a volume or bind mount (mountinfo);
6. the agent user owns the key files and nobody else can read or swap them.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sidecar import envvars
from sidecar.doctor.checks import Outcome
from sidecar.doctor.findings import Finding, finding
from sidecar.doctor.options import DoctorOptions
from sidecar.errors import ConfigError, IdentityCorrupt, IdentityError
from sidecar.identity import mounts, publish
from sidecar.identity.detect import detect_format, installed_version
from sidecar.identity.device_file import read_identity_file
from sidecar.identity.ensure import load_parent, load_secret
from sidecar.identity.entrypoint_settings import EntrypointConfig, parse
from sidecar.identity.keys import DeviceIdentity
from sidecar.identity.openclaw_state import SqliteState, StateStore, state_store
from sidecar.identity.slots import Slot


def entrypoint_argv(opts: DoctorOptions, action: str = "--init-only") -> list[str]:
    """The entrypoint argv for the flags doctor was given; everything else comes from the environment,
    read by the entrypoint's own parser, so doctor refuses exactly what the entrypoint would refuse."""
    return [action, *opts.entrypoint_flags]


def entrypoint_config(opts: DoctorOptions) -> EntrypointConfig:
    """The entrypoint's own validated config for ``opts``; ConfigError exactly when it would refuse."""
    return parse(entrypoint_argv(opts), opts.env)


@dataclass
class _Seen:
    findings: list[Finding] = field(default_factory=list)
    identity: DeviceIdentity | None = None
    source: str = ""

    def add(self, finding_id: str, seen: str, **params: object) -> None:
        self.findings.append(finding(finding_id, seen, **params))

    def read(self, what: str, reader: Callable[[], DeviceIdentity | None]) -> DeviceIdentity | None:
        """Call ``reader()``; a damaged identity becomes identity.corrupt (its message says the recovery)."""
        try:
            return reader()
        except IdentityCorrupt as exc:
            self.add("identity.corrupt", f"{what}: {exc}", recovery=_recovery(str(exc)))
            return None


def _recovery(message: str) -> str:
    marker = "to recover: "
    return message.split(marker, 1)[1] if marker in message else message


def _sqlite_parts(store: SqliteState) -> tuple[DeviceIdentity | None, DeviceIdentity | None]:
    """(row, legacy JSON) of a ≥ 2026.8 state dir, each None when absent. May raise IdentityCorrupt."""
    legacy = read_identity_file(store.legacy)
    current = store.read()  # the row, or the legacy file when there is no row
    if legacy is None:
        return current, None
    if current is not None and not current.same_key(legacy):
        return current, legacy
    return (legacy if store.holds_row(legacy) else None), legacy


def _storage(seen: _Seen, store: StateStore, opts: DoctorOptions) -> DeviceIdentity | None:
    """The state's identity; adds the storage-era findings (legacy JSON, SQLite in the JSON era)."""
    if isinstance(store, SqliteState):
        try:
            row, legacy = _sqlite_parts(store)
        except IdentityCorrupt as exc:
            seen.add("identity.corrupt", str(exc), recovery=_recovery(str(exc)))
            return None
        if legacy is not None and row is not None and not row.same_key(legacy):
            seen.add(
                "identity.legacy-conflict",
                f"{store.legacy} holds device {legacy.device_id}, {store.location} holds {row.device_id}",
                path=store.legacy,
            )
        elif legacy is not None:
            seen.add(
                "identity.legacy-json-in-sqlite-state",
                f"{store.legacy} exists in a state dir of OpenClaw >= 2026.8"
                + ("" if row else " (and the SQLite state has no identity yet)"),
                state_dir=opts.state_dir,
            )
        return row or legacy
    current = seen.read(store.location, store.read)
    db = opts.state_dir / "state" / "openclaw.sqlite"
    if current is None and db.is_file():
        in_db = seen.read(str(db), SqliteState(opts.state_dir).read)
        if in_db is not None:
            seen.add(
                "identity.sqlite-in-json-era",
                f"device {in_db.device_id} is only in {db}; the installed OpenClaw reads {store.location}",
                path=store.location,
            )
            return in_db
    return current


def _slot_of(opts: DoctorOptions) -> Slot | None:
    if opts.identity_dir is None or opts.inherit:
        return None
    try:
        return Slot.on_volume(opts.identity_dir, opts.slot)
    except ConfigError:
        return None


def private_paths(opts: DoctorOptions) -> tuple[list[Path], list[Path]]:
    """(files holding a private key, directories holding them) that exist: slot, legacy JSON, SQLite."""
    slot = _slot_of(opts)
    state = opts.state_dir
    files = [state / "identity" / "device.json"]
    files += [state / "state" / f"openclaw.sqlite{s}" for s in ("", "-wal", "-shm", "-journal")]
    dirs = [state / "identity", state / "state"]
    if slot is not None:
        files.insert(0, slot.key_file)
        dirs.insert(0, slot.directory)
    return [p for p in files if p.is_file()], [d for d in dirs if d.is_dir()]


def _permissions(seen: _Seen, opts: DoctorOptions) -> None:
    files, dirs = private_paths(opts)
    owned_wrong = [p for p in files + dirs if p.lstat().st_uid != opts.uid]
    if owned_wrong:
        names = " ".join(str(p) for p in owned_wrong)
        owners = ", ".join(f"{p} (uid {p.lstat().st_uid})" for p in owned_wrong)
        seen.add(
            "identity.wrong-owner",
            f"not owned by the agent's uid {opts.uid}: {owners}",
            uid=opts.uid,
            gid=opts.gid,
            paths=names,
        )
    open_files = [p for p in files if stat.S_IMODE(p.lstat().st_mode) & 0o077]
    open_dirs = [d for d in dirs if stat.S_IMODE(d.lstat().st_mode) & 0o022]
    if open_files or open_dirs:
        modes = ", ".join(f"{p} ({stat.S_IMODE(p.lstat().st_mode):04o})" for p in open_files + open_dirs)
        commands = "; ".join(
            cmd
            for cmd in (
                f"chmod 600 {' '.join(map(str, open_files))}" if open_files else "",
                f"chmod go-w {' '.join(map(str, open_dirs))}" if open_dirs else "",
            )
            if cmd
        )
        seen.add("identity.unsafe-mode", f"too open: {modes}", commands=commands)


def _persistence(seen: _Seen, opts: DoctorOptions) -> dict[str, object]:
    if opts.inherit or (opts.private_key_file and not opts.identity_dir):
        return {"persistent": True}  # the parent's volume / the secret store keeps it
    path = opts.identity_dir or opts.state_dir
    verdict = mounts.check(path, opts.env)
    if not verdict.persistent:
        seen.add("identity.not-persistent", verdict.reason, path=path)
    return {"persistent": verdict.persistent, "persist_path": str(path), "persist_reason": verdict.reason}


def _published(seen: _Seen, opts: DoctorOptions, slot: Slot | None, cfg: EntrypointConfig) -> None:
    assert seen.identity is not None
    targets = [opts.state_dir / "identity" / publish.PUB_FILE]
    if slot is not None:
        targets.insert(0, slot.pub_file)
    stale = [t for t in targets if not publish.is_published(t, seen.identity, cfg.slot_name)]
    if stale:
        where = " and ".join(str(t) for t in stale)
        seen.add(
            "identity.not-published",
            f"missing or not matching device {seen.identity.device_id}: {where}",
            path=where,
        )


def _source(seen: _Seen, opts: DoctorOptions, slot: Slot | None) -> DeviceIdentity | None:
    """The configured identity: the slot's, the secret's or the parent's (sub-agent check says why not)."""
    if slot is not None:
        seen.source = f"slot {slot.directory}"
        return seen.read(str(slot.key_file), slot.read)
    if opts.inherit and opts.parent_identity_dir:
        seen.source = f"parent {opts.parent_identity_dir}"
        try:
            return load_parent(opts.parent_identity_dir)
        except IdentityError:
            return None
    if opts.private_key_file:
        seen.source = f"secret {opts.private_key_file}"
        try:
            return load_secret(opts.private_key_file)
        except (ConfigError, IdentityCorrupt) as exc:
            seen.add("identity.config-invalid", str(exc), message=str(exc))
    return None


def _compare(
    seen: _Seen,
    slot: Slot | None,
    configured: DeviceIdentity | None,
    state: DeviceIdentity | None,
    location: str,
    opts: DoctorOptions,
) -> None:
    if opts.inherit and configured is None:
        return  # the sub-agent check says why the parent's identity is unavailable
    if configured is not None and state is not None and not configured.same_key(state):
        seen.add(
            "identity.conflict",
            f"{seen.source} holds device {configured.device_id}, {location} holds {state.device_id}",
        )
    elif configured is None and state is None and not any(f.id == "identity.corrupt" for f in seen.findings):
        where = slot.key_file if slot is not None else location
        seen.add("identity.missing", f"no identity in {where}", path=where)
    elif slot is not None and configured is None and state is not None:
        seen.add(
            "identity.not-adopted",
            f"{location} holds device {state.device_id}; {slot.key_file} does not exist",
            path=slot.key_file,
        )
    elif configured is not None and state is None:
        seen.add(
            "identity.not-materialized",
            f"{seen.source} holds device {configured.device_id}; {location} is empty",
            path=location,
        )
    seen.identity = configured or state


IN_THE_STACK = (
    "cd compose && docker compose run --rm --no-deps identity-init openclaw-entrypoint --doctor "
    "(the identity step's own volumes and settings)"
)


def _invalid_values(opts: DoctorOptions) -> list[str]:
    """Entrypoint variables set to values the entrypoint would refuse, each with its own message."""
    problems: list[str] = []
    for var in envvars.ENTRYPOINT_VARS:
        if var.is_set(opts.env):
            try:
                var.read(opts.env)
            except ConfigError as exc:
                problems.append(str(exc))
    return problems


def _not_here(opts: DoctorOptions) -> str:
    """Why there is no identity to judge *here*, or '' when there is. Doctor reports only on what it
    examined: with --container it examines that container (the docker check), and on a host with no
    identity settings the home directory's ~/.openclaw is not an agent's identity."""
    if opts.uses_entrypoint or opts.explicit_state_dir:
        return ""
    if opts.container:
        return (
            f"examining container {opts.container}, not this machine's files: its identity is judged from "
            f"its mounts and labels (docker check); for the files themselves run: {IN_THE_STACK}"
        )
    if not opts.state_dir_from_env and installed_version(opts.env) is None:
        return (
            "no agent here: no identity settings (OPENCLAW_IDENTITY_DIR, --state-dir, OPENCLAW_STATE_DIR) "
            f"and no OpenClaw installed; an agent's identity lives in its container: {IN_THE_STACK}"
        )
    if not opts.state_dir.exists():
        return f"no OPENCLAW_IDENTITY_DIR and no state dir at {opts.state_dir}"
    return ""


def check(opts: DoctorOptions) -> Outcome:
    invalid = [] if opts.uses_entrypoint else _invalid_values(opts)
    if invalid:  # e.g. OPENCLAW_UID=abc alone: the entrypoint would refuse it before anything else
        return Outcome("identity", tuple(finding("identity.config-invalid", m, message=m) for m in invalid))
    skipped = _not_here(opts)
    if skipped:
        return Outcome("identity", skipped=skipped)
    seen = _Seen()
    cfg: EntrypointConfig | None = None
    if opts.uses_entrypoint:
        try:
            cfg = entrypoint_config(opts)
        except ConfigError as exc:
            seen.add("identity.config-invalid", str(exc), message=str(exc))
    slot = (
        Slot.on_volume(opts.identity_dir, cfg.slot_name)
        if cfg and cfg.mode == "slot" and opts.identity_dir
        else None
    )
    configured = _source(seen, opts, slot)
    try:
        fmt = detect_format(opts.identity_format, opts.env, opts.state_dir)
    except ConfigError as exc:
        fmt = None
        if opts.uses_entrypoint:
            seen.add("identity.format-unknown", str(exc))
    state: DeviceIdentity | None = None
    location = str(opts.state_dir)
    if fmt is not None and fmt.format != "file":
        store = state_store(fmt.format, opts.state_dir)
        location = store.location
        state = _storage(seen, store, opts)
    _compare(seen, slot, configured, state if fmt else None, location, opts)
    # Publishing waits until a conflict or damage is resolved, and goes without saying when the same
    # entrypoint run that adopts or materializes the identity will publish it.
    blocking = {"identity.conflict", "identity.corrupt", "identity.legacy-conflict"}
    blocking |= {"identity.not-adopted", "identity.not-materialized"}
    if cfg is not None and seen.identity is not None and not blocking & {f.id for f in seen.findings}:
        _published(seen, opts, slot, cfg)
    facts: dict[str, object] = {
        "device_id": seen.identity.device_id if seen.identity else None,
        "format": fmt.format if fmt else None,
    }
    facts.update(_persistence(seen, opts))
    _permissions(seen, opts)
    summary = ""
    if seen.identity is not None:
        summary = (
            f"device {seen.identity.device_id[:12]}… ({seen.source or location}), "
            f"{fmt.format if fmt else '?'} storage ({fmt.reason if fmt else 'unknown'}); "
            f"{facts.get('persist_reason', 'persisted elsewhere')}"
        )
    return Outcome("identity", tuple(seen.findings), summary, facts=facts)
