"""Make sure the agent starts with its stable identity: pick the source, reconcile, materialize, publish.

Where the identity comes from (``EntrypointConfig.mode``):

- ``slot``: ``$OPENCLAW_IDENTITY_DIR/<slot>/device.json``. Empty slot + identity in the state dir →
  *adopted* into the slot; both empty → *created*; slot and state differ → IdentityConflict (nothing
  written) unless ``OPENCLAW_IDENTITY_ON_CONFLICT=replace-state``;
- ``secret``: ``OPENCLAW_DEVICE_PRIVATE_KEY_FILE`` (PKCS#8 PEM, e.g. a Kubernetes Secret);
- ``inherit``: the parent agent's slot, mounted read-only at ``OPENCLAW_PARENT_IDENTITY_DIR``.

The work is done twice at most: first without a lock and without writing (the common restart, where
everything is in place, costs a few reads and works on read-only volumes); only if something must be
written, again under the slot's and the state dir's ``flock`` — so 20 entrypoints starting together
create exactly one identity and agree on it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from sidecar.errors import ConfigError, IdentityConflict, IdentityCorrupt, IdentityError
from sidecar.identity import fsutil, mounts, privileges, publish
from sidecar.identity.detect import detect_format
from sidecar.identity.device_file import read_identity_file
from sidecar.identity.entrypoint_settings import EntrypointConfig
from sidecar.identity.keys import DeviceIdentity
from sidecar.identity.openclaw_state import StateStore, conflict_error, state_store
from sidecar.identity.slots import KEY_FILE, Slot

STATE_LOCK = ".entrypoint.lock"


@dataclass(frozen=True)
class EnsureResult:
    identity: DeviceIdentity
    source: str  # created | existing | adopted | secret | inherited
    slot: str
    format: str  # json | sqlite | file
    format_reason: str
    identity_file: Path  # exported to the agent as OPENCLAW_DEVICE_IDENTITY_FILE
    state_dir: Path
    published: tuple[Path, ...]
    warnings: tuple[str, ...] = ()
    moved_aside: tuple[Path, ...] = ()

    def log_line(self) -> str:
        return f"identity ready device={self.identity.device_id[:12]} slot={self.slot} source={self.source}"


class _NeedsWrite(Exception):
    """Raised by the read-only pass when something must be written; the locked pass does it."""


@dataclass
class _Pass:
    cfg: EntrypointConfig
    state: StateStore | None
    write: bool
    moved: list[Path] = field(default_factory=list)

    def need(self) -> None:
        if not self.write:
            raise _NeedsWrite

    def read_or_set_aside(
        self, read: Callable[[], DeviceIdentity | None], set_aside: Callable[[], list[Path]]
    ) -> DeviceIdentity | None:
        """Read; on IdentityCorrupt with --regenerate, move the damage aside (a write) and read again."""
        try:
            return read()
        except IdentityCorrupt:
            if not self.cfg.regenerate:
                raise
            self.need()
            self.moved.extend(set_aside())
            return read()

    def reconcile_state(self, identity: DeviceIdentity) -> None:
        """Make the state dir hold ``identity`` (conflicts per OPENCLAW_IDENTITY_ON_CONFLICT)."""
        if self.state is None:
            return
        current = self.read_or_set_aside(self.state.read, self.state.set_aside_corrupt)
        replace = self.cfg.on_conflict == "replace-state"
        if current is not None and not current.same_key(identity) and not replace:
            raise conflict_error(self.state.location, current.device_id, identity.device_id)
        if not self.state.holds(identity):
            self.need()
            self.state.write(identity, replace=replace)


def _slot(cfg: EntrypointConfig) -> Slot | None:
    if cfg.mode == "inherit" or cfg.identity_dir is None:
        return None
    return Slot.on_volume(cfg.identity_dir, cfg.slot_name)


def load_secret(path: Path) -> DeviceIdentity:
    """OPENCLAW_DEVICE_PRIVATE_KEY_FILE: a PKCS#8 PEM Ed25519 key (or a whole v1 device.json)."""
    hint = (
        "it must hold an unencrypted PKCS#8 PEM Ed25519 private key (e.g. from 'openssl genpkey "
        "-algorithm ed25519'); fix the secret it is mounted from"
    )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"OPENCLAW_DEVICE_PRIVATE_KEY_FILE={path} does not exist; mount the secret there"
        ) from None
    except OSError as exc:
        raise IdentityCorrupt(
            f"cannot read OPENCLAW_DEVICE_PRIVATE_KEY_FILE={path}: {exc.strerror}", path=str(path)
        ) from None
    if data.lstrip().startswith(b"{"):
        found = read_identity_file(path, recovery=hint)
        assert found is not None
        return found
    try:
        return DeviceIdentity.from_private_pem(data)
    except ValueError as exc:
        raise IdentityCorrupt(
            f"OPENCLAW_DEVICE_PRIVATE_KEY_FILE={path}: {exc}; {hint}", path=str(path)
        ) from None


