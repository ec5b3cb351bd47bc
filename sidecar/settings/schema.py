"""The table of settings: each name (its YAML key), its parser, its default and its environment variable.

One table so that the YAML keys, the variables, ``config --print``, ``docs/policy.md`` and every error
message name a setting the same way; adding a setting starts here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sidecar import envvars
from sidecar.settings import parse
from sidecar.settings.model import KubernetesSettings, Mode, PolicySettings, Settings

CONFIG_ENV_VAR = envvars.PAIRING_CONFIG.name
ENV_PREFIX = envvars.PAIRING_PREFIX

# name -> (parser, default, environment variable). Names are the YAML keys.
SPEC: dict[str, tuple[Callable[[Any], Any], Any, str]] = {
    "gateway_url": (parse.url, Settings.gateway_url, envvars.GATEWAY_URL.name),
    "gateway_token": (parse.text, None, envvars.GATEWAY_TOKEN.name),
    "gateway_token_file": (parse.text, None, envvars.pairing_var("gateway_token_file")),
    "state_dir": (parse.text, str(Settings.state_dir), envvars.pairing_var("state_dir")),
    "mode": (parse.choice(*(m.value for m in Mode)), "strict", envvars.pairing_var("mode")),
    "environment": (parse.environment, "", envvars.pairing_var("environment")),
    "project": (parse.text, "auto", envvars.pairing_var("project")),
    "on_check_failure": (parse.choice("reject", "ignore"), "reject", envvars.pairing_var("on_check_failure")),
    "allow_admin_scope": (parse.boolean, False, envvars.pairing_var("allow_admin_scope")),
    "allow_node_role": (parse.boolean, False, envvars.pairing_var("allow_node_role")),
    "allow_node_admin_commands": (parse.boolean, False, envvars.pairing_var("allow_node_admin_commands")),
    "label_opt_in": (parse.label_key, PolicySettings.label_opt_in, envvars.pairing_var("label_opt_in")),
    "label_opt_in_value": (parse.text, "true", envvars.pairing_var("label_opt_in_value")),
    "label_identity_path": (
        parse.label_key,
        PolicySettings.label_identity_path,
        envvars.pairing_var("label_identity_path"),
    ),
    "label_roles": (parse.label_key, PolicySettings.label_roles, envvars.pairing_var("label_roles")),
    "label_scopes": (parse.label_key, PolicySettings.label_scopes, envvars.pairing_var("label_scopes")),
    "label_node_commands": (
        parse.label_key,
        PolicySettings.label_node_commands,
        envvars.pairing_var("label_node_commands"),
    ),
    "default_identity_path": (
        parse.text,
        Settings.default_identity_path,
        envvars.pairing_var("default_identity_path"),
    ),
    "default_roles": (parse.words, PolicySettings.default_roles, envvars.pairing_var("default_roles")),
    "default_scopes": (parse.words, PolicySettings.default_scopes, envvars.pairing_var("default_scopes")),
    "rate_limit_per_container": (parse.count, 3, envvars.pairing_var("rate_limit_per_container")),
    "rate_limit_global": (parse.count, 30, envvars.pairing_var("rate_limit_global")),
    "rate_limit_window": (parse.duration, 60.0, envvars.pairing_var("rate_limit_window")),
    "churn_threshold": (parse.count, 4, envvars.pairing_var("churn_threshold")),
    "reconcile_interval": (parse.duration, 30.0, envvars.pairing_var("reconcile_interval")),
    "exit_after_gateway_loss": (parse.duration, 120.0, envvars.pairing_var("exit_after_gateway_loss")),
    "dev_approve_all_for": (parse.duration, 600.0, envvars.pairing_var("dev_approve_all_for")),
    "dev_approve_all_max": (parse.count, 20, envvars.pairing_var("dev_approve_all_max")),
    "audit_log": (parse.text, "-", envvars.pairing_var("audit_log")),
    "listen": (parse.listen, "127.0.0.1:9477", envvars.pairing_var("listen")),
    "json_logs": (parse.boolean, False, envvars.pairing_var("json_logs")),
    "log_level": (
        parse.choice("debug", "info", "warning", "error"),
        "info",
        envvars.pairing_var("log_level"),
    ),
    # Which workloads count: a Docker engine's containers or a Kubernetes API's pods (docs/kubernetes.md).
    "source": (parse.choice("auto", "docker", "kubernetes"), "auto", envvars.pairing_var("source")),
    "namespaces": (parse.words, "", envvars.pairing_var("namespaces")),
    "enroll_listen": (parse.listen, "off", envvars.pairing_var("enroll_listen")),
    "enroll_audience": (
        parse.text,
        KubernetesSettings.enroll_audience,
        envvars.pairing_var("enroll_audience"),
    ),
    "enroll_service_accounts": (parse.words, "", envvars.pairing_var("enroll_service_accounts")),
    "enroll_configmap": (
        parse.text,
        KubernetesSettings.enroll_configmap,
        envvars.pairing_var("enroll_configmap"),
    ),
    "enroll_rate_limit": (parse.count, 10, envvars.pairing_var("enroll_rate_limit")),
}
SETTING_NAMES = tuple(SPEC)
FORBIDDEN_ENV = envvars.PAIRING_FORBIDDEN  # the trusted flag is not a setting


def env_var(name: str) -> str:
    """The environment variable that overrides setting ``name``."""
    return SPEC[name][2]


def where(name: str) -> str:
    """How every message names a setting: its name, YAML key and environment variable."""
    return f"setting {name!r} (YAML key {name}, env {SPEC[name][2]})"
