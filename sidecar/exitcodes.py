"""Every exit code the project's commands document, in one place.

Why one table: ``openclaw-sidecar``, its subcommands, ``doctor`` and ``openclaw-entrypoint`` are called
from scripts and restart policies that branch on these numbers; two spellings of "unreachable" would be
a bug waiting to happen.
"""

from __future__ import annotations

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

# openclaw-sidecar (all commands)
EXIT_OK = 0
EXIT_REFUSED = 1  # the gateway said no / the loop crashed
EXIT_PAIRING_REQUIRED = 2  # this client itself must be paired first
EXIT_CONFIG = 3  # auth or configuration error
EXIT_UNREACHABLE = 4  # gateway or Docker unreachable, or went away
EXIT_ATTENTION = 5  # `once`: at least one request needs a human

# doctor
EXIT_HEALTHY = 0
EXIT_FINDINGS = 1
EXIT_UNCHECKED = 2

# openclaw-entrypoint (before it execs the agent)
ENTRYPOINT_EXIT_OK = 0
ENTRYPOINT_EXIT_CONFIG = 2  # usage or configuration
ENTRYPOINT_EXIT_CORRUPT = 3  # an identity file is damaged
ENTRYPOINT_EXIT_CONFLICT = 4  # two identities disagree
ENTRYPOINT_EXIT_READ_ONLY = 5  # the identity location cannot be written
ENTRYPOINT_EXIT_IDENTITY = 6  # any other identity problem
ENTRYPOINT_EXIT_PREPAIR_TIMEOUT = 7  # pre-pairing: not approved within OPENCLAW_PREPAIR_TIMEOUT
ENTRYPOINT_EXIT_PREPAIR_REFUSED = 8  # pre-pairing: the gateway refused us (token, protocol, scope)
ENTRYPOINT_EXIT_NOT_EXECUTABLE = 126
ENTRYPOINT_EXIT_NOT_FOUND = 127


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