def load_parent(parent_dir: Path) -> DeviceIdentity:
    key_file = parent_dir / KEY_FILE
    identity = read_identity_file(
        key_file, recovery="the parent agent's slot is damaged; repair it from the parent (never from here)"
    )
    if identity is None:
        raise IdentityError(
            f"OPENCLAW_INHERIT_PARENT_DEVICE=1 but {key_file} does not exist: mount the parent agent's slot "
            "(its OPENCLAW_IDENTITY_DIR/<slot> directory) at OPENCLAW_PARENT_IDENTITY_DIR, after the parent "
            "has started once"
        )
    return identity


def _from_slot(p: _Pass, slot: Slot) -> tuple[DeviceIdentity, str]:
    current = p.read_or_set_aside(slot.read, lambda: [slot.move_aside()])
    if current is not None:
        p.reconcile_state(current)
        return current, "existing"
    adopted = p.read_or_set_aside(p.state.read, p.state.set_aside_corrupt) if p.state else None
    p.need()
    identity = adopted or DeviceIdentity.generate()
    slot.store(identity)
    p.reconcile_state(identity)
    return identity, "adopted" if adopted else "created"


def _fixed(p: _Pass, identity: DeviceIdentity, slot: Slot | None) -> None:
    """secret/inherit: the identity is given; an existing slot file must agree with it."""
    if slot is not None:
        in_slot = p.read_or_set_aside(slot.read, lambda: [slot.move_aside()])
        if in_slot is not None and not in_slot.same_key(identity):
            raise IdentityConflict(
                f"{slot.key_file} holds device {in_slot.device_id} but OPENCLAW_DEVICE_PRIVATE_KEY_FILE "
                f"holds device {identity.device_id}. Nothing was changed: point OPENCLAW_DEVICE_ID at "
                "another slot, or unset OPENCLAW_IDENTITY_DIR when the secret is the only copy you need.",
                device_ids=(in_slot.device_id, identity.device_id),
            )
    p.reconcile_state(identity)


def _publish(
    p: _Pass, identity: DeviceIdentity, slot: Slot | None, slot_name: str, fmt: str, release: str | None
) -> tuple[Path, ...]:
    targets = [p.cfg.state_dir / "identity" / publish.PUB_FILE]
    if slot is not None:
        targets.insert(0, slot.pub_file)
    for target in targets:
        if not publish.is_published(target, identity, slot_name, fmt, release):
            p.need()
            publish.publish(target, identity, slot_name, fmt, release)
    return tuple(targets)


def _run(
    cfg: EntrypointConfig, fmt: str, reason: str, write: bool, release: str | None = None
) -> EnsureResult:
    state = state_store(fmt, cfg.state_dir) if fmt != "file" else None
    p = _Pass(cfg, state, write)
    slot = _slot(cfg)
    if slot is not None and not slot.directory.is_dir():
        p.need()
        slot.prepare()
    if cfg.mode == "slot":
        assert slot is not None
        identity, source = _from_slot(p, slot)
        identity_file = slot.key_file
    elif cfg.mode == "secret":
        assert cfg.private_key_file is not None
        identity, source, identity_file = load_secret(cfg.private_key_file), "secret", cfg.private_key_file
        _fixed(p, identity, slot)
    else:
        assert cfg.parent_identity_dir is not None
        identity, source = load_parent(cfg.parent_identity_dir), "inherited"
        identity_file = cfg.parent_identity_dir / KEY_FILE
        _fixed(p, identity, None)
    published = _publish(p, identity, slot, cfg.slot_name, fmt, release)
    return EnsureResult(
        identity=identity,
        source=source,
        slot=cfg.slot_name,
        format=fmt,
        format_reason=reason,
        identity_file=identity_file,
        state_dir=cfg.state_dir,
        published=published,
        moved_aside=tuple(p.moved),
    )


