"""One exception hierarchy for the whole project (docker-py style).

Every error a user can see carries a message that names the file, setting or variable involved and
what to do. Callers branch on the class, never on the message text.
"""

from __future__ import annotations


class PairingError(Exception):
    """Base of every error this project raises on purpose."""


# --- configuration -------------------------------------------------------------------------------


class ConfigError(PairingError):
    """A setting is missing, malformed, or conflicts with another; the message names them."""


# --- identity ------------------------------------------------------------------------------------


class IdentityError(PairingError):
    """Something is wrong with a device identity on disk."""


class IdentityCorrupt(IdentityError):
    """An identity file or row exists but cannot be parsed or does not verify. It is kept as is."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class IdentityConflict(IdentityError):
    """Two identities exist where one is expected (e.g. the slot and the agent's state dir) and differ."""

    def __init__(self, message: str, *, device_ids: tuple[str, str]) -> None:
        super().__init__(message)
        self.device_ids = device_ids


class IdentityReadOnly(IdentityError):
    """An identity must be created or changed, but its location is read-only."""


# --- gateway -------------------------------------------------------------------------------------


class GatewayError(PairingError):
    """Base of errors talking to the OpenClaw gateway."""


class GatewayUnreachable(GatewayError):
    """TCP/WebSocket connection could not be established."""


class GatewayClosed(GatewayError):
    """The connection closed (after or during the handshake)."""

    def __init__(self, message: str, *, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class ProtocolError(GatewayError):
    """The gateway sent something this client cannot understand (malformed or unexpected frame)."""


class GatewayRequestError(GatewayError):
    """The gateway answered a request with ``ok: false``."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        details: dict[str, object] | None = None,
        retryable: bool = False,
        retry_after_ms: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.details = details or {}
        self.retryable = retryable
        self.retry_after_ms = retry_after_ms


class PairingRequired(GatewayRequestError):
    """This client's own device must be approved first (error B, close 1008)."""

    def __init__(self, message: str, *, request_id: str | None, reason: str, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.request_id = request_id
        self.reason = reason  # not-paired | role-upgrade | scope-upgrade | metadata-upgrade | ""


class DeviceIdentityRequired(GatewayRequestError):
    """The gateway requires a device identity this connection did not present (error A)."""


class AuthFailed(GatewayRequestError):
    """Shared token/password or device signature rejected."""


class MissingScope(GatewayRequestError):
    """The connection lacks a scope a method needs; ``scope`` names it when the gateway said."""

    def __init__(self, message: str, *, scope: str | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.scope = scope


class ProtocolMismatch(GatewayRequestError):
    """No protocol version both sides speak."""


class GatewayStarting(GatewayRequestError):
    """The gateway is still starting; retry after ``retry_after_ms``."""


class RequestTimeout(GatewayError):
    """No response to a request within its timeout."""


# --- pre-pairing ---------------------------------------------------------------------------------


class PrepairTimeout(PairingError):
    """Pre-pairing waited its whole timeout and the device is still not approved."""

    def __init__(self, message: str, *, request_id: str | None) -> None:
        super().__init__(message)
        self.request_id = request_id


class PrepairRefused(PairingError):
    """Pre-pairing: the gateway refused the connection for a reason waiting cannot fix (token, protocol)."""


# --- workload sources ----------------------------------------------------------------------------


class SourceError(PairingError):
    """A workload source (Docker, Kubernetes) failed or is unreachable."""
