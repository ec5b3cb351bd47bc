"""Value parsers: one raw YAML or env value in, the typed value out, or ValueError saying what is allowed.

They do not know which setting they parse, so one parser serves many settings and the caller (``load.py``)
prefixes each message with the setting's YAML key and environment variable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sidecar.envvars import DEFAULT_GATEWAY_URL, FALSY, TRUTHY, gateway_url
from sidecar.errors import ConfigError

_LABEL_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def text(v: Any) -> str:
    if not isinstance(v, str | int | float) or isinstance(v, bool):
        raise ValueError("expected a string")
    return str(v).strip()


def boolean(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    value = text(v).lower()
    if value in TRUTHY:
        return True
    if value in FALSY - {""}:
        return False
    raise ValueError("expected true/false (1/0, yes/no, on/off)")


def count(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError("expected a whole number")
    try:
        n = int(text(v))
    except ValueError:
        raise ValueError("expected a whole number") from None
    if n < 1:
        raise ValueError("must be at least 1")
    return n


def duration(v: Any) -> float:
    """Seconds, from ``30``, ``30s``, ``500ms``, ``10m`` or ``1h``."""
    match = _DURATION_RE.match(text(v).lower())
    if not match:
        raise ValueError("expected a duration such as 30, 30s, 500ms, 10m or 1h")
    return float(match.group(1)) * _UNIT_S[match.group(2) or "s"]


def words(v: Any) -> frozenset[str]:
    items = v if isinstance(v, list) else text(v).split(",")
    return frozenset(text(i) for i in items if text(i))


def choice(*allowed: str) -> Callable[[Any], str]:
    def parse(v: Any) -> str:
        value = text(v).lower()
        if value not in allowed:
            raise ValueError(f"expected one of: {', '.join(allowed)}")
        return value

    return parse


def label_key(v: Any) -> str:
    value = text(v)
    if not _LABEL_KEY_RE.match(value):
        raise ValueError("expected a Docker label key (letters, digits, '.', '-', '/', '_')")
    return value


def url(v: Any) -> str:
    value = text(v)
    try:
        return str(gateway_url("", value))
    except ConfigError:
        raise ValueError(
            f"expected a ws:// or wss:// URL, e.g. {DEFAULT_GATEWAY_URL}, or ws+unix:///path/to/gateway.sock"
        ) from None


def listen(v: Any) -> tuple[str, int] | None:
    value = text(v)
    if value.lower() in {"", "off", "none", "false"}:
        return None
    match = re.match(r"^(\[[0-9a-fA-F:]+\]|[^:\s]*):(\d{1,5})$", value)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise ValueError("expected host:port (e.g. 127.0.0.1:9477, 0.0.0.0:9477, [::]:9477) or off")
    return match.group(1).strip("[]") or "0.0.0.0", int(match.group(2))  # noqa: S104 — the user asked


def environment(v: Any) -> str:
    value = text(v)
    if value and not re.match(r"^[A-Za-z0-9._-]+$", value):
        raise ValueError("expected a short name such as dev, staging or production")
    return value
