"""The sidecar's configuration: one frozen, validated object built once at start (containerboot style).

Sources, later ones win: built-in defaults → the YAML file (``--config`` / ``OPENCLAW_PAIRING_CONFIG``) →
environment overrides. Every setting has one flat name; its YAML key is that name and its environment
variable is ``OPENCLAW_PAIRING_<NAME>`` (upper case), except the two gateway settings shared with
OpenClaw itself (``OPENCLAW_GATEWAY_URL``, ``OPENCLAW_GATEWAY_TOKEN``). An empty variable or a YAML key
without a value counts as unset. ``docs/policy.md`` has the table.

Why so strict: a pairing approver that silently runs with a mistyped setting approves the wrong things.
So unknown YAML keys, malformed values and conflicting combinations all fail start-up, with every
problem listed at once and each naming the YAML key, the environment variable and what is allowed.

The trusted-environment flag is deliberately *not* a setting: it comes only from
``sidecar.trust.is_trusted(environ)``, and a ``trusted`` key in the file is an error that says so.

The parts: ``model`` (the frozen objects everyone reads), ``schema`` (the table of names, defaults and
variables), ``parse`` (one raw value → typed value), ``validate`` (rules across settings and sources),
``load`` (precedence, collecting every problem, building the object).
"""

import os
from collections.abc import Mapping
from pathlib import Path

from sidecar.settings.model import (
    PRIVILEGED_ROLE,
    PRIVILEGED_SCOPE,
    PRODUCTION_NAMES,
    KubernetesSettings,
    Mode,
    PolicySettings,
    Settings,
)
from sidecar.settings.schema import CONFIG_ENV_VAR, ENV_PREFIX, SETTING_NAMES, env_var


def load_settings(
    environ: Mapping[str, str] | None = None, config_path: str | Path | None = None
) -> Settings:
    """Build and validate the settings; raises ConfigError listing every problem found."""
    from sidecar.settings.load import load  # yaml is imported there, only when settings are loaded

    return load(os.environ if environ is None else environ, config_path)


__all__ = [
    "CONFIG_ENV_VAR",
    "ENV_PREFIX",
    "PRIVILEGED_ROLE",
    "PRIVILEGED_SCOPE",
    "PRODUCTION_NAMES",
    "SETTING_NAMES",
    "KubernetesSettings",
    "Mode",
    "PolicySettings",
    "Settings",
    "env_var",
    "load_settings",
]
