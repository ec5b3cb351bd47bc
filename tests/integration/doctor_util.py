"""Helpers for the doctor integration tests: run the real CLI in a real mount namespace, make raw refusals.

`run_doctor` starts ``python -m sidecar.cli.doctor --json`` as a subprocess under ``unshare --mount`` so a
test can give a directory a real bind mount (persistent), a real tmpfs (lost on restart) or a read-only
bind — exactly what ``/proc/self/mountinfo`` and ``statvfs`` then report to doctor — without touching the
host's mounts. The environment is built from scratch, so nothing of the developer's leaks in.

`refusal` connects with raw frames (no retry logic, nothing rewritten) and returns the gateway's own
``res.error`` frame and close reason: the exact text a user would paste.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from sidecar.gateway import protocol as proto
from sidecar.identity.keys import DeviceIdentity

ROOT = Path(__file__).resolve().parents[2]


def base_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        "HOME": str(home),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "OPENCLAW_VERSION": "2026.9.6",
        "OPENCLAW_UID": "0",
        "OPENCLAW_GID": "0",
        "PYTHONPATH": str(ROOT),
    }
    env.update(extra)
    return env


@dataclass
class Result:
    code: int
    data: dict[str, Any]
    stderr: str

    @property
    def ids(self) -> list[str]:
        return [f["id"] for f in self.data.get("findings", [])]

    def get(self, finding_id: str) -> dict[str, Any]:
        found = [f for f in self.data["findings"] if f["id"] == finding_id]
        assert found, f"{finding_id} not in {self.ids}"
        return found[0]

    def status(self, check: str) -> str:
        return str(self.data["checks"][check]["status"])


def run_doctor(
    *args: str,
    env: dict[str, str],
    persistent: Sequence[Path] = (),
    read_only: Sequence[Path] = (),
    tmpfs: Sequence[Path] = (),
    prefix: Sequence[str] = (),
    cwd: Path | None = None,
) -> Result:
    """The real CLI, in a private mount namespace with the given real mounts."""
    steps = ["set -e"]
    for path in persistent:
        steps.append(f"mount --bind {shlex.quote(str(path))} {shlex.quote(str(path))}")
    for path in read_only:
        quoted = shlex.quote(str(path))
        steps.append(f"mount --bind {quoted} {quoted} && mount -o remount,bind,ro {quoted}")
    for path in tmpfs:
        steps.append(f"mount -t tmpfs tmpfs {shlex.quote(str(path))}")
    steps.append('exec "$@"')
    argv = [
        *prefix,
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        "; ".join(steps),
        "_",
        sys.executable,
        "-m",
        "sidecar.cli.doctor",
        *args,
        "--json",
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=cwd or ROOT)
    try:
        data = json.loads(done.stdout)
    except ValueError:
        raise AssertionError(
            f"doctor printed no JSON (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
        ) from None
    return Result(done.returncode, data, done.stderr)


@dataclass
class Refusal:
    frame: dict[str, Any]
    close_code: int | None
    close_reason: str

    @property
    def message(self) -> str:
        return str(self.frame["error"]["message"])

    @property
    def frame_text(self) -> str:
        return json.dumps(self.frame)


async def _refusal(
    url: str,
    token: str | None,
    identity: DeviceIdentity | None,
    *,
    client_id: str,
    mode: str,
    role: str,
    scopes: Sequence[str],
    platform: str,
    origin: str | None,
    protocols: tuple[int, int],
    skew_ms: int,
    auth: dict[str, str] | None,
    forge: bool,
) -> Refusal:
    headers = {"Origin": origin} if origin else None
    async with connect(url, additional_headers=headers, proxy=None, max_size=2**25) as ws:
        challenge = proto.parse_challenge(proto.parse_frame(await ws.recv()))
        signed = proto.Challenge(nonce=challenge.nonce, ts=challenge.ts - skew_ms)
        info = proto.ClientInfo(
            client_id=client_id, client_mode=mode, role=role, scopes=tuple(scopes), platform=platform
        )
        params = proto.build_connect_params(info, token=token, identity=identity, challenge=signed)
        params["minProtocol"], params["maxProtocol"] = protocols
        if auth is not None:
            params["auth"] = auth
        if forge:  # a signature by another key: what a hand-edited or half-copied identity produces
            params["device"]["signature"] = DeviceIdentity.generate().sign("forged")
        await ws.send(proto.encode_request("1", "connect", params))
        frame: dict[str, Any] = {}
        try:
            while True:
                data = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if data.get("type") == "res":
                    frame = data
                    if data.get("ok"):
                        break
        except (ConnectionClosed, TimeoutError):
            pass
        return Refusal(frame, ws.close_code, ws.close_reason or "")


def refusal(
    url: str,
    token: str | None,
    identity: DeviceIdentity | None = None,
    *,
    client_id: str = "cli",
    mode: str = "cli",
    role: str = "operator",
    scopes: Sequence[str] = ("operator.read",),
    platform: str = "linux",
    origin: str | None = None,
    protocols: tuple[int, int] = (3, 4),
    skew_ms: int = 0,
    auth: dict[str, str] | None = None,
    forge: bool = False,
) -> Refusal:
    return asyncio.run(
        _refusal(
            url,
            token,
            identity,
            client_id=client_id,
            mode=mode,
            role=role,
            scopes=scopes,
            platform=platform,
            origin=origin,
            protocols=protocols,
            skew_ms=skew_ms,
            auth=auth,
            forge=forge,
        )
    )
