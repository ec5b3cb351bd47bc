#!/usr/bin/env python3
"""openclaw-entrypoint: give an OpenClaw agent a stable device identity, then ``exec`` its command.

    openclaw-entrypoint [options] -- COMMAND [ARG...]   ensure the identity, drop to the agent user, exec
    openclaw-entrypoint --init-only                     ensure, materialize and publish, then exit 0
    openclaw-entrypoint --show                          print the public identity as JSON (writes nothing)

The entrypoint never stays resident: after ``exec`` the agent owns the PID, its signals and its exit
code. Settings and their variables are described in docs/identity.md. Imports only the standard library,
``cryptography`` and ``sidecar.identity`` so that it starts fast in small agent images.

With ``OPENCLAW_PREPAIR_ROLE`` set (--init-only and -- CMD), the device is then pre-paired: connected to
the gateway with exactly what the agent will present, waiting until it is approved (``sidecar.prepair``,
imported only then), so the agent's own first connect is admitted.

Exit codes before exec: 0 ok (--init-only/--show), 2 usage or configuration, 3 corrupt identity,
4 conflicting identities, 5 read-only location, 6 other identity problem, 7 pre-pairing timed out,
8 pre-pairing refused by the gateway, 126/127 command not executable/not found.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

from sidecar import envvars
from sidecar.errors import (
    ConfigError,
    IdentityConflict,
    IdentityCorrupt,
    IdentityError,
    IdentityReadOnly,
    PairingError,
    PrepairRefused,
    PrepairTimeout,
)
from sidecar.exitcodes import (
    ENTRYPOINT_EXIT_CONFIG,
    ENTRYPOINT_EXIT_CONFLICT,
    ENTRYPOINT_EXIT_CORRUPT,
    ENTRYPOINT_EXIT_IDENTITY,
    ENTRYPOINT_EXIT_NOT_EXECUTABLE,
    ENTRYPOINT_EXIT_NOT_FOUND,
    ENTRYPOINT_EXIT_OK,
    ENTRYPOINT_EXIT_PREPAIR_REFUSED,
    ENTRYPOINT_EXIT_PREPAIR_TIMEOUT,
    ENTRYPOINT_EXIT_READ_ONLY,
)
from sidecar.identity import privileges
from sidecar.identity.ensure import ensure, show
from sidecar.identity.entrypoint_settings import parse
from sidecar.identity.keys import DeviceIdentity

PROG = "openclaw-entrypoint"
EXIT_CODES: tuple[tuple[type[PairingError], int], ...] = (
    (PrepairTimeout, ENTRYPOINT_EXIT_PREPAIR_TIMEOUT),
    (PrepairRefused, ENTRYPOINT_EXIT_PREPAIR_REFUSED),
    (ConfigError, ENTRYPOINT_EXIT_CONFIG),
    (IdentityCorrupt, ENTRYPOINT_EXIT_CORRUPT),
    (IdentityConflict, ENTRYPOINT_EXIT_CONFLICT),
    (IdentityReadOnly, ENTRYPOINT_EXIT_READ_ONLY),
    (IdentityError, ENTRYPOINT_EXIT_IDENTITY),
)


def exit_code(exc: PairingError) -> int:
    return next((code for cls, code in EXIT_CODES if isinstance(exc, cls)), 1)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _prepair(identity: DeviceIdentity) -> None:
    """Pair the device before the agent's first connect. Imported here: it needs websockets."""
    from sidecar.prepair import parse_prepair  # only when configured (docs/DESIGN.md)
    from sidecar.prepair.wait import run

    cfg = parse_prepair(os.environ)
    _log(run(identity, cfg, lambda line: _log(f"{PROG}: {line}")).log_line())


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--doctor"]:  # same checks as `openclaw-sidecar doctor`, with this container's env
        # exec, not import: the entrypoint depends on sidecar.identity only (tests/unit/test_layers.py)
        os.execv(sys.executable, [sys.executable, "-m", "sidecar", "doctor", *argv[1:]])  # noqa: S606
    try:
        cfg = parse(argv, os.environ)
        if cfg.action == "show":
            print(json.dumps(show(cfg).public(cfg.slot_name).to_json(), indent=2), flush=True)
            return ENTRYPOINT_EXIT_OK
        result = ensure(cfg, os.environ)
    except PairingError as exc:
        _log(f"{PROG}: error: {exc}")
        return exit_code(exc)
    except OSError as exc:  # anything the identity code did not anticipate: fail closed, name the file
        _log(f"{PROG}: error: {exc.filename or 'identity'}: {exc.strerror or exc}; nothing was started")
        return ENTRYPOINT_EXIT_IDENTITY
    for warning in result.warnings:
        _log(f"{PROG}: warning: {warning}")
    for moved in result.moved_aside:
        _log(f"{PROG}: --regenerate: kept the damaged identity as {moved}")
    _log(result.log_line())
    if envvars.PREPAIR_ROLE.is_set(os.environ):
        try:
            _prepair(result.identity)
        except PairingError as exc:
            _log(f"{PROG}: error: {exc}")
            return exit_code(exc)
    if cfg.action == "init":
        return ENTRYPOINT_EXIT_OK

    env = dict(os.environ)
    env["OPENCLAW_DEVICE_IDENTITY_FILE"] = str(result.identity_file)
    env["OPENCLAW_STATE_DIR"] = str(result.state_dir)  # pin the dir the identity was written to
    env["HOME"] = cfg.home
    try:
        privileges.drop_privileges(cfg.uid, cfg.gid, env)
    except (ConfigError, OSError) as exc:
        _log(f"{PROG}: error: cannot drop privileges to OPENCLAW_UID={cfg.uid} OPENCLAW_GID={cfg.gid}: {exc}")
        return ENTRYPOINT_EXIT_CONFIG
    try:
        os.execvpe(cfg.command[0], list(cfg.command), env)  # noqa: S606 - exec is the point
    except FileNotFoundError:
        _log(f"{PROG}: error: command not found: {cfg.command[0]}")
        return ENTRYPOINT_EXIT_NOT_FOUND
    except OSError as exc:
        _log(f"{PROG}: error: cannot execute {cfg.command[0]}: {exc.strerror}")
        return ENTRYPOINT_EXIT_NOT_EXECUTABLE
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main())
