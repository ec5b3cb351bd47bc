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

from sidecar import envvars
from sidecar.errors import ConfigError
from sidecar.identity.entrypoint_settings import default_state_dir
from sidecar.identity.slots import DEFAULT_SLOT

# doctor flag -> the entrypoint flag with the same meaning (doctor hands only *given* flags on, so the
# entrypoint's own parser reads the environment exactly as it will when the container starts)
ENTRYPOINT_FLAGS = {
    "state_dir": "--state-dir",
    "identity_dir": "--identity-dir",
    "slot": "--slot",
    "private_key_file": "--private-key-file",
    "parent_identity_dir": "--parent-identity-dir",
    "format": "--format",
    "uid": "--uid",
    "gid": "--gid",
}


def env_flag(env: Mapping[str, str], name: str) -> bool:
    """Lenient reading for doctor's own decisions; the entrypoint's strict reading reports bad values."""
    return env.get(name, "").strip().lower() in envvars.TRUTHY


def _path(value: str | None) -> Path | None:
    return Path(os.path.abspath(value)) if value else None


def _owner_id(
    var: envvars.Var, flag: str | None, env: Mapping[str, str], entrypoint: bool, state_dir: Path
) -> int:
    """Whom the identity files must belong to: the configured id; else the entrypoint's default (it
    chowns to it); else whoever owns the state dir (OpenClaw made it, as the user it runs as), else the
    user running doctor. An invalid value is not guessed around: the identity check reports it exactly as
    the entrypoint would refuse it."""
    try:
        if flag is not None or var.is_set(env):
            value: int = var.read(env, flag)
            return value
    except ConfigError:
        pass
    if entrypoint:
        return int(var.default)
    try:
        st = state_dir.stat()
        return st.st_uid if var is envvars.UID else st.st_gid
    except OSError:
        return os.geteuid() if var is envvars.UID else os.getegid()


@dataclass(frozen=True)
class DoctorOptions:
    """Resolved inputs. ``explicit_state_dir``: the user named it, so its absence is itself a finding."""

    env: Mapping[str, str] = field(repr=False)
    error_text: str | None = None
    log_files: tuple[Path, ...] = ()
    state_dir: Path = Path("/home/node/.openclaw")
    explicit_state_dir: bool = False
    state_dir_from_env: bool = False  # OPENCLAW_STATE_DIR names it (the agent's own setting)
    identity_dir: Path | None = None
    slot: str = DEFAULT_SLOT
    private_key_file: Path | None = None
    inherit: bool = False
    parent_identity_dir: Path | None = None
    identity_format: str = "auto"
    uid: int = envvars.DEFAULT_UID
    gid: int = envvars.DEFAULT_GID
    entrypoint_flags: tuple[str, ...] = ()  # the entrypoint argv equivalent to the flags doctor was given
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
        """An identity source is configured (flags or variables): the entrypoint's rules and refusals apply.

        (A bad value of any entrypoint variable is reported even without one: see checks/identity.)"""
        return bool(self.identity_dir or self.private_key_file or self.inherit or self.parent_identity_dir)


def _str(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def resolve(flags: Mapping[str, object], env: Mapping[str, str]) -> DoctorOptions:
    """Build options from parsed flags (``None`` = not given) over ``env``."""

    def get(name: str, var: str | None = None) -> str | None:
        value = flags.get(name)
        if value is not None and value != "":
            return str(value)
        return (env.get(var, "").strip() or None) if var else None

    state = get("state_dir", envvars.STATE_DIR.name)
    entrypoint_argv: list[str] = []
    for name, option in ENTRYPOINT_FLAGS.items():
        value = flags.get(name)
        if value is not None and value != "":
            entrypoint_argv += [option, str(value)]
    if flags.get("inherit_parent_device"):
        entrypoint_argv.append("--inherit-parent-device")
    entrypoint = bool(entrypoint_argv) or envvars.entrypoint_settings_present(env)
    home = env.get("HOME") or "/home/node"
    state_dir = _path(state) or default_state_dir(env, home)
    logs = flags.get("log") or ()
    scan = flags.get("scan") or ()
    assert isinstance(logs, list | tuple)
    assert isinstance(scan, list | tuple)
    workdir = flags.get("workdir")
    return DoctorOptions(
        env=env,
        error_text=get("error"),
        log_files=tuple(Path(str(p)) for p in logs),
        state_dir=state_dir,
        explicit_state_dir=flags.get("state_dir") is not None,
        state_dir_from_env=envvars.STATE_DIR.is_set(env),
        identity_dir=_path(get("identity_dir", envvars.IDENTITY_DIR.name)),
        slot=get("slot", envvars.DEVICE_ID.name) or DEFAULT_SLOT,
        private_key_file=_path(get("private_key_file", envvars.DEVICE_PRIVATE_KEY_FILE.name)),
        inherit=bool(flags.get("inherit_parent_device")) or env_flag(env, envvars.INHERIT_PARENT_DEVICE.name),
        parent_identity_dir=_path(get("parent_identity_dir", envvars.PARENT_IDENTITY_DIR.name)),
        identity_format=get("format", envvars.IDENTITY_FORMAT.name) or "auto",
        uid=_owner_id(envvars.UID, _str(flags.get("uid")), env, entrypoint, state_dir),
        gid=_owner_id(envvars.GID, _str(flags.get("gid")), env, entrypoint, state_dir),
        entrypoint_flags=tuple(entrypoint_argv),
        ui_url=get("ui_url"),
        # with a token but no URL, the same default as openclaw-sidecar list (the gateway's loopback)
        gateway_url=get("gateway_url", envvars.GATEWAY_URL.name)
        or (envvars.DEFAULT_GATEWAY_URL if get("token", envvars.GATEWAY_TOKEN.name) else None),
        token=get("token", envvars.GATEWAY_TOKEN.name),
        pairing_state_dir=_path(get("pairing_state_dir", envvars.pairing_var("state_dir"))),
        device_id=get("device_id"),
        request_id=get("request_id"),
        container=get("container"),
        sidecar=get("sidecar"),
        scan=tuple(Path(str(p)) for p in scan),
        workdir=Path(str(workdir)) if workdir else Path.cwd(),
        timeout=float(str(flags.get("timeout") or 10.0)),
    )
