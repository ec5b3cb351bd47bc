"""``openclaw-sidecar doctor`` (and ``openclaw-entrypoint --doctor``): which error is it, why here, the fix.

Reads the setup from the same flags and variables as openclaw-entrypoint and openclaw-sidecar, runs
every check that applies (an error text, the Control UI URL, the identity on disk, the gateway's pairing
state, a container, sub-agents, config and script hazards) and prints findings. ``--fix`` applies only
safe local repairs of the identity, then checks again; it never approves anything.

Exit codes (doctor's own, not the other commands'): 0 healthy, 1 problems found, 2 could not check
(including bad usage).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

EXIT_UNCHECKED = 2


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--error", metavar="TEXT", help="the error text to explain (close reason, log line, JSON)")
    p.add_argument("--log", action="append", metavar="FILE", help="find the agent's last connect error here")
    p.add_argument("--fix", action="store_true", help="apply safe local repairs, then check again")
    p.add_argument("--json", action="store_true", help="machine-readable output (stable schema, version 1)")
    p.add_argument("--verbose-report", dest="verbose_report", action="store_true", help="explain info too")
    where = p.add_argument_group("identity (defaults: the openclaw-entrypoint variables)")
    where.add_argument("--state-dir", help="agent's OpenClaw state dir (OPENCLAW_STATE_DIR)")
    where.add_argument("--identity-dir", help="identity volume (OPENCLAW_IDENTITY_DIR)")
    where.add_argument("--slot", help="slot on the volume (OPENCLAW_DEVICE_ID, default 'default')")
    where.add_argument("--private-key-file", help="OPENCLAW_DEVICE_PRIVATE_KEY_FILE")
    where.add_argument("--parent-identity-dir", help="OPENCLAW_PARENT_IDENTITY_DIR (sub-agents)")
    where.add_argument(
        "--format", choices=("auto", "json", "sqlite", "file"), help="OPENCLAW_IDENTITY_FORMAT"
    )
    where.add_argument("--uid", help="agent user id (OPENCLAW_UID, default 1000)")
    where.add_argument("--gid", help="agent group id (OPENCLAW_GID, default 1000)")
    gw = p.add_argument_group("gateway (pairing state)")
    gw.add_argument("--gateway-url", "--url", dest="gateway_url", help="OPENCLAW_GATEWAY_URL")
    gw.add_argument("--token", help="shared token (OPENCLAW_GATEWAY_TOKEN; prefer the env)")
    gw.add_argument(
        "--pairing-state-dir",
        help="an approved lister identity <dir>/identity.json (OPENCLAW_PAIRING_STATE_DIR)",
    )
    gw.add_argument("--device-id", help="the device to look up (default: the identity found on disk)")
    gw.add_argument("--request-id", help="the requestId to look up (default: the one in --error)")
    gw.add_argument("--timeout", type=float, default=10.0, help="seconds per gateway/Docker call")
    other = p.add_argument_group("other")
    other.add_argument("--ui-url", help="the Control UI URL the browser opens (secure-context check)")
    other.add_argument("--container", help="Docker container of the agent (mounts, labels, sidecar)")
    other.add_argument("--sidecar", help="the sidecar container to check (default: any running one)")
    other.add_argument("--scan", action="append", metavar="PATH", help="files/dirs to scan for hazards")
    other.add_argument("--workdir", help="dir whose compose files, .env and *.sh are scanned (default: cwd)")


def run(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    from sidecar.doctor import fix as fixing
    from sidecar.doctor import report
    from sidecar.doctor.diagnose import diagnose
    from sidecar.doctor.options import resolve

    environ = dict(os.environ if env is None else env)
    flags: dict[str, Any] = vars(args)
    fixes: list[fixing.FixResult] = []
    try:
        opts = resolve(flags, environ)
        diagnosis = diagnose(opts)
        if args.fix:
            fixes = fixing.apply(diagnosis, opts)
            if fixes:
                diagnosis = diagnose(opts)
    except Exception as exc:  # a bug or an unexpected environment: say so, exit "could not check"
        print(f"doctor: could not check: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_UNCHECKED
    if args.json:
        sys.stdout.write(report.render_json(diagnosis, fixes))
    else:
        sys.stdout.write(report.render_text(diagnosis, fixes, verbose=args.verbose_report))
    sys.stdout.flush()
    return diagnosis.exit_code


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "doctor",
        help="diagnose 'device identity required' / 'pairing required' and fix what is local",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(handler=run)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Standalone entry (``python -m sidecar.cli.doctor``, ``openclaw-entrypoint --doctor``)."""
    parser = argparse.ArgumentParser(
        prog="doctor", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for bad usage (= could not check)
        return int(exc.code or 0) if exc.code in (0, None) else EXIT_UNCHECKED
    return run(args, env)


if __name__ == "__main__":
    sys.exit(main())
