"""Where each value comes from — default, then the YAML file, then the environment — and the object built.

Every problem (unreadable file, bad value, conflict) is collected before failing, so one start-up
attempt lists them all; only then are the frozen ``Settings`` built.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from sidecar.errors import ConfigError
from sidecar.settings.model import KubernetesSettings, Mode, PolicySettings, Settings
from sidecar.settings.schema import CONFIG_ENV_VAR, SPEC, where
from sidecar.settings.validate import conflicts, not_settings
from sidecar.trust import is_trusted


def read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read config file {path} ({CONFIG_ENV_VAR} / --config): {exc.strerror}"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a YAML mapping of setting: value")
    return data


def load(environ: Mapping[str, str], config_path: str | Path | None) -> Settings:
    path_text = str(config_path) if config_path is not None else environ.get(CONFIG_ENV_VAR, "").strip()
    path = Path(path_text) if path_text else None
    raw: dict[str, Any] = read_file(path) if path else {}
    problems = not_settings(raw, environ, path)

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, (parse, default, var) in SPEC.items():
        value, source = (default, "default")
        if raw.get(name) is not None:  # `key:` with no value counts as unset
            value, source = raw[name], "file"
        if environ.get(var, "").strip():  # so does VAR= (compose's ${VAR:-} passes empty strings)
            value, source = environ[var], "env"
        try:
            values[name] = parse(value) if source != "default" or isinstance(value, str) else value
        except ValueError as exc:
            shown = "" if name == "gateway_token" else f" (got {value!r})"  # never echo a secret
            problems.append(f"{where(name)} from {source}: {exc}{shown}")
            values[name] = parse(default) if isinstance(default, str) else default
        sources[name] = source

    trusted = is_trusted(environ)
    problems += conflicts(values, trusted)
    token = values["gateway_token"] or None
    if values["gateway_token_file"] and not problems:
        token = read_token(Path(values["gateway_token_file"]), problems)
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    return _build(values, sources, trusted=trusted, token=token, path=path)


def read_token(path: Path, problems: list[str]) -> str | None:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        problems.append(f"{where('gateway_token_file')}: cannot read {path}: {exc.strerror}")
        return None
    if not token:
        problems.append(f"{where('gateway_token_file')}: {path} is empty")
    return token or None


def _build(
    values: Mapping[str, Any],
    sources: dict[str, str],
    *,
    trusted: bool,
    token: str | None,
    path: Path | None,
) -> Settings:
    project = values["project"]
    policy = PolicySettings(
        mode=Mode(values["mode"]),
        project=None if project in {"auto", "*"} else project,
        project_auto=project == "auto",
        on_check_failure=values["on_check_failure"],
        allow_admin_scope=values["allow_admin_scope"],
        allow_node_role=values["allow_node_role"],
        allow_node_admin_commands=values["allow_node_admin_commands"],
        label_opt_in=values["label_opt_in"],
        label_opt_in_value=values["label_opt_in_value"],
        label_identity_path=values["label_identity_path"],
        label_roles=values["label_roles"],
        label_scopes=values["label_scopes"],
        label_node_commands=values["label_node_commands"],
        default_roles=values["default_roles"],
        default_scopes=values["default_scopes"],
        rate_limit_per_container=values["rate_limit_per_container"],
        rate_limit_global=values["rate_limit_global"],
        rate_window_ms=round(values["rate_limit_window"] * 1000),
        churn_threshold=values["churn_threshold"],
        dev_window_ms=round(values["dev_approve_all_for"] * 1000),
        dev_max_approvals=values["dev_approve_all_max"],
    )
    return Settings(
        gateway_url=values["gateway_url"],
        gateway_token=token,
        state_dir=Path(values["state_dir"]),
        environment=values["environment"],
        trusted=trusted,
        policy=policy,
        default_identity_path=values["default_identity_path"],
        reconcile_interval_s=values["reconcile_interval"],
        exit_after_gateway_loss_s=values["exit_after_gateway_loss"],
        audit_log=values["audit_log"] or "-",
        listen=values["listen"],
        json_logs=values["json_logs"],
        log_level=values["log_level"].upper(),
        config_path=path,
        sources=sources,
        source=values["source"],
        kubernetes=KubernetesSettings(
            namespaces=values["namespaces"],
            enroll_listen=values["enroll_listen"],
            enroll_audience=values["enroll_audience"],
            enroll_service_accounts=values["enroll_service_accounts"],
            enroll_configmap=values["enroll_configmap"],
            enroll_rate_limit=values["enroll_rate_limit"],
        ),
    )
