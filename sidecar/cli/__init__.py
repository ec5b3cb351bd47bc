"""``openclaw-sidecar``: one argparse program whose subcommands live in small modules.

Adding a command: write ``sidecar/cli/<name>.py`` exposing ``register(subparsers)``, which adds its
parser(s) and sets ``handler=<function(args) -> int>`` via ``set_defaults``; then import it and add it to
``COMMANDS`` below (static imports, so the import graph shows them). Every command module is imported to
build the parser, so keep their top level to the standard library: import heavy things (websockets,
docker, prometheus_client, yaml) inside the handler. That is what keeps ``openclaw-sidecar list`` at a
fraction of a second per process.

Exit codes (all commands): 0 ok, 1 the gateway said no, 2 pairing required for the caller itself,
3 auth/config error, 4 gateway unreachable (or went away). Handlers may raise any
``sidecar.errors.PairingError``; ``main`` prints its message and maps its class with ``exit_code_for``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from sidecar import __version__
from sidecar.cli import devices, doctor, kube, nodes, run
from sidecar.errors import PairingError
from sidecar.exitcodes import EXIT_CONFIG, exit_code_for

PROG = "openclaw-sidecar"
COMMANDS = (
    devices,  # list, approve, reject, remove
    doctor,  # doctor
    run,  # run, once, explain, config
    kube,  # kube-device
    nodes,  # nodes list|approve|reject
)


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
    for command in COMMANDS:
        command.register(subparsers)
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
