"""The entrypoint's settings: environment variables, overridden by flags, validated before anything runs.

Why up front: the entrypoint guards a private key. A typo or a contradictory combination (inherit the
parent's device *and* load a key from a secret) must stop the container with a message naming the
variables, before a single file is written — never be resolved by a silent precedence rule.
Every setting has a flag with the same meaning; a flag wins over its variable.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sidecar import envvars as env
from sidecar.errors import ConfigError
from sidecar.identity.detect import FORMATS
from sidecar.identity.privileges import agent_home_for
from sidecar.identity.slots import DEFAULT_SLOT, validate_slot_name

ON_CONFLICT = env.ON_CONFLICT
DEFAULT_UID = env.DEFAULT_UID
DEFAULT_GID = env.DEFAULT_GID


@dataclass(frozen=True)
class EntrypointConfig:
    """Validated settings. ``mode`` is where the identity comes from: slot | secret | inherit."""

    action: str  # "exec" | "init" | "show"
    command: tuple[str, ...]
    mode: str
    identity_dir: Path | None
    slot_name: str
    state_dir: Path
    home: str
    format: str  # as requested: auto | json | sqlite | file
    private_key_file: Path | None
    parent_identity_dir: Path | None
    uid: int
    gid: int
    require_persistent: bool
    on_conflict: str
    regenerate: bool


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"{message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="openclaw-entrypoint",
        description="Give an OpenClaw agent a stable device identity, then exec its command.",
        usage="%(prog)s [options] -- COMMAND [ARG...]  |  --init-only  |  --show",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--init-only", action="store_true", help="ensure and publish the identity, then exit 0")
    mode.add_argument(
        "--show", action="store_true", help="print the public identity as JSON (writes nothing)"
    )
    mode.add_argument(
        "--doctor",
        action="store_true",
        help="diagnose this container (first argument; see openclaw-sidecar doctor --help)",
    )
    p.add_argument(
        "--regenerate", action="store_true", help="move a corrupt identity aside and create a new one"
    )
    p.add_argument("--identity-dir", metavar="DIR", help="identity volume (OPENCLAW_IDENTITY_DIR)")
    p.add_argument("--slot", metavar="NAME", help="slot name on the volume (OPENCLAW_DEVICE_ID)")
    p.add_argument("--state-dir", metavar="DIR", help="agent's OpenClaw state dir (OPENCLAW_STATE_DIR)")
    p.add_argument("--format", choices=FORMATS, help="identity storage (OPENCLAW_IDENTITY_FORMAT)")
    p.add_argument("--private-key-file", metavar="FILE", help="OPENCLAW_DEVICE_PRIVATE_KEY_FILE")
    p.add_argument("--inherit-parent-device", action="store_true", help="OPENCLAW_INHERIT_PARENT_DEVICE=1")
    p.add_argument("--parent-identity-dir", metavar="DIR", help="OPENCLAW_PARENT_IDENTITY_DIR")
    p.add_argument("--uid", help="agent user id (OPENCLAW_UID)")
    p.add_argument("--gid", help="agent group id (OPENCLAW_GID)")
    p.add_argument("--require-persistent", action="store_true", help="OPENCLAW_REQUIRE_PERSISTENT_IDENTITY=1")
    p.add_argument("--on-conflict", choices=ON_CONFLICT, help="OPENCLAW_IDENTITY_ON_CONFLICT")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the agent command, after --")
    return p


def default_state_dir(environ: Mapping[str, str], home: str) -> Path:
    """OpenClaw's own default: ``$OPENCLAW_HOME`` or HOME, plus ``.openclaw`` (``.openclaw-<profile>``)."""
    base = env.HOME.raw(environ) or home
    profile = env.PROFILE.raw(environ)
    name = ".openclaw" if profile in ("", "default") else f".openclaw-{profile}"
    return Path(os.path.abspath(os.path.join(base, name)))


