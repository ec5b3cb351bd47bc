"""What pre-pairing presents, from the environment: role, scopes and client metadata, plus the timeout.

Defaults per role are what the real OpenClaw clients send (measured on 2026.2.26, 2026.7.35 and 2026.9.6,
docs/identity.md "Pre-pairing"): the node host (``openclaw node run``) connects as ``node-host``/``node``
with role ``node``, no scopes, platform ``linux`` and — from 2026.3 on — deviceFamily ``Linux``; the
operator CLI as ``cli``/``cli``. Only platform and deviceFamily are pinned at approval (a difference later
is a ``metadata-upgrade``), role and scopes must be covered; all of them are presented exactly anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sidecar import envvars as env
from sidecar.errors import ConfigError
from sidecar.identity.detect import installed_version, parse_version

# role -> (client id, client mode, default scopes)
ROLE_DEFAULTS: Mapping[str, tuple[str, str, tuple[str, ...]]] = {
    "node": ("node-host", "node", ()),
    "operator": ("cli", "cli", ("operator.read", "operator.write")),
}
FIRST_WITH_DEVICE_FAMILY = (2026, 3, 0)  # 2026.2.26 sends none; 2026.7.35 and 2026.9.6 send "Linux"
NO_DEVICE_FAMILY = "none"


@dataclass(frozen=True)
class PrepairConfig:
    url: str
    token: str | None
    role: str
    scopes: tuple[str, ...]
    client_id: str
    client_mode: str
    platform: str
    device_family: str | None
    display_name: str | None
    timeout_s: float
    release: str | None  # the agent's OpenClaw release the defaults were chosen for (None: unknown)

    def describe(self) -> str:
        family = self.device_family or "(none)"
        return (
            f"role={self.role} scopes={','.join(self.scopes) or '(none)'} client={self.client_id}/"
            f"{self.client_mode} platform={self.platform} deviceFamily={family}"
            + (f" displayName={self.display_name}" if self.display_name else "")
        )


def enabled(environ: Mapping[str, str]) -> bool:
    return env.PREPAIR_ROLE.is_set(environ)


def _release(environ: Mapping[str, str]) -> str | None:
    if env.VERSION.is_set(environ):
        return str(env.VERSION.raw(environ))
    found = installed_version(environ)
    return found[0] if found else None


def default_device_family(release: str | None) -> str | None:
    version = parse_version(release) if release else None
    if version is not None and version < FIRST_WITH_DEVICE_FAMILY:
        return None
    return "Linux"


def _timeout(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86_400:
        raise ConfigError(
            f"{env.PREPAIR_TIMEOUT.name}={raw!r} is not a number of seconds between 1 and 86400 (default 300)"
        )
    return value


def parse_prepair(environ: Mapping[str, str]) -> PrepairConfig:
    """The configuration, or ConfigError naming the variable. Call only when ``enabled``."""
    role: str = env.PREPAIR_ROLE.read(environ)
    client_id, client_mode, scopes = ROLE_DEFAULTS[role]
    if env.PREPAIR_SCOPES.is_set(environ):
        scopes = tuple(s for s in env.PREPAIR_SCOPES.raw(environ).replace(" ", ",").split(",") if s)
    if role == "node" and any(s.startswith("operator.") for s in scopes):
        raise ConfigError(
            f"{env.PREPAIR_SCOPES.name} names operator scopes but {env.PREPAIR_ROLE.name}=node: the node "
            "host asks for none; unset the scopes or pre-pair an operator"
        )
    release = _release(environ)
    family_raw = env.PREPAIR_DEVICE_FAMILY.raw(environ)
    if not family_raw:
        family = default_device_family(release)
    else:
        family = None if family_raw.lower() == NO_DEVICE_FAMILY else family_raw
    return PrepairConfig(
        url=env.GATEWAY_URL.read(environ),
        token=env.GATEWAY_TOKEN.raw(environ) or None,
        role=role,
        scopes=scopes,
        client_id=env.PREPAIR_CLIENT_ID.raw(environ) or client_id,
        client_mode=env.PREPAIR_CLIENT_MODE.raw(environ) or client_mode,
        platform=env.PREPAIR_PLATFORM.read(environ),
        device_family=family,
        display_name=env.PREPAIR_DISPLAY_NAME.raw(environ) or None,
        timeout_s=_timeout(env.PREPAIR_TIMEOUT.raw(environ) or env.PREPAIR_TIMEOUT.default),
        release=release,
    )
