"""Gateway addresses: the ws:// and wss:// URLs OpenClaw serves, plus ``ws+unix://`` for a local socket.

Why a unix socket: the gateway treats a loopback peer as *local* (the sidecar then needs no device and no
pairing of its own). Sharing the gateway container's network namespace gives loopback but ties the
sidecar's life to that namespace — a Docker engine restart that starts the sidecar first leaves it dead
("cannot join network of a non running container"). The gateway container instead forwards a unix socket
on a volume to its own loopback; the sidecar keeps no network at all, and whatever order containers start
in, it simply reconnects when the socket answers.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from sidecar.envvars import DEFAULT_GATEWAY_URL
from sidecar.errors import ConfigError

UNIX_SCHEME = "ws+unix"
_HINT = (
    f"set OPENCLAW_GATEWAY_URL or --url (default {DEFAULT_GATEWAY_URL}; ws+unix:///path/to.sock for a socket)"
)


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == UNIX_SCHEME:
        if not unix_socket_path(url).startswith("/"):
            raise ConfigError(
                f"gateway URL {url!r} needs an absolute socket path (ws+unix:///run/x.sock): {_HINT}"
            )
        return url
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ConfigError(f"gateway URL {url!r} is not a ws://, wss:// or ws+unix:// URL: {_HINT}")
    return url


def unix_socket_path(url: str) -> str:
    """The socket path of a ``ws+unix://`` URL, '' for any other URL."""
    parts = urlsplit(url)
    if parts.scheme != UNIX_SCHEME:
        return ""
    return unquote(parts.netloc + parts.path)


def is_local_url(url: str) -> bool:
    """True where the gateway will see a loopback peer: 127.x, ::1, localhost, or its forwarded socket."""
    if urlsplit(url).scheme == UNIX_SCHEME:
        return True
    host = (urlsplit(url).hostname or "").lower()
    return host in {"localhost", "::1"} or host.startswith("127.")
