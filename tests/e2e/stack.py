"""One compose project of the shipped stack, driven with the real `docker compose` v2 CLI.

The stack is compose/docker-compose.yml exactly as shipped, plus only:
- compose/docker-compose.local.yml when the images were built locally (it swaps images, nothing else);
- tests/e2e/compose.ports.yml (drops the published port, so parallel projects never collide);
- optional shipped overlays (docker-compose.dev.yml for the dev scenario).
Everything a test varies goes through the env file, like a user's compose/.env: the gateway token, the
trusted flag, `OPENCLAW_AGENTS_NETWORK_INTERNAL=true` (no route out of the project network).

Observations come from independent sources: the real OpenClaw CLI inside the gateway container
(`node dist/index.js devices list --json`) for pending/paired, the sidecar's stdout audit trail
(`docker compose logs pairing-sidecar`) for its decisions, container logs for the agents.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "compose"
PORTS_OVERRIDE = Path(__file__).resolve().parent / "compose.ports.yml"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
REQUEST_ID = re.compile(r"requestId: ([0-9a-f-]{36})")
T = TypeVar("T")


def lib_setting(name: str) -> str:
    """A ``NAME=value`` setting of scripts/lib.sh (the pinned releases live there, once)."""
    m = re.search(rf"^{name}=(\S+)", (ROOT / "scripts" / "lib.sh").read_text(), re.M)
    if m is None:
        raise AssertionError(f"scripts/lib.sh has no {name}= line")
    return m.group(1)


PINNED_VERSION = lib_setting("OPENCLAW_PINNED_VERSION")  # the release the stack runs by default
COMPAT_VERSION = lib_setting("OPENCLAW_COMPAT_VERSION")  # the JSON-identity-era release the tests also run
LOCAL_OPENCLAW_IMAGE = f"openclaw-local:{PINNED_VERSION}"


class StackError(AssertionError):
    """A wait or command failed; the message carries the relevant logs."""


def run(
    argv: Sequence[str], *, check: bool = True, timeout: float = 300, env: dict[str, str] | None = None
) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise StackError(
            f"{' '.join(argv)} -> exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc.stdout


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float,
    interval: float = 0.5,
    on_fail: Callable[[], str] | None = None,
) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` and diagnostics."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise StackError(
                f"timed out after {timeout:.0f} s waiting for {what}\n" + (on_fail() if on_fail else "")
            )
        time.sleep(interval)


def iso_ms(stamp: str) -> int:
    """Epoch ms of a Docker (`--timestamps`, nanoseconds) or OpenClaw log timestamp."""
    stamp = stamp.strip()
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", stamp)
    if not m:
        raise ValueError(f"not a timestamp: {stamp!r}")
    frac = (m.group(2) or ".0")[:7]  # datetime takes at most microseconds
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return int(datetime.fromisoformat(m.group(1) + frac + zone).timestamp() * 1000)


@dataclass(frozen=True)
class Images:
    openclaw: str
    pairing: str
    local: bool
    version: str = PINNED_VERSION  # OPENCLAW_VERSION: the only setting that differs between releases


@dataclass
class ComposeStack:
    """A compose project named ``name``; everything it creates carries com.docker.compose.project=name."""

    name: str
    workdir: Path
    images: Images
    trusted: bool = True
    overlays: Sequence[str] = ()
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    extra_containers: list[str] = field(default_factory=list)
    extra_networks: list[str] = field(default_factory=list)
    run_label: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # more lines for the env file
    more_files: Sequence[Path] = ()  # test-made compose overrides (after the shipped files)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env_file = self.workdir / "compose.env"
        sock = os.environ.get("DOCKER_SOCKET", "/var/run/docker.sock")
        gid = os.stat(sock).st_gid if os.path.exists(sock) else 0
        lines = {
            "OPENCLAW_GATEWAY_TOKEN": self.token,
            "OPENCLAW_AGENTS_NETWORK_INTERNAL": "true",
            "OPENCLAW_PAIRING_IMAGE": self.images.pairing,
            "DOCKER_SOCKET_GID": str(gid),
            "OPENCLAW_VERSION": self.images.version,
        }
        if self.trusted:
            lines["OPENCLAW_TRUSTED_ENV"] = "1"  # untrusted = unset: the compose file's default must be off
        if not self.images.local:
            lines["OPENCLAW_IMAGE"] = self.images.openclaw
        lines.update(self.env)
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))

    # --- compose ---------------------------------------------------------------------------------

    @property
    def files(self) -> list[str]:
        files = [COMPOSE_DIR / "docker-compose.yml"]
        if self.images.local:
            files.append(COMPOSE_DIR / "docker-compose.local.yml")
        files += [COMPOSE_DIR / f"docker-compose.{o}.yml" for o in self.overlays]
        files += list(self.more_files)
        files.append(PORTS_OVERRIDE)
        return [arg for f in files for arg in ("-f", str(f))]

    def compose_result(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``docker compose <args>`` for this project, isolated from the caller's compose settings."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("OPENCLAW_", "COMPOSE_", "DOCKER_SOCKET"))
        }
        argv = ["docker", "compose", "-p", self.name, "--project-directory", str(COMPOSE_DIR)]
        argv += ["--env-file", str(self.env_file), *self.files, *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)

    def compose(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        proc = self.compose_result(*args, timeout=timeout)
        if check and proc.returncode != 0:
            raise StackError(
                f"docker compose {' '.join(args)} -> exit {proc.returncode}\n"
                f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        return proc.stdout

    def up(self, *services: str, wait: bool = True, extra: Sequence[str] = ()) -> None:
        args = ["up", "-d", *extra]
        if wait:
            args += ["--wait", "--wait-timeout", "240"]
        try:
            self.compose(*args, *services, timeout=300)
        except StackError as exc:
            raise StackError(f"{exc}\n{self.diagnostics()}") from None

    def down(self) -> None:
        self.compose("down", "--volumes", "--remove-orphans", "-t", "2", check=False, timeout=180)

    def container_id(self, service: str) -> str | None:
        ids = self.compose("ps", "-a", "-q", service, check=False).split()
        return ids[0] if ids else None

    def inspect(self, ref: str) -> dict[str, Any]:
        out = run(["docker", "inspect", ref], check=False)
        data = json.loads(out) if out.strip() else []
        return data[0] if data else {}

    def logs(self, service: str, *, timestamps: bool = False) -> list[str]:
        args = ["logs", "--no-log-prefix", "--no-color"] + (["--timestamps"] if timestamps else [])
        proc = self.compose_result(*args, service, timeout=60)
        return [ANSI.sub("", line) for line in (proc.stdout + proc.stderr).splitlines()]

    def container_logs(self, name: str) -> list[str]:
        proc = subprocess.run(["docker", "logs", name], capture_output=True, text=True, timeout=60)
        return [ANSI.sub("", line) for line in (proc.stdout + proc.stderr).splitlines()]

    def volume(self, short: str) -> str:
        return f"{self.name}_{short}"

    def network(self, short: str = "agents") -> str:
        return f"{self.name}_{short}"

    def remove_agent_identity(self) -> None:
        """Throw the agent's identity away: its key (agent-identity) and its OpenClaw state (agent-state)."""
        self.compose("rm", "-s", "-f", "agent", "identity-init")
        run(["docker", "volume", "rm", self.volume("agent-identity"), self.volume("agent-state")])

    # --- the gateway's view (the real OpenClaw CLI inside the gateway container) -----------------

    def devices(self) -> dict[str, Any]:
        out = self.compose(
            "exec", "-T", "openclaw-gateway", "node", "dist/index.js", "devices", "list", "--json", timeout=60
        )
        data: dict[str, Any] = json.loads(out[out.index("{") :])
        return data

    def devices_or_none(self) -> dict[str, Any] | None:
        """``devices()``, or None while the gateway cannot answer (restarting): for polling."""
        try:
            return self.devices()
        except (StackError, ValueError, subprocess.TimeoutExpired):
            return None

    def pending(self) -> list[dict[str, Any]]:
        return list(self.devices()["pending"])

    def paired(self) -> dict[str, dict[str, Any]]:
        return {d["deviceId"]: d for d in self.devices()["paired"]}

    def paired_or_empty(self) -> dict[str, dict[str, Any]]:
        listing = self.devices_or_none()
        return {d["deviceId"]: d for d in listing["paired"]} if listing else {}

    # --- the sidecar's audit trail ---------------------------------------------------------------

    def audit(self) -> list[dict[str, Any]]:
        records = []
        for line in self.logs("pairing-sidecar"):
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "action" in record and "requestId" in record:
                records.append(record)
        return records

    def audit_for(
        self,
        *,
        device_id: str | None = None,
        request_id: str | None = None,
        actions: Iterable[str] | None = None,
    ) -> list[dict[str, Any]]:
        wanted = set(actions) if actions is not None else None
        return [
            r
            for r in self.audit()
            if (device_id is None or r.get("deviceId") == device_id)
            and (request_id is None or r.get("requestId") == request_id)
            and (wanted is None or r.get("action") in wanted)
        ]

    # --- agents ----------------------------------------------------------------------------------

    def published_device_id(self) -> str:
        """The deviceId identity-init published into the agent's state volume (device.pub.json)."""
        out = run(
            [
                "docker",
                "run",
                "--rm",
                "--network",
                "none",
                "-v",
                f"{self.volume('agent-state')}:/s:ro",
                "--entrypoint",
                "cat",
                self.images.pairing,
                "/s/identity/device.pub.json",
            ]
        )
        return str(json.loads(out)["deviceId"])

    def agent_request_ids(self, lines: Iterable[str]) -> list[str]:
        return list(dict.fromkeys(m.group(1) for line in lines for m in [REQUEST_ID.search(line)] if m))

    def agent_connected(self) -> bool:
        return any("gateway connected" in line for line in self.logs("agent"))

    def agent_connected_first_time(self, timeout: float = 90) -> None:
        """Zero-touch (issue 12): identity-init pre-paired the device, so the agent is admitted at its first
        connect — nothing restarts it, and its log never says "pairing required"."""
        wait_for("the agent to connect", self.agent_connected, timeout, 1.0, self.diagnostics)
        lines = self.logs("agent")
        assert not any("pairing required" in line for line in lines), "\n".join(lines[-30:])

    def nodes(self, command: str = "list") -> dict[str, Any]:
        """The real `openclaw nodes list|status --json` in the gateway container."""
        out = self.compose(
            "exec", "-T", "openclaw-gateway", "node", "dist/index.js", "nodes", command, "--json", timeout=60
        )
        data: dict[str, Any] = json.loads(out[out.index("{") :])
        return data

    def run_client(self, name: str, network: str, host: str, *, labels: dict[str, str] | None = None) -> str:
        """A real `openclaw node run` in a plain `docker run` container (not part of the compose project)."""
        image = self.images.openclaw
        argv = [
            "docker",
            "run",
            "-d",
            "--name",
            name,
            "--network",
            network,
            "--no-healthcheck",
            "-e",
            f"OPENCLAW_GATEWAY_TOKEN={self.token}",
            "-e",
            "OPENCLAW_ALLOW_INSECURE_PRIVATE_WS=1",
            "-e",
            "OPENCLAW_NO_AUTO_UPDATE=1",
            "-e",
            "DO_NOT_TRACK=1",
            "-e",
            "OPENCLAW_DISABLE_BONJOUR=1",
        ]
        for key, value in {**self.run_label, "openclaw.e2e-project": self.name, **(labels or {})}.items():
            argv += ["--label", f"{key}={value}"]
        argv += [
            image,
            "node",
            "dist/index.js",
            "node",
            "run",
            "--host",
            host,
            "--port",
            "18789",
            "--display-name",
            name,
        ]
        run(argv)
        self.extra_containers.append(name)
        return name

    def create_network(self, name: str) -> str:
        argv = ["docker", "network", "create", "--internal"]
        for key, value in {**self.run_label, "openclaw.e2e-project": self.name}.items():
            argv += ["--label", f"{key}={value}"]
        run([*argv, name])
        self.extra_networks.append(name)
        return name

    def pending_for(self, display_name: str) -> dict[str, Any] | None:
        return next((p for p in self.pending() if p.get("displayName") == display_name), None)

    # --- teardown and diagnostics ----------------------------------------------------------------

    def cleanup(self) -> None:
        for name in self.extra_containers:
            run(["docker", "rm", "-f", "-v", name], check=False)
        gateway = self.container_id("openclaw-gateway")
        for net in self.extra_networks:
            if gateway:
                run(["docker", "network", "disconnect", "-f", net, gateway], check=False)
        self.down()
        for net in self.extra_networks:
            run(["docker", "network", "rm", net], check=False)

    def diagnostics(self) -> str:
        parts = [self.compose("ps", "-a", check=False)]
        for service in ("openclaw-gateway", "identity-init", "pairing-sidecar", "agent"):
            parts.append(f"--- {service} ---\n" + "\n".join(self.logs(service)[-25:]))
        for name in self.extra_containers:
            parts.append(f"--- {name} ---\n" + "\n".join(self.container_logs(name)[-10:]))
        try:
            parts.append("--- devices ---\n" + json.dumps(self.devices(), indent=1)[:4000])
        except (StackError, ValueError, subprocess.TimeoutExpired) as exc:
            parts.append(f"--- devices: unavailable ({exc.__class__.__name__}) ---")
        return "\n".join(parts)
