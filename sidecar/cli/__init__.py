"""``openclaw-sidecar``: one argparse program whose subcommands live in small modules.

Adding a command: write ``sidecar/cli/<name>.py`` exposing ``register(subparsers)``, which adds its
parser(s) and sets ``handler=<function(args) -> int>`` via ``set_defaults``; then add the module name to
``COMMAND_MODULES`` below. Every listed module is imported to build the parser, so keep their top level
to the standard library: import heavy things (websockets, docker, prometheus_client, yaml) inside the
handler. That is what keeps ``openclaw-sidecar list`` at a fraction of a second per process.

Exit codes (all commands): 0 ok, 1 the gateway said no, 2 pairing required for the caller itself,
3 auth/config error, 4 gateway unreachable (or went away). Handlers may raise any
``sidecar.errors.PairingError``; ``main`` prints its message and maps its class with ``exit_code_for``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from sidecar import __version__
from sidecar.errors import (
    AuthFailed,
    ConfigError,
    DeviceIdentityRequired,
    GatewayClosed,
    GatewayError,
    GatewayRequestError,
    GatewayStarting,
    GatewayUnreachable,
    IdentityError,
    MissingScope,
    PairingError,
    PairingRequired,
    ProtocolError,
    ProtocolMismatch,
    RequestTimeout,
)

PROG = "openclaw-sidecar"
EXIT_OK, EXIT_REFUSED, EXIT_PAIRING_REQUIRED, EXIT_CONFIG, EXIT_UNREACHABLE = 0, 1, 2, 3, 4

COMMAND_MODULES: list[str] = [
    "sidecar.cli.pairing",  # list, approve, reject, remove
    "sidecar.cli.doctor",  # doctor
    "sidecar.cli.run",  # run, once, explain, config
]


def exit_code_for(exc: BaseException) -> int:
    """The documented exit code for an error (classes only, never message text)."""
    if isinstance(exc, PairingRequired):
        return EXIT_PAIRING_REQUIRED
    if isinstance(exc, ConfigError | IdentityError | AuthFailed | DeviceIdentityRequired | ProtocolMismatch):
        return EXIT_CONFIG
    if isinstance(exc, MissingScope):
        return EXIT_CONFIG
    if isinstance(exc, GatewayUnreachable | GatewayStarting | GatewayClosed | RequestTimeout | ProtocolError):
        return EXIT_UNREACHABLE
    if isinstance(exc, GatewayRequestError | GatewayError | PairingError):
        return EXIT_REFUSED
    return EXIT_REFUSED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Stable OpenClaw device identities for containers, and a pairing sidecar.",
        epilog="Exit codes: 0 ok, 1 gateway said no, 2 pairing required for this client, "
        "3 auth/config error, 4 gateway unreachable.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log to stderr (-vv: debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(
            level=logging.DEBUG if args.verbose > 1 else logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_CONFIG
    try:
        code: int = handler(args)
    except PairingError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exit_code_for(exc)
    except KeyboardInterrupt:
        return 130
    return code
