"""The real OpenClaw gateway as a test fixture: installed npm package, real process, isolated state.

One process per version per test run (start-up takes 2–30 s); tests reset pairing state between them.
The config turns off every outbound call the gateway would make (update checks, model catalog,
telemetry, mDNS, SSH-back verification of nodes); the namespace it runs in has no route out anyway.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness import releases

CACHE = Path(
    os.environ.get("OPENCLAW_PAIRING_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "openclaw-pairing"
)
NODE_BIN = CACHE / "node-24.19.0" / "bin"
# This run's releases: 2026.9.6 and 2026.2.26, or OPENCLAW_TEST_RELEASES (make test-compat).
VERSIONS = releases.selected()
PORTS = {v: releases.port_for(v) for v in (*VERSIONS, *releases.MATRIX)}
ANSI = re.compile(r"\x1b\[[0-9;]*m")
READY = re.compile(r"\[gateway\] (ready|listening on ws://)")


def openclaw_bin(version: str) -> Path:
    return CACHE / f"openclaw-{version}" / "node_modules" / ".bin" / "openclaw"


def installed(version: str) -> bool:
    return openclaw_bin(version).exists() and (NODE_BIN / "node").exists()


def sqlite_era(version: str) -> bool:
    """2026.8+ keeps identities and pairing in SQLite (and speaks protocol 4)."""
    year, month = (int(part) for part in version.split(".")[:2])
    return (year, month) >= (2026, 8)


def openclaw_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for any real `openclaw` process: its own HOME/state dir, no outbound extras."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_")}
    env.update(
        PATH=f"{NODE_BIN}:{env.get('PATH', '/usr/bin:/bin')}",
        HOME=str(home),
        OPENCLAW_STATE_DIR=str(home / ".openclaw"),
        OPENCLAW_NO_AUTO_UPDATE="1",
        DO_NOT_TRACK="1",
        OPENCLAW_DISABLE_BONJOUR="1",
        NO_COLOR="1",
    )
    env.update(extra)
    return env


def gateway_config(version: str, port: int, token: str, log_file: Path) -> dict[str, Any]:
    gateway: dict[str, Any] = {
        "mode": "local",
        "port": port,
        "bind": "lan",  # only ever inside the private test namespace
        "auth": {"mode": "token", "token": token},
        "controlUi": {"allowedOrigins": [f"http://127.0.0.1:{port}"]},
    }
    config: dict[str, Any] = {
        "gateway": gateway,
        "update": {"checkOnStart": False},
        "logging": {"file": str(log_file)},
    }
    if releases.node_pairing_schema(version):
        # 2026.8.1+ only: every earlier release rejects these keys (tests/harness/releases.py).
        gateway["nodes"] = {"pairing": {"sshVerify": False, "autoApproveLocal": False}}
        config["models"] = {"catalogRefresh": {"enabled": False}}
        config["telemetry"] = {"enabled": False}
    if releases.stages_runtime_deps(openclaw_bin(version).parents[1] / "openclaw"):
        config["plugins"] = {"enabled": False}  # 2026.4.29 would install them from npm first
    return config


@dataclass
class RealGateway:
    version: str
    root: Path
    port: int = 0
    token: str = field(default_factory=lambda: "test-" + secrets.token_hex(16))
    proc: subprocess.Popen[bytes] | None = None
    started_in: float = 0.0

    def __post_init__(self) -> None:
        self.port = self.port or releases.port_for(self.version)
        self.home = self.root / "home"
        self.state_dir = self.home / ".openclaw"
        self.stdout_path = self.root / "gateway.out"

    # --- addresses ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Loopback URL: a client here is *local* (the sidecar's position in production)."""
        return f"ws://127.0.0.1:{self.port}"

    def url_via(self, ip: str) -> str:
        return f"ws://{ip}:{self.port}"

    @property
    def protocol(self) -> int:
        return releases.protocol(self.version)

    # --- lifecycle ---------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        return openclaw_env(self.home, OPENCLAW_GATEWAY_TOKEN=self.token, **extra)

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        config = gateway_config(self.version, self.port, self.token, self.root / "gateway.jsonl")
        (self.state_dir / "openclaw.json").write_text(json.dumps(config, indent=2))
        self.launch()

    def launch(self) -> None:
        out = self.stdout_path.open("ab")
        self.proc = subprocess.Popen(
            [str(openclaw_bin(self.version)), "gateway", "run", "--port", str(self.port), "--bind", "lan"],
            env=self.env(),
            cwd=self.root,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() reaches the children too
        )
        out.close()
        self._launched_at = time.monotonic()
        self._log_offset = self.stdout_path.stat().st_size if self.stdout_path.exists() else 0

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        offset = getattr(self, "_ready_scan_from", 0)
        while time.monotonic() < deadline:
            text = ANSI.sub("", self.stdout_path.read_text(errors="replace")[offset:])
            if READY.search(text):
                self.started_in = time.monotonic() - self._launched_at
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"openclaw {self.version} gateway exited early:\n{self.log_tail()}")
            time.sleep(0.25)
        raise TimeoutError(f"openclaw {self.version} gateway not ready after {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        pgid = self.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError):  # children in the group (spawn broker, sqlite worker)
            os.killpg(pgid, signal.SIGKILL)
        self.proc = None

    def restart(self, timeout: float = 180.0) -> None:
        self.stop()
        self._ready_scan_from = self.stdout_path.stat().st_size
        self.launch()
        self.wait_ready(timeout)

    def log_tail(self, lines: int = 40) -> str:
        if not self.stdout_path.exists():
            return "(no output)"
        return "\n".join(ANSI.sub("", self.stdout_path.read_text(errors="replace")).splitlines()[-lines:])

    # --- the real CLI on the gateway host ----------------------------------------------------

    def cli(self, *args: str, timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
        """Run the real `openclaw` CLI of this version against this gateway (as on the gateway host)."""
        return subprocess.run(
            [str(openclaw_bin(self.version)), *args],
            env=self.env(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def cli_json(self, *args: str) -> Any:
        done = self.cli(*args, "--json")
        if done.returncode != 0:
            raise RuntimeError(
                f"openclaw {' '.join(args)} failed ({done.returncode}): {done.stderr}{done.stdout}"
            )
        return json.loads(done.stdout[done.stdout.index("{") :])

    def cleanup_files(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
