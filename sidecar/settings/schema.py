"""The table of settings: each name (its YAML key), its parser, its default and its environment variable.

One table so that the YAML keys, the variables, ``config --print``, ``docs/policy.md`` and every error
message name a setting the same way; adding a setting starts here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sidecar.settings import parse
from sidecar.settings.model import Mode, PolicySettings, Settings

CONFIG_ENV_VAR = "OPENCLAW_PAIRING_CONFIG"
ENV_PREFIX = "OPENCLAW_PAIRING_"

# name -> (parser, default, environment variable). Names are the YAML keys.
SPEC: dict[str, tuple[Callable[[Any], Any], Any, str]] = {
    "gateway_url": (parse.url, Settings.gateway_url, "OPENCLAW_GATEWAY_URL"),
    "gateway_token": (parse.text, None, "OPENCLAW_GATEWAY_TOKEN"),
    "gateway_token_file": (parse.text, None, ENV_PREFIX + "GATEWAY_TOKEN_FILE"),
    "state_dir": (parse.text, str(Settings.state_dir), ENV_PREFIX + "STATE_DIR"),
    "mode": (parse.choice(*(m.value for m in Mode)), "strict", ENV_PREFIX + "MODE"),
    "environment": (parse.environment, "", ENV_PREFIX + "ENVIRONMENT"),
    "project": (parse.text, "auto", ENV_PREFIX + "PROJECT"),
    "on_check_failure": (parse.choice("reject", "ignore"), "reject", ENV_PREFIX + "ON_CHECK_FAILURE"),
    "allow_admin_scope": (parse.boolean, False, ENV_PREFIX + "ALLOW_ADMIN_SCOPE"),
    "allow_node_role": (parse.boolean, False, ENV_PREFIX + "ALLOW_NODE_ROLE"),
    "label_opt_in": (parse.label_key, PolicySettings.label_opt_in, ENV_PREFIX + "LABEL_OPT_IN"),
    "label_opt_in_value": (parse.text, "true", ENV_PREFIX + "LABEL_OPT_IN_VALUE"),
    "label_identity_path": (
        parse.label_key,
        PolicySettings.label_identity_path,
        ENV_PREFIX + "LABEL_IDENTITY_PATH",
    ),
    "label_roles": (parse.label_key, PolicySettings.label_roles, ENV_PREFIX + "LABEL_ROLES"),
    "label_scopes": (parse.label_key, PolicySettings.label_scopes, ENV_PREFIX + "LABEL_SCOPES"),
    "default_identity_path": (
        parse.text,
        Settings.default_identity_path,
        ENV_PREFIX + "DEFAULT_IDENTITY_PATH",
    ),
    "default_roles": (parse.words, PolicySettings.default_roles, ENV_PREFIX + "DEFAULT_ROLES"),
    "default_scopes": (parse.words, PolicySettings.default_scopes, ENV_PREFIX + "DEFAULT_SCOPES"),
    "rate_limit_per_container": (parse.count, 3, ENV_PREFIX + "RATE_LIMIT_PER_CONTAINER"),
    "rate_limit_global": (parse.count, 30, ENV_PREFIX + "RATE_LIMIT_GLOBAL"),
    "rate_limit_window": (parse.duration, 60.0, ENV_PREFIX + "RATE_LIMIT_WINDOW"),
    "churn_threshold": (parse.count, 4, ENV_PREFIX + "CHURN_THRESHOLD"),
    "reconcile_interval": (parse.duration, 30.0, ENV_PREFIX + "RECONCILE_INTERVAL"),
    "exit_after_gateway_loss": (parse.duration, 120.0, ENV_PREFIX + "EXIT_AFTER_GATEWAY_LOSS"),
    "dev_approve_all_for": (parse.duration, 600.0, ENV_PREFIX + "DEV_APPROVE_ALL_FOR"),
    "dev_approve_all_max": (parse.count, 20, ENV_PREFIX + "DEV_APPROVE_ALL_MAX"),
    "audit_log": (parse.text, "-", ENV_PREFIX + "AUDIT_LOG"),
    "listen": (parse.listen, "127.0.0.1:9477", ENV_PREFIX + "LISTEN"),
    "json_logs": (parse.boolean, False, ENV_PREFIX + "JSON_LOGS"),
    "log_level": (parse.choice("debug", "info", "warning", "error"), "info", ENV_PREFIX + "LOG_LEVEL"),
}
SETTING_NAMES = tuple(SPEC)
FORBIDDEN_ENV = (ENV_PREFIX + "TRUSTED", ENV_PREFIX + "TRUSTED_ENV")  # the trusted flag is not a setting


def env_var(name: str) -> str:
    """The environment variable that overrides setting ``name``."""
    return SPEC[name][2]


def where(name: str) -> str:
    """How every message names a setting: its name, YAML key and environment variable."""
    return f"setting {name!r} (YAML key {name}, env {SPEC[name][2]})"
