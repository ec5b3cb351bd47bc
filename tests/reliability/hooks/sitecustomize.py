"""Fault hooks for a real ``python -m sidecar run`` process, chosen by RELIABILITY_HOOK (test-only code).

- ``kill-before-approve:<marker>``: the first approve RPC (after the decision, before anything is sent)
  kills the process with SIGKILL and leaves ``marker``; a restarted process (marker present) runs normally.
- ``drop-events``: every gateway event is dropped (a subscriber too slow / events lost): only the
  periodic reconcile can find new requests.
- ``delay-approve:<seconds>``: each approve/reject RPC waits first, so a test can resolve the request
  elsewhere between the decision and the RPC.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

_hook = os.environ.get("RELIABILITY_HOOK", "")

if _hook:
    from sidecar.gateway import pairing_rpc

    _approve, _reject = pairing_rpc.PairingCalls.approve, pairing_rpc.PairingCalls.reject

    if _hook.startswith("kill-before-approve:"):
        marker = Path(_hook.split(":", 1)[1])

        async def approve(self: Any, request_id: str) -> dict[str, Any]:
            if not os.path.exists(marker):  # noqa: ASYNC240 - the point is to die right here
                marker.write_text(request_id)  # noqa: ASYNC240
                os.kill(os.getpid(), signal.SIGKILL)
            return await _approve(self, request_id)

        pairing_rpc.PairingCalls.approve = approve  # type: ignore[method-assign]

    elif _hook == "drop-events":
        from sidecar.approver import core

        async def on_event(self: Any, event: Any) -> None:
            return None

        core.Approver._on_event = on_event  # type: ignore[method-assign]

    elif _hook.startswith("delay-approve:"):
        delay = float(_hook.split(":", 1)[1])

        async def slow_approve(self: Any, request_id: str) -> dict[str, Any]:
            await asyncio.sleep(delay)
            return await _approve(self, request_id)

        async def slow_reject(self: Any, request_id: str) -> dict[str, Any]:
            await asyncio.sleep(delay)
            return await _reject(self, request_id)

        pairing_rpc.PairingCalls.approve = slow_approve  # type: ignore[method-assign]
        pairing_rpc.PairingCalls.reject = slow_reject  # type: ignore[method-assign]


# --- entrypoint.py: kill -9 at the Nth file-system or SQLite step -------------------------------------

if os.environ.get("RELIABILITY_KILL_AT"):
    import atexit
    import sqlite3

    _target = int(os.environ["RELIABILITY_KILL_AT"])
    _steps = [0]

    def _step() -> None:
        _steps[0] += 1
        if _steps[0] == _target:
            os.kill(os.getpid(), signal.SIGKILL)

    def _counted(fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _step()
            return fn(*args, **kwargs)

        return wrapper

    for _name in ("open", "write", "fsync", "link", "rename", "replace", "chmod", "fchmod", "chown",
                  "fchown", "unlink", "mkdir", "close", "ftruncate"):  # fmt: skip
        if hasattr(os, _name):
            setattr(os, _name, _counted(getattr(os, _name)))

    class _Conn:
        def __init__(self, conn: Any) -> None:
            self._conn = conn

        def __getattr__(self, name: str) -> Any:
            attr = getattr(self._conn, name)
            if name in ("execute", "executemany", "executescript", "commit", "close"):
                return _counted(attr)
            return attr

        def __enter__(self) -> Any:
            self._conn.__enter__()
            return self

        def __exit__(self, *exc: Any) -> Any:
            _step()
            return self._conn.__exit__(*exc)

    _connect = sqlite3.connect
    sqlite3.connect = lambda *a, **k: _Conn(_connect(*a, **k))  # type: ignore[assignment]

    if os.environ.get("RELIABILITY_STEPS_FILE"):
        _steps_file = os.environ["RELIABILITY_STEPS_FILE"]
        atexit.register(lambda: Path(_steps_file).write_text(str(_steps[0])))
