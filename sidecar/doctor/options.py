"""What doctor looks at, resolved once from flags over the environment (the agent's, inside a container).

Why one frozen object: every check reads the same answers to "which state dir, which slot, which
gateway", with the same precedence as openclaw-entrypoint and openclaw-sidecar (a flag wins over its
variable, then OpenClaw's own default), so doctor diagnoses the setup those programs will actually run.
Nothing here touches the disk or the network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sidecar.identity.config import DEFAULT_GID, DEFAULT_UID, default_state_dir
from sidecar.identity.slots import DEFAULT_SLOT

TRUE = frozenset({"1", "true", "yes", "on"})


def env_flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in TRUE


def _path(value: str | None) -> Path | None:
    return Path(os.path.abspath(value)) if value else None


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


@dataclass(frozen=True)
class DoctorOptions:
    """Resolved inputs. ``explicit_state_dir``: the user named it, so its absence is itself a finding."""

    env: Mapping[str, str] = field(repr=False)
    error_text: str | None = None
    log_files: tuple[Path, ...] = ()
    state_dir: Path = Path("/home/node/.openclaw")
    explicit_state_dir: bool = False
    identity_dir: Path | None = None
    slot: str = DEFAULT_SLOT
    private_key_file: Path | None = None
    inherit: bool = False
    parent_identity_dir: Path | None = None
    identity_format: str = "auto"
    uid: int = DEFAULT_UID
    gid: int = DEFAULT_GID
    ui_url: str | None = None
    gateway_url: str | None = None
    token: str | None = field(default=None, repr=False)
    pairing_state_dir: Path | None = None
    device_id: str | None = None
    request_id: str | None = None
    container: str | None = None
    sidecar: str | None = None  # the sidecar container to judge (default: find it by its command)
    scan: tuple[Path, ...] = ()
    workdir: Path | None = None
    timeout: float = 10.0

    @property
    def uses_entrypoint(self) -> bool:
        """openclaw-entrypoint settings are present: its rules (slots, formats) apply."""
        return bool(self.identity_dir or self.private_key_file or self.inherit or self.parent_identity_dir)


def resolve(flags: Mapping[str, object], env: Mapping[str, str]) -> DoctorOptions:
    """Build options from parsed flags (``None`` = not given) over ``env``."""

    def get(name: str, var: str | None = None) -> str | None:
        value = flags.get(name)
        if value is not None and value != "":
            return str(value)
        return (env.get(var, "").strip() or None) if var else None

    state = get("state_dir", "OPENCLAW_STATE_DIR")
    home = env.get("HOME") or "/home/node"
    logs = flags.get("log") or ()
    scan = flags.get("scan") or ()
    assert isinstance(logs, list | tuple)
    assert isinstance(scan, list | tuple)
    workdir = flags.get("workdir")
    return DoctorOptions(
        env=env,
        error_text=get("error"),
        log_files=tuple(Path(str(p)) for p in logs),
        state_dir=_path(state) or default_state_dir(env, home),
        explicit_state_dir=flags.get("state_dir") is not None,
        identity_dir=_path(get("identity_dir", "OPENCLAW_IDENTITY_DIR")),
        slot=get("slot", "OPENCLAW_DEVICE_ID") or DEFAULT_SLOT,
        private_key_file=_path(get("private_key_file", "OPENCLAW_DEVICE_PRIVATE_KEY_FILE")),
        inherit=bool(flags.get("inherit_parent_device")) or env_flag(env, "OPENCLAW_INHERIT_PARENT_DEVICE"),
        parent_identity_dir=_path(get("parent_identity_dir", "OPENCLAW_PARENT_IDENTITY_DIR")),
        identity_format=get("format", "OPENCLAW_IDENTITY_FORMAT") or "auto",
        uid=_int(get("uid", "OPENCLAW_UID"), DEFAULT_UID),
        gid=_int(get("gid", "OPENCLAW_GID"), DEFAULT_GID),
        ui_url=get("ui_url"),
        gateway_url=get("gateway_url", "OPENCLAW_GATEWAY_URL"),
        token=get("token", "OPENCLAW_GATEWAY_TOKEN"),
        pairing_state_dir=_path(get("pairing_state_dir", "OPENCLAW_PAIRING_STATE_DIR")),
        device_id=get("device_id"),
        request_id=get("request_id"),
        container=get("container"),
        sidecar=get("sidecar"),
        scan=tuple(Path(str(p)) for p in scan),
        workdir=Path(str(workdir)) if workdir else Path.cwd(),
        timeout=float(str(flags.get("timeout") or 10.0)),
    )
