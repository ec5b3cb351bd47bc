"""Both OpenClaw storage formats: ``identity/device.json`` (≤ 2026.7) and the SQLite row (≥ 2026.8)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sidecar.errors import IdentityConflict, IdentityCorrupt, IdentityError
from sidecar.identity.keys import DeviceIdentity
from sidecar.identity.openclaw_state import DDL, JsonState, SqliteState

SEED_ID = "56475aa75463474c0285df5dbf2bcab73da651358839e9b77481b2eab107708c"
EXACT_DDL = (
    "CREATE TABLE device_identities (identity_key TEXT NOT NULL PRIMARY KEY, device_id TEXT NOT NULL, "
    "public_key_pem TEXT NOT NULL, private_key_pem TEXT NOT NULL, created_at_ms INTEGER NOT NULL, "
    "updated_at_ms INTEGER NOT NULL) STRICT"
)


def vector() -> DeviceIdentity:
    return DeviceIdentity.from_seed(bytes(range(32)), created_at_ms=1737264000000)


def rows(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT identity_key, device_id, created_at_ms FROM device_identities").fetchall()


def openclaw_like_db(db: Path, identity: DeviceIdentity | None = None, user_version: int = 42) -> None:
    """A database shaped like one OpenClaw ≥ 2026.8 made: more tables, WAL, a schema version."""
    db.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute(DDL)
    con.execute("CREATE TABLE device_auth_tokens (device_id TEXT NOT NULL, role TEXT NOT NULL, token TEXT)")
    con.execute("INSERT INTO device_auth_tokens VALUES ('d', 'operator', 'tok')")
    if identity is not None:
        con.execute(
            "INSERT INTO device_identities VALUES ('primary', ?, ?, ?, ?, ?)",
            (identity.device_id, identity.public_key_pem, identity.private_key_pem, 1, 2),
        )
    con.execute(f"PRAGMA user_version = {user_version}")
    con.commit()
    con.close()


# --- JSON (≤ 2026.7) ---------------------------------------------------------------------------


def test_json_write_read_exact_shape(tmp_path: Path) -> None:
    state = JsonState(tmp_path)
    assert state.read() is None
    state.write(vector())
    path = tmp_path / "identity" / "device.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "identity").stat().st_mode & 0o777 == 0o700
    assert json.loads(path.read_text()) == vector().to_record()
    got = state.read()
    assert got is not None
    assert got.device_id == SEED_ID
    assert state.holds(vector())


def test_json_conflict_and_replace(tmp_path: Path) -> None:
    state = JsonState(tmp_path)
    other = DeviceIdentity.generate()
    state.write(other)
    with pytest.raises(IdentityConflict) as info:
        state.write(vector())
    assert set(info.value.device_ids) == {other.device_id, SEED_ID}
    assert other.device_id in str(info.value)
    assert SEED_ID in str(info.value)
    assert "OPENCLAW_IDENTITY_ON_CONFLICT" in str(info.value)
    state.write(vector(), replace=True)
    assert state.holds(vector())
    saved = list((tmp_path / "identity").glob("device.json.replaced-*"))
    assert len(saved) == 1
    assert json.loads(saved[0].read_text())["deviceId"] == other.device_id  # the old one is kept


def test_json_corrupt_is_kept_then_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "identity" / "device.json"
    path.parent.mkdir()
    path.write_text("{broken")
    state = JsonState(tmp_path)
    with pytest.raises(IdentityCorrupt) as info:
        state.read()
    assert str(path) in str(info.value)
    assert "--regenerate" in str(info.value)
    assert path.read_text() == "{broken"
    moved = state.set_aside_corrupt()
    assert len(moved) == 1
    assert moved[0].read_text() == "{broken"
    assert state.read() is None


# --- SQLite (≥ 2026.8) -------------------------------------------------------------------------


def test_sqlite_created_with_only_the_exact_table_and_user_version_0(tmp_path: Path) -> None:
    state = SqliteState(tmp_path)
    state.write(vector())
    db = tmp_path / "state" / "openclaw.sqlite"
    assert db.stat().st_mode & 0o777 == 0o600
    assert db.parent.stat().st_mode & 0o777 == 0o700
    with sqlite3.connect(db) as con:
        schema = con.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
        assert con.execute("PRAGMA user_version").fetchone() == (0,)
        row = con.execute("SELECT * FROM device_identities").fetchone()
    tables = [(t, n, s) for t, n, s in schema if t == "table"]
    assert tables == [("table", "device_identities", EXACT_DDL)]
    assert row[:5] == ("primary", SEED_ID, vector().public_key_pem, vector().private_key_pem, 1737264000000)
    assert isinstance(row[5], int)
    assert not (tmp_path / "identity" / "device.json").exists()
    assert sorted(p.name for p in db.parent.iterdir()) == ["openclaw.sqlite"]  # no journal, no temp
    got = state.read()
    assert got is not None
    assert got.device_id == SEED_ID


def test_sqlite_existing_openclaw_db_gets_only_the_primary_row(tmp_path: Path) -> None:
    db = tmp_path / "state" / "openclaw.sqlite"
    openclaw_like_db(db)
    SqliteState(tmp_path).write(vector())
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA user_version").fetchone() == (42,)
        assert con.execute("SELECT * FROM device_auth_tokens").fetchall() == [("d", "operator", "tok")]
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert rows(db) == [("primary", SEED_ID, 1737264000000)]
    assert SqliteState(tmp_path).holds(vector())


def test_sqlite_conflict_keeps_row_unless_replace(tmp_path: Path) -> None:
    db = tmp_path / "state" / "openclaw.sqlite"
    other = DeviceIdentity.generate()
    openclaw_like_db(db, other)
    state = SqliteState(tmp_path)
    with pytest.raises(IdentityConflict) as info:
        state.write(vector())
    assert info.value.device_ids == (other.device_id, SEED_ID)
    assert str(db) in str(info.value)
    assert rows(db)[0][1] == other.device_id
    state.write(vector(), replace=True)
    assert rows(db)[0][1] == SEED_ID
    saved = list(db.parent.glob("device_identities.primary.replaced-*.json"))
    assert len(saved) == 1
    assert DeviceIdentity.from_record(json.loads(saved[0].read_text())).device_id == other.device_id


def test_sqlite_legacy_json_is_imported_then_removed(tmp_path: Path) -> None:
    JsonState(tmp_path).write(vector())  # what an older OpenClaw (or a user) left behind
    state = SqliteState(tmp_path)
    got = state.read()
    assert got is not None
    assert got.device_id == SEED_ID  # the legacy file counts as the state's identity
    assert not state.holds(vector())  # ... but is not "held" while the legacy file exists
    state.write(vector())
    assert not (tmp_path / "identity" / "device.json").exists()
    assert rows(tmp_path / "state" / "openclaw.sqlite") == [("primary", SEED_ID, 1737264000000)]
    assert state.holds(vector())


def test_sqlite_legacy_json_equal_to_row_is_removed(tmp_path: Path) -> None:
    openclaw_like_db(tmp_path / "state" / "openclaw.sqlite", vector())
    JsonState(tmp_path).write(vector())
    state = SqliteState(tmp_path)
    assert not state.holds(vector())
    state.write(vector())
    assert not (tmp_path / "identity" / "device.json").exists()


def test_sqlite_legacy_json_that_differs_is_a_conflict(tmp_path: Path) -> None:
    other = DeviceIdentity.generate()
    JsonState(tmp_path).write(other)
    with pytest.raises(IdentityConflict) as info:
        SqliteState(tmp_path).write(vector())
    assert str(tmp_path / "identity" / "device.json") in str(info.value)
    assert (tmp_path / "identity" / "device.json").exists()
    assert not (tmp_path / "state" / "openclaw.sqlite").exists()


def test_sqlite_corrupt_row_is_kept_then_saved_and_dropped(tmp_path: Path) -> None:
    db = tmp_path / "state" / "openclaw.sqlite"
    openclaw_like_db(db)
    with sqlite3.connect(db) as con:
        con.execute("INSERT INTO device_identities VALUES ('primary', ?, 'x', 'y', 1, 2)", ("0" * 64,))
    state = SqliteState(tmp_path)
    with pytest.raises(IdentityCorrupt) as info:
        state.read()
    assert "row 'primary'" in str(info.value)
    assert str(db) in str(info.value)
    moved = state.set_aside_corrupt()
    assert [p.name.split("-")[0] for p in moved] == ["device_identities.primary.corrupt"]
    assert json.loads(moved[0].read_text())["privateKeyPem"] == "y"
    assert state.read() is None
    state.write(vector())
    assert rows(db) == [("primary", SEED_ID, 1737264000000)]


def test_sqlite_unreadable_database_is_kept_then_moved_aside(tmp_path: Path) -> None:
    db = tmp_path / "state" / "openclaw.sqlite"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database" * 100)
    state = SqliteState(tmp_path)
    with pytest.raises(IdentityCorrupt) as info:
        state.read()
    assert info.value.path == str(db)
    assert db.exists()
    moved = state.set_aside_corrupt()
    assert [p.name.startswith("openclaw.sqlite.corrupt-") for p in moved] == [True]
    state.write(vector())
    assert rows(db)[0][1] == SEED_ID


def test_sqlite_refuses_a_pre_sqlite_era_database(tmp_path: Path) -> None:
    db = tmp_path / "state" / "openclaw.sqlite"
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE kv (k TEXT)")
        con.execute("PRAGMA user_version = 1")
    with pytest.raises(IdentityError, match="OPENCLAW_IDENTITY_FORMAT=json"):
        SqliteState(tmp_path).write(vector())


def test_sqlite_empty_database_file_gets_the_table(tmp_path: Path) -> None:
    db = tmp_path / "state" / "openclaw.sqlite"
    db.parent.mkdir(parents=True)
    db.touch()
    SqliteState(tmp_path).write(vector())
    assert rows(db) == [("primary", SEED_ID, 1737264000000)]
