"""The identity inside the agent's OpenClaw state dir, in the storage its OpenClaw version reads.

- ``JsonState`` (≤ 2026.7): ``$STATE/identity/device.json``, the v1 record, 0600.
- ``SqliteState`` (≥ 2026.8): row ``identity_key='primary'`` of ``device_identities`` in
  ``$STATE/state/openclaw.sqlite``. An existing database (made by OpenClaw) gets only that row upserted.
  A missing one is created holding just that table with OpenClaw's exact DDL and ``user_version`` 0 —
  OpenClaw builds the rest of its schema around it on first start (stamping a version number makes it
  refuse the file). The file is built in memory and renamed into place, so a crash leaves no partial DB.
  A legacy ``identity/device.json`` is imported (it *is* the state's identity when there is no row) and
  removed once the row is committed, because OpenClaw ≥ 2026.8 refuses to start while it exists.

Both classes share one contract: :meth:`read` returns what OpenClaw would use, :meth:`holds` says
whether nothing needs writing, and :meth:`write` makes the state hold exactly the given identity —
refusing (IdentityConflict) to replace a different one unless ``replace=True``, in which case the old
one is first saved next to it as ``*.replaced-<timestamp>``. Nothing is ever deleted unverified.
"""

from __future__ import annotations

from pathlib import Path

from sidecar.identity.json_state import JsonState
from sidecar.identity.sqlite_state import DDL, SqliteState, sqlite_has_identity_table
from sidecar.identity.state_conflicts import REGENERATE, conflict_error

__all__ = [
    "DDL",
    "REGENERATE",
    "JsonState",
    "SqliteState",
    "StateStore",
    "conflict_error",
    "sqlite_has_identity_table",
    "state_store",
]

StateStore = JsonState | SqliteState


def state_store(fmt: str, state_dir: Path) -> StateStore:
    return SqliteState(state_dir) if fmt == "sqlite" else JsonState(state_dir)