@contextlib.contextmanager
def _locks(cfg: EntrypointConfig) -> Iterator[list[Path]]:
    """Slot lock, then state-dir lock (always in this order). Yields the directories it created."""
    created: list[Path] = []
    slot = _slot(cfg)
    with contextlib.ExitStack() as stack:
        if slot is not None:
            created += slot.prepare()
            stack.enter_context(fsutil.locked(slot.directory, required=False))
        lock_dir = cfg.state_dir / "identity"
        created += fsutil.make_dirs(lock_dir)
        stack.enter_context(fsutil.locked(lock_dir, STATE_LOCK))
        fsutil.remove_stale_temps(cfg.state_dir / "state")  # a database build killed before its rename
        yield created


def persistence_warning(cfg: EntrypointConfig, env: Mapping[str, str]) -> str | None:
    """A warning (or, with OPENCLAW_REQUIRE_PERSISTENT_IDENTITY=1, an error) for an ephemeral identity dir."""
    if cfg.mode == "secret":
        return None  # the secret's store (e.g. Kubernetes) is what persists it
    directory = cfg.identity_dir if cfg.mode == "slot" else cfg.parent_identity_dir
    assert directory is not None
    verdict = mounts.check(directory, env)
    if verdict.persistent:
        return None
    message = (
        f"{verdict.reason}: the identity will not survive a redeploy, so every new container is a new "
        f"device that needs approval. Mount a volume at {directory}."
    )
    if cfg.require_persistent:
        raise IdentityError(f"{message} (refused because OPENCLAW_REQUIRE_PERSISTENT_IDENTITY=1)")
    return message + " Set OPENCLAW_REQUIRE_PERSISTENT_IDENTITY=1 to refuse instead of warning."


def _owned_paths(cfg: EntrypointConfig, fmt: str, created: list[Path]) -> list[Path]:
    paths = list(created)
    slot = _slot(cfg)
    if slot is not None:
        paths += [slot.directory, slot.key_file, slot.pub_file, slot.directory / fsutil.LOCK_NAME]
    if fmt != "file":
        paths += state_store(fmt, cfg.state_dir).managed_paths()
    ident = cfg.state_dir / "identity"
    paths += [cfg.state_dir, ident, ident / publish.PUB_FILE, ident / STATE_LOCK]
    return paths


def ensure(cfg: EntrypointConfig, env: Mapping[str, str] | None = None) -> EnsureResult:
    """Ensure, materialize and publish the identity described by ``cfg``; see the module doc."""
    env = os.environ if env is None else env
    warning = persistence_warning(cfg, env)
    detected = detect_format(cfg.format, env, cfg.state_dir)
    created: list[Path] = []
    try:
        result = _run(cfg, detected.format, detected.reason, write=False, release=detected.release)
    except _NeedsWrite:
        with _locks(cfg) as created:
            result = _run(cfg, detected.format, detected.reason, write=True, release=detected.release)
    privileges.chown_all(_owned_paths(cfg, detected.format, created), cfg.uid, cfg.gid)
    notes = fsutil.tighten_private(_private_files(cfg, detected.format))
    warnings = (*((warning,) if warning is not None else ()), *notes)
    return replace(result, warnings=warnings) if warnings else result


def _private_files(cfg: EntrypointConfig, fmt: str) -> list[Path]:
    """Every file ``ensure`` manages that holds the private key."""
    slot = _slot(cfg)
    files = [slot.key_file] if slot is not None else []
    files.append(cfg.state_dir / "identity" / "device.json")
    if fmt == "sqlite":
        db = cfg.state_dir / "state" / "openclaw.sqlite"
        files += [db, *(db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]
    return files


def show(cfg: EntrypointConfig) -> DeviceIdentity:
    """The identity ``ensure`` would use, read-only; IdentityError when there is none yet."""
    if cfg.mode == "secret":
        assert cfg.private_key_file is not None
        return load_secret(cfg.private_key_file)
    if cfg.mode == "inherit":
        assert cfg.parent_identity_dir is not None
        return load_parent(cfg.parent_identity_dir)
    slot = _slot(cfg)
    assert slot is not None
    identity = slot.read()
    if identity is None:
        raise IdentityError(
            f"slot {slot.directory} has no identity yet; run 'openclaw-entrypoint --init-only' first"
        )
    return identity
