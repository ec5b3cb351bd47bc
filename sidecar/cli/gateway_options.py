"""What every gateway command of the CLI shares: the URL, token and identity options, and the client.

Why its own module: ``devices`` (list/approve/reject/remove) and any further command that talks to the
gateway (nodes) resolve options and build clients the same way, from the same variables (sidecar.envvars).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sidecar import envvars
from sidecar.errors import ConfigError

if TYPE_CHECKING:
    from sidecar.gateway.client import GatewayClient

DEFAULT_URL = envvars.DEFAULT_GATEWAY_URL
IDENTITY_FILE = envvars.LISTER_IDENTITY_FILE


# --- options shared by every gateway command ------------------------------------------------------


@dataclass(frozen=True)
class GatewayOptions:
    url: str
    token: str | None
    state_dir: str | None
    admin: bool
    timeout: float

    def __repr__(self) -> str:  # never the token
        token = "set" if self.token else "unset"
        return f"GatewayOptions(url={self.url!r}, token={token}, state_dir={self.state_dir!r})"


def add_gateway_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("gateway connection")
    group.add_argument(
        "--url", help=f"gateway WebSocket URL (env OPENCLAW_GATEWAY_URL, default {DEFAULT_URL})"
    )
    group.add_argument(
        "--token",
        help="shared gateway token (env OPENCLAW_GATEWAY_TOKEN; prefer the env: arguments show in ps)",
    )
    group.add_argument(
        "--state-dir",
        help="present the persisted device identity <dir>/identity.json, for use away from the gateway's "
        "loopback (env OPENCLAW_PAIRING_STATE_DIR; default: no identity)",
    )
    group.add_argument(
        "--admin",
        action="store_true",
        help="also request operator.admin (needed to approve node-role devices)",
    )
    group.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per connect and per call (default 10)"
    )
    parser.add_argument(
        "--json", action="store_true", help="machine-readable output (openclaw devices … --json shapes)"
    )


def gateway_options(args: argparse.Namespace, environ: Mapping[str, str]) -> GatewayOptions:
    url: str = args.url.strip() if args.url else envvars.GATEWAY_URL.read(environ)
    from sidecar.gateway.urls import check_url

    check_url(url)
    if args.timeout <= 0:
        raise ConfigError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    token = args.token if args.token is not None else envvars.GATEWAY_TOKEN.raw(environ)
    state_dir = args.state_dir or environ.get(envvars.pairing_var("state_dir"), "").strip() or None
    return GatewayOptions(
        url, (token or "").strip() or None, state_dir, bool(args.admin), float(args.timeout)
    )


def make_client(opts: GatewayOptions, scopes: tuple[str, ...]) -> GatewayClient:
    from sidecar.gateway.client import GatewayClient
    from sidecar.identity.device_file import fallback_device, load_or_create

    identity = None
    if opts.state_dir:
        from pathlib import Path

        identity, _ = load_or_create(Path(opts.state_dir) / IDENTITY_FILE)
    return GatewayClient(
        opts.url,
        token=opts.token,
        identity=identity,
        scopes=scopes,
        display_name="openclaw-sidecar cli",
        connect_timeout=opts.timeout,
        call_timeout=opts.timeout,
        # 2026.3.31 grants a device-less local client no scopes: a key for this call (--state-dir keeps one)
        device_fallback=None if identity else fallback_device(None),
    )


def base_scopes(opts: GatewayOptions) -> tuple[str, ...]:
    return ("operator.pairing", "operator.admin") if opts.admin else ("operator.pairing",)


def granted_scopes(client: GatewayClient) -> tuple[str, ...]:
    hello = client.hello
    if hello is not None and hello.auth_scopes is not None:
        return hello.auth_scopes
    return client.info.scopes