def parse(argv: Sequence[str], environ: Mapping[str, str]) -> EntrypointConfig:
    """Parse flags over ``env``; raise ConfigError naming the variables of any bad or conflicting setting."""
    args = build_parser().parse_args(list(argv))
    command = tuple(args.command[1:] if args.command[:1] == ["--"] else args.command)
    if args.doctor:
        raise ConfigError("--doctor must be the first argument: openclaw-entrypoint --doctor [options]")
    if args.show or args.init_only:
        if command:
            raise ConfigError(
                f"--{'show' if args.show else 'init-only'} takes no command (got {command[0]!r})"
            )
        action = "show" if args.show else "init"
    elif not command:
        raise ConfigError(
            "no command to run: use 'openclaw-entrypoint [options] -- COMMAND...', or --init-only"
        )
    else:
        action = "exec"

    uid: int = env.UID.read(environ, args.uid)
    gid: int = env.GID.read(environ, args.gid)
    fmt: str = env.IDENTITY_FORMAT.read(environ, args.format)
    on_conflict: str = env.IDENTITY_ON_CONFLICT.read(environ, args.on_conflict)
    inherit = args.inherit_parent_device or env.INHERIT_PARENT_DEVICE.read(environ)
    require_persistent = args.require_persistent or env.REQUIRE_PERSISTENT_IDENTITY.read(environ)
    identity_dir: Path | None = env.IDENTITY_DIR.read(environ, args.identity_dir)
    slot_value: str = env.DEVICE_ID.read(environ, args.slot)
    private_key_file: Path | None = env.DEVICE_PRIVATE_KEY_FILE.read(environ, args.private_key_file)
    parent_dir: Path | None = env.PARENT_IDENTITY_DIR.read(environ, args.parent_identity_dir)
    home = agent_home_for(environ, uid)
    state_dir = env.STATE_DIR.read(environ, args.state_dir) or default_state_dir(environ, home)

    if inherit:
        mode = "inherit"
        clashes = [
            name
            for name, value in (
                ("OPENCLAW_DEVICE_PRIVATE_KEY_FILE", private_key_file),
                ("OPENCLAW_IDENTITY_DIR", identity_dir),
                ("OPENCLAW_DEVICE_ID", slot_value),
            )
            if value
        ]
        if clashes:
            raise ConfigError(
                f"OPENCLAW_INHERIT_PARENT_DEVICE=1 presents the parent's device, so {' and '.join(clashes)} "
                "must not be set (they would choose a different identity); unset them, or unset "
                "OPENCLAW_INHERIT_PARENT_DEVICE to give this agent its own device"
            )
        if parent_dir is None:
            raise ConfigError(
                "OPENCLAW_INHERIT_PARENT_DEVICE=1 needs OPENCLAW_PARENT_IDENTITY_DIR: mount the parent "
                "agent's slot directory read-only and point the variable at it"
            )
        slot_name = parent_dir.name
    else:
        if parent_dir is not None:
            raise ConfigError(
                "OPENCLAW_PARENT_IDENTITY_DIR is set but OPENCLAW_INHERIT_PARENT_DEVICE is not: set "
                "OPENCLAW_INHERIT_PARENT_DEVICE=1 to present the parent's device, or unset the directory"
            )
        slot_name = validate_slot_name(slot_value) if slot_value else DEFAULT_SLOT
        if private_key_file is not None:
            mode = "secret"
        elif identity_dir is None:
            raise ConfigError(
                "OPENCLAW_IDENTITY_DIR is not set: mount a persistent volume for device identities and "
                "point OPENCLAW_IDENTITY_DIR at it (or use OPENCLAW_DEVICE_PRIVATE_KEY_FILE / "
                "OPENCLAW_INHERIT_PARENT_DEVICE=1)"
            )
        else:
            mode = "slot"
    if identity_dir is not None and state_dir == identity_dir / slot_name:
        raise ConfigError(
            f"OPENCLAW_STATE_DIR and the slot directory are both {state_dir}; keep the state dir outside "
            "OPENCLAW_IDENTITY_DIR (e.g. the default $HOME/.openclaw)"
        )
    return EntrypointConfig(
        action=action,
        command=command,
        mode=mode,
        identity_dir=identity_dir,
        slot_name=slot_name,
        state_dir=state_dir,
        home=home,
        format=fmt,
        private_key_file=private_key_file,
        parent_identity_dir=parent_dir,
        uid=uid,
        gid=gid,
        require_persistent=require_persistent,
        on_conflict=on_conflict,
        regenerate=args.regenerate,
    )
