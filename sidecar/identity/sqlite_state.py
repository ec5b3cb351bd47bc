"""OpenClaw ≥ 2026.8: the identity as row ``primary`` of ``device_identities`` in ``state/openclaw.sqlite``.

An existing database (made by OpenClaw) gets only that row upserted. A missing one is created holding
just that table with OpenClaw's exact DDL and ``user_version`` 0 — OpenClaw builds the rest of its
schema around it on first start (stamping a version number makes it refuse the file). The file is built
in memory and renamed into place, so a crash leaves no partial DB. A legacy ``identity/device.json`` is
imported (it *is* the state's identity when there is no row) and removed once the row is committed,
because OpenClaw ≥ 2026.8 refuses to start while it exists.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any

from sidecar.errors import IdentityCorrupt, IdentityError
from sidecar.identity import fsutil
from sidecar.identity.device_file import read_identity_file
from sidecar.identity.keys import DeviceIdentity
from sidecar.identity.state_conflicts import REGENERATE, conflict_error

DDL = (
    "CREATE TABLE device_identities (identity_key TEXT NOT NULL PRIMARY KEY, device_id TEXT NOT NULL, "
    "public_key_pem TEXT NOT NULL, private_key_pem TEXT NOT NULL, created_at_ms INTEGER NOT NULL, "
    "updated_at_ms INTEGER NOT NULL) STRICT"
)
_UPSERT = (
    "INSERT INTO device_identities (identity_key, device_id, public_key_pem, private_key_pem, created_at_ms,"
    " updated_at_ms) VALUES ('primary', ?, ?, ?, ?, ?) ON CONFLICT(identity_key) DO UPDATE SET"
    " device_id=excluded.device_id, public_key_pem=excluded.public_key_pem,"
    " private_key_pem=excluded.private_key_pem, created_at_ms=excluded.created_at_ms,"
    " updated_at_ms=excluded.updated_at_ms"
)
_SELECT = (
    "SELECT device_id, public_key_pem, private_key_pem, created_at_ms FROM device_identities"
    " WHERE identity_key = 'primary'"
)


def sqlite_has_identity_table(db: Path) -> bool:
    try:
        with contextlib.closing(_connect(db)) as con:
            return _has_table(con)
    except sqlite3.Error:
        return False


def _connect(db: Path) -> sqlite3.Connection:
    # mode=rw: never let sqlite create an empty file where OpenClaw's database is expected.
    con = sqlite3.connect(f"file:{db}?mode=rw", uri=True, timeout=10.0, isolation_level=None)
    con.execute("PRAGMA busy_timeout = 10000")
    return con


def _has_table(con: sqlite3.Connection) -> bool:
    row = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='device_identities'"
    ).fetchone()
    return row is not None


def _record(row: tuple[Any, ...]) -> dict[str, Any]:
    """A ``device_identities`` row (as selected by _SELECT) in the v1 record shape."""
    return {"deviceId": row[0], "publicKeyPem": row[1], "privateKeyPem": row[2], "createdAtMs": row[3]}


def _row_values(identity: DeviceIdentity) -> tuple[Any, ...]:
    now = int(time.time() * 1000)
    return (
        identity.device_id,
        identity.public_key_pem,
        identity.private_key_pem,
        identity.created_at_ms,
        now,
    )


class SqliteState:
    """OpenClaw ≥ 2026.8: row ``primary`` of ``device_identities`` in ``state/openclaw.sqlite``."""

    kind = "sqlite"

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.db = state_dir / "state" / "openclaw.sqlite"
        self.legacy = state_dir / "identity" / "device.json"
        self.location = f"row 'primary' of table device_identities in {self.db}"

    # --- reading -----------------------------------------------------------------------------

    def _read_row(self) -> DeviceIdentity | None:
        if not self.db.exists():
            return None
        try:
            with contextlib.closing(_connect(self.db)) as con:
                if not _has_table(con):
                    return None
                row = con.execute(_SELECT).fetchone()
        except sqlite3.OperationalError as exc:  # locked, unreadable, I/O: not damage, never moved aside
            raise IdentityError(
                f"cannot read {self.db} ({exc}). If an OpenClaw process is using this state dir, stop it "
                "first; otherwise check the file's owner and permissions."
            ) from None
        except sqlite3.DatabaseError as exc:  # not a database, malformed
            raise IdentityCorrupt(
                f"cannot read {self.db} ({exc}). The file was kept; to recover: restore it from a backup, "
                f"or {REGENERATE}",
                path=str(self.db),
            ) from None
        if row is None:
            return None
        record = _record(row)
        try:
            return DeviceIdentity.from_record(record)
        except ValueError as exc:
            raise IdentityCorrupt(
                f"{self.location} is not a valid device identity ({exc}). "
                f"It was kept; to recover: {REGENERATE}",
                path=str(self.db),
            ) from None

    def _read_legacy(self) -> DeviceIdentity | None:
        return read_identity_file(
            self.legacy,
            recovery=f"move it aside (OpenClaw >= 2026.8 does not start while it exists), or {REGENERATE}",
        )

    def read(self) -> DeviceIdentity | None:
        """The row's identity; without a row, a legacy ``identity/device.json`` (to be imported)."""
        row = self._read_row()
        legacy = self._read_legacy()
        return row if row is not None else legacy

    def holds(self, identity: DeviceIdentity) -> bool:
        row = self._read_row()
        return row is not None and row.same_key(identity) and not self.legacy.exists()

    # --- writing -----------------------------------------------------------------------------

    def write(self, identity: DeviceIdentity, *, replace: bool = False) -> None:
        legacy = self._read_legacy()
        if legacy is not None and not legacy.same_key(identity):
            if not replace:
                raise conflict_error(str(self.legacy), legacy.device_id, identity.device_id)
            fsutil.move_aside(self.legacy, "replaced")
        fsutil.make_dirs(self.db.parent)
        if not self.db.exists():
            try:
                self._create_db(identity)
            except FileExistsError:  # another writer created it meanwhile: upsert into theirs
                self._upsert(identity, replace)
        else:
            self._upsert(identity, replace)
        if legacy is not None and self.legacy.exists():
            # Imported (or identical): remove only after the row is committed and re-read.
            if not self.holds_row(identity):
                raise IdentityError(f"{self.location} did not read back as device {identity.device_id}")
            self.legacy.unlink()
            fsutil.fsync_dir(self.legacy.parent)

    def holds_row(self, identity: DeviceIdentity) -> bool:
        row = self._read_row()
        return row is not None and row.same_key(identity)

    def _create_db(self, identity: DeviceIdentity) -> None:
        with contextlib.closing(sqlite3.connect(":memory:")) as mem:
            mem.execute(DDL)
            mem.execute(_UPSERT, _row_values(identity))
            mem.commit()
            image = mem.serialize()
        fsutil.atomic_write(self.db, image, fsutil.PRIVATE_FILE_MODE, exclusive=True)

    def _upsert(self, identity: DeviceIdentity, replace: bool) -> None:
        try:
            with contextlib.closing(_connect(self.db)) as con:
                con.execute("BEGIN IMMEDIATE")
                try:
                    self._upsert_locked(con, identity, replace)
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
        except sqlite3.Error as exc:
            raise IdentityError(f"cannot write {self.location}: {exc}") from None

    def _upsert_locked(self, con: sqlite3.Connection, identity: DeviceIdentity, replace: bool) -> None:
        if not _has_table(con):
            user_version = con.execute("PRAGMA user_version").fetchone()[0]
            tables = con.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
            if user_version != 0 or tables != 0:
                raise IdentityError(
                    f"{self.db} exists but has no device_identities table, so it was made by an OpenClaw "
                    "that keeps its identity in identity/device.json (<= 2026.7). Set "
                    "OPENCLAW_IDENTITY_FORMAT=json (or OPENCLAW_VERSION) to match the agent's OpenClaw, "
                    "or let OpenClaw >= 2026.8 migrate the state dir first (openclaw doctor --fix)."
                )
            con.execute(DDL)
        row = con.execute(_SELECT).fetchone()
        if row is not None and row[0] != identity.device_id:
            current = _record(row)
            if not replace:
                raise conflict_error(self.location, str(row[0]), identity.device_id)
            self._save_row(current, "replaced")
        elif row is not None:
            return
        con.execute(_UPSERT, _row_values(identity))

    def _save_row(self, record: dict[str, Any], label: str) -> Path:
        """Keep a copy of a row before it is overwritten.

        Saved as ``state/device_identities.primary.<label>-<timestamp>.json`` (0600, v1 shape).
        """
        target = self.db.parent / f"device_identities.primary.{label}-{fsutil.timestamp()}.json"
        fsutil.atomic_write(target, fsutil.json_bytes({"version": 1, **record}), fsutil.PRIVATE_FILE_MODE)
        return target

    def set_aside_corrupt(self) -> list[Path]:
        """--regenerate: move a damaged legacy file or database aside; save and drop a damaged row."""
        moved: list[Path] = []
        try:
            self._read_legacy()
        except IdentityCorrupt:
            moved.append(fsutil.move_aside(self.legacy))
        try:
            self._read_row()
        except IdentityCorrupt:
            moved.extend(self._set_aside_db_or_row())
        return moved

    def _set_aside_db_or_row(self) -> list[Path]:
        try:
            with contextlib.closing(_connect(self.db)) as con:
                row = con.execute(_SELECT).fetchone()
                record = _record(row)
                saved = self._save_row(record, "corrupt")
                con.execute("DELETE FROM device_identities WHERE identity_key = 'primary'")
                return [saved]
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError:  # the database itself is damaged: move it and its journals aside
            moved = []
            for suffix in ("", "-wal", "-shm", "-journal"):
                path = self.db.with_name(self.db.name + suffix)
                if path.exists():
                    moved.append(fsutil.move_aside(path))
            return moved

    def managed_paths(self) -> list[Path]:
        db_files = [self.db.with_name(self.db.name + s) for s in ("", "-wal", "-shm", "-journal")]
        return [self.state_dir, self.legacy.parent, self.db.parent, *db_files]
