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
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from sidecar.errors import ConfigError
from sidecar.trust import TRUSTED_ENV_VAR, is_trusted

CONFIG_ENV_VAR = "OPENCLAW_PAIRING_CONFIG"
ENV_PREFIX = "OPENCLAW_PAIRING_"
PRODUCTION_NAMES = frozenset({"production", "prod"})
PRIVILEGED_SCOPE = "operator.admin"
PRIVILEGED_ROLE = "node"
_LABEL_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


class Mode(StrEnum):
    STRICT = "strict"  # identity (deviceId + publicKey) of exactly one labelled container
    IP = "ip"  # weaker: remoteIp of exactly one labelled container
    DEV_APPROVE_ALL = "dev-approve-all"  # anything on the project networks, time-boxed, dev only


@dataclass(frozen=True)
class PolicySettings:
    """What the pure policy needs; nothing here does I/O. Durations are milliseconds (policy time)."""

    mode: Mode = Mode.STRICT
    project: str | None = None  # compose project a container must be in; None = any project
    project_auto: bool = True  # "auto": the approver fills in the sidecar's own project
    on_check_failure: str = "reject"  # reject | ignore (for a labelled container's failing request)
    allow_admin_scope: bool = False
    allow_node_role: bool = False
    label_opt_in: str = "openclaw.pairing.auto-approve"
    label_opt_in_value: str = "true"
    label_identity_path: str = "openclaw.pairing.identity-path"
    label_roles: str = "openclaw.pairing.roles"
    label_scopes: str = "openclaw.pairing.scopes"
    default_roles: frozenset[str] = frozenset({"operator"})
    default_scopes: frozenset[str] = frozenset({"operator.read", "operator.write"})
    rate_limit_per_container: int = 3
    rate_limit_global: int = 30
    rate_window_ms: int = 60_000
    churn_threshold: int = 4
    dev_window_ms: int = 600_000
    dev_max_approvals: int = 20

    def for_own_project(self, own_project: str | None) -> PolicySettings:
        """Resolve ``project: auto`` once the sidecar knows its own compose project (None: not in one)."""
        return replace(self, project=own_project, project_auto=False) if self.project_auto else self


@dataclass(frozen=True)
class Settings:
    gateway_url: str = "ws://127.0.0.1:18789"
    gateway_token: str | None = field(default=None, repr=False)
    state_dir: Path = Path("/var/lib/openclaw-pairing")
    environment: str = ""
    trusted: bool = False
    policy: PolicySettings = field(default_factory=PolicySettings)
    default_identity_path: str = "/home/node/.openclaw/identity/device.pub.json"
    reconcile_interval_s: float = 30.0
    audit_log: str = "-"
    listen: tuple[str, int] | None = ("127.0.0.1", 9477)
    json_logs: bool = False
    log_level: str = "INFO"
    config_path: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict)  # setting name -> default | file | env

    @property
    def mode(self) -> Mode:
        return self.policy.mode

    @property
    def is_production(self) -> bool:
        return self.environment.lower() in PRODUCTION_NAMES

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, config_path: str | Path | None = None
    ) -> Settings:
        """Build and validate the settings; raises ConfigError listing every problem found."""
        return _load(os.environ if environ is None else environ, config_path)

    def redacted(self) -> dict[str, Any]:
        """The effective configuration for ``config --print``: secrets replaced, sources shown."""
        p = self.policy
        return {
            "config_file": str(self.config_path) if self.config_path else None,
            "trusted": self.trusted,
            "trusted_from": f"{TRUSTED_ENV_VAR} (environment only)",
            "gateway_url": self.gateway_url,
            "gateway_token": "<redacted>" if self.gateway_token else None,
            "state_dir": str(self.state_dir),
            "mode": str(p.mode),
            "environment": self.environment,
            "project": "*" if p.project is None and not p.project_auto else (p.project or "auto"),
            "on_check_failure": p.on_check_failure,
            "allow_admin_scope": p.allow_admin_scope,
            "allow_node_role": p.allow_node_role,
            "label_opt_in": p.label_opt_in,
            "label_opt_in_value": p.label_opt_in_value,
            "label_identity_path": p.label_identity_path,
            "label_roles": p.label_roles,
            "label_scopes": p.label_scopes,
            "default_identity_path": self.default_identity_path,
            "default_roles": sorted(p.default_roles),
            "default_scopes": sorted(p.default_scopes),
            "rate_limit_per_container": p.rate_limit_per_container,
            "rate_limit_global": p.rate_limit_global,
            "rate_limit_window": f"{p.rate_window_ms / 1000:g}s",
            "churn_threshold": p.churn_threshold,
            "reconcile_interval": f"{self.reconcile_interval_s:g}s",
            "dev_approve_all_for": f"{p.dev_window_ms / 1000:g}s",
            "dev_approve_all_max": p.dev_max_approvals,
            "audit_log": self.audit_log,
            "listen": f"{self.listen[0]}:{self.listen[1]}" if self.listen else "off",
            "json_logs": self.json_logs,
            "log_level": self.log_level,
            "sources": dict(self.sources),
        }


# --- value parsers: each takes the raw YAML/env value and returns the typed value or raises ValueError ---


def _text(v: Any) -> str:
    if not isinstance(v, str | int | float) or isinstance(v, bool):
        raise ValueError("expected a string")
    return str(v).strip()


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    text = _text(v).lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true/false (1/0, yes/no, on/off)")


def _count(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError("expected a whole number")
    try:
        n = int(_text(v))
    except ValueError:
        raise ValueError("expected a whole number") from None
    if n < 1:
        raise ValueError("must be at least 1")
    return n


_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(v: Any) -> float:
    """Seconds, from ``30``, ``30s``, ``500ms``, ``10m`` or ``1h``."""
    match = _DURATION_RE.match(_text(v).lower())
    if not match:
        raise ValueError("expected a duration such as 30, 30s, 500ms, 10m or 1h")
    return float(match.group(1)) * _UNIT_S[match.group(2) or "s"]


def _words(v: Any) -> frozenset[str]:
    items = v if isinstance(v, list) else _text(v).split(",")
    return frozenset(_text(i) for i in items if _text(i))


def _choice(*allowed: str) -> Callable[[Any], str]:
    def parse(v: Any) -> str:
        text = _text(v).lower()
        if text not in allowed:
            raise ValueError(f"expected one of: {', '.join(allowed)}")
        return text

    return parse


def _label_key(v: Any) -> str:
    text = _text(v)
    if not _LABEL_KEY_RE.match(text):
        raise ValueError("expected a Docker label key (letters, digits, '.', '-', '/', '_')")
    return text


def _url(v: Any) -> str:
    text = _text(v)
    if not re.match(r"^wss?://[^/\s]+", text):
        raise ValueError("expected a ws:// or wss:// URL, e.g. ws://127.0.0.1:18789")
    return text


def _listen(v: Any) -> tuple[str, int] | None:
    text = _text(v)
    if text.lower() in {"", "off", "none", "false"}:
        return None
    match = re.match(r"^(\[[0-9a-fA-F:]+\]|[^:\s]*):(\d{1,5})$", text)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise ValueError("expected host:port (e.g. 127.0.0.1:9477, 0.0.0.0:9477, [::]:9477) or off")
    return match.group(1).strip("[]") or "0.0.0.0", int(match.group(2))  # noqa: S104 — the user asked


def _environment(v: Any) -> str:
    text = _text(v)
    if text and not re.match(r"^[A-Za-z0-9._-]+$", text):
        raise ValueError("expected a short name such as dev, staging or production")
    return text


# name -> (parser, default, environment variable). Names are the YAML keys.
_SPEC: dict[str, tuple[Callable[[Any], Any], Any, str]] = {
    "gateway_url": (_url, Settings.gateway_url, "OPENCLAW_GATEWAY_URL"),
    "gateway_token": (_text, None, "OPENCLAW_GATEWAY_TOKEN"),
    "gateway_token_file": (_text, None, ENV_PREFIX + "GATEWAY_TOKEN_FILE"),
    "state_dir": (_text, str(Settings.state_dir), ENV_PREFIX + "STATE_DIR"),
    "mode": (_choice(*(m.value for m in Mode)), "strict", ENV_PREFIX + "MODE"),
    "environment": (_environment, "", ENV_PREFIX + "ENVIRONMENT"),
    "project": (_text, "auto", ENV_PREFIX + "PROJECT"),
    "on_check_failure": (_choice("reject", "ignore"), "reject", ENV_PREFIX + "ON_CHECK_FAILURE"),
    "allow_admin_scope": (_bool, False, ENV_PREFIX + "ALLOW_ADMIN_SCOPE"),
    "allow_node_role": (_bool, False, ENV_PREFIX + "ALLOW_NODE_ROLE"),
    "label_opt_in": (_label_key, PolicySettings.label_opt_in, ENV_PREFIX + "LABEL_OPT_IN"),
    "label_opt_in_value": (_text, "true", ENV_PREFIX + "LABEL_OPT_IN_VALUE"),
    "label_identity_path": (
        _label_key,
        PolicySettings.label_identity_path,
        ENV_PREFIX + "LABEL_IDENTITY_PATH",
    ),
    "label_roles": (_label_key, PolicySettings.label_roles, ENV_PREFIX + "LABEL_ROLES"),
    "label_scopes": (_label_key, PolicySettings.label_scopes, ENV_PREFIX + "LABEL_SCOPES"),
    "default_identity_path": (_text, Settings.default_identity_path, ENV_PREFIX + "DEFAULT_IDENTITY_PATH"),
    "default_roles": (_words, PolicySettings.default_roles, ENV_PREFIX + "DEFAULT_ROLES"),
    "default_scopes": (_words, PolicySettings.default_scopes, ENV_PREFIX + "DEFAULT_SCOPES"),
    "rate_limit_per_container": (_count, 3, ENV_PREFIX + "RATE_LIMIT_PER_CONTAINER"),
    "rate_limit_global": (_count, 30, ENV_PREFIX + "RATE_LIMIT_GLOBAL"),
    "rate_limit_window": (_duration, 60.0, ENV_PREFIX + "RATE_LIMIT_WINDOW"),
    "churn_threshold": (_count, 4, ENV_PREFIX + "CHURN_THRESHOLD"),
    "reconcile_interval": (_duration, 30.0, ENV_PREFIX + "RECONCILE_INTERVAL"),
    "dev_approve_all_for": (_duration, 600.0, ENV_PREFIX + "DEV_APPROVE_ALL_FOR"),
    "dev_approve_all_max": (_count, 20, ENV_PREFIX + "DEV_APPROVE_ALL_MAX"),
    "audit_log": (_text, "-", ENV_PREFIX + "AUDIT_LOG"),
    "listen": (_listen, "127.0.0.1:9477", ENV_PREFIX + "LISTEN"),
    "json_logs": (_bool, False, ENV_PREFIX + "JSON_LOGS"),
    "log_level": (_choice("debug", "info", "warning", "error"), "info", ENV_PREFIX + "LOG_LEVEL"),
}
SETTING_NAMES = tuple(_SPEC)
_FORBIDDEN_ENV = (ENV_PREFIX + "TRUSTED", ENV_PREFIX + "TRUSTED_ENV")


def env_var(name: str) -> str:
    """The environment variable that overrides setting ``name``."""
    return _SPEC[name][2]


def _where(name: str) -> str:
    return f"setting {name!r} (YAML key {name}, env {_SPEC[name][2]})"


def _read_file(path: Path) -> dict[str, Any]:
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


def _load(environ: Mapping[str, str], config_path: str | Path | None) -> Settings:
    path_text = str(config_path) if config_path is not None else environ.get(CONFIG_ENV_VAR, "").strip()
    path = Path(path_text) if path_text else None
    raw: dict[str, Any] = _read_file(path) if path else {}
    problems: list[str] = []
    if "trusted" in raw or TRUSTED_ENV_VAR.lower() in raw:
        problems.append(
            f"config file {path}: 'trusted' cannot be set in the config file; the trusted-environment flag "
            f"comes only from the environment variable {TRUSTED_ENV_VAR} (1/true/yes/on)"
        )
    problems += [
        f"{var} is not a setting: the trusted flag comes only from {TRUSTED_ENV_VAR}"
        for var in _FORBIDDEN_ENV
        if var in environ
    ]
    for key in sorted(k for k in raw if k not in _SPEC and k not in {"trusted", TRUSTED_ENV_VAR.lower()}):
        problems.append(f"config file {path}: unknown key {key!r}; known keys: {', '.join(SETTING_NAMES)}")

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, (parse, default, var) in _SPEC.items():
        value, source = (default, "default")
        if raw.get(name) is not None:  # `key:` with no value counts as unset
            value, source = raw[name], "file"
        if environ.get(var, "").strip():  # so does VAR= (compose's ${VAR:-} passes empty strings)
            value, source = environ[var], "env"
        try:
            values[name] = parse(value) if source != "default" or isinstance(value, str) else value
        except ValueError as exc:
            shown = "" if name == "gateway_token" else f" (got {value!r})"  # never echo a secret
            problems.append(f"{_where(name)} from {source}: {exc}{shown}")
            values[name] = parse(default) if isinstance(default, str) else default
        sources[name] = source

    trusted = is_trusted(environ)
    problems += _conflicts(values, trusted)
    token = values["gateway_token"] or None
    if values["gateway_token_file"] and not problems:
        token = _read_token(Path(values["gateway_token_file"]), problems)
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))

    project = values["project"]
    policy = PolicySettings(
        mode=Mode(values["mode"]),
        project=None if project in {"auto", "*"} else project,
        project_auto=project == "auto",
        on_check_failure=values["on_check_failure"],
        allow_admin_scope=values["allow_admin_scope"],
        allow_node_role=values["allow_node_role"],
        label_opt_in=values["label_opt_in"],
        label_opt_in_value=values["label_opt_in_value"],
        label_identity_path=values["label_identity_path"],
        label_roles=values["label_roles"],
        label_scopes=values["label_scopes"],
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
        audit_log=values["audit_log"] or "-",
        listen=values["listen"],
        json_logs=values["json_logs"],
        log_level=values["log_level"].upper(),
        config_path=path,
        sources=sources,
    )


def _read_token(path: Path, problems: list[str]) -> str | None:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        problems.append(f"{_where('gateway_token_file')}: cannot read {path}: {exc.strerror}")
        return None
    if not token:
        problems.append(f"{_where('gateway_token_file')}: {path} is empty")
    return token or None


def _conflicts(v: Mapping[str, Any], trusted: bool) -> list[str]:
    """Combinations that are each valid alone but wrong together."""
    out: list[str] = []
    mode, env = v["mode"], v["environment"]
    if mode == Mode.DEV_APPROVE_ALL:
        if env.lower() in PRODUCTION_NAMES:
            out.append(
                f"{_where('mode')} is dev-approve-all but {_where('environment')} is {env!r}: "
                "dev-approve-all approves anything on the project networks and refuses to run in production"
            )
        if not trusted:
            out.append(f"{_where('mode')} dev-approve-all requires the trusted flag {TRUSTED_ENV_VAR}=1")
    if mode == Mode.IP and (v["allow_admin_scope"] or v["allow_node_role"]):
        out.append(
            f"{_where('mode')} is ip, which cannot prove which device is asking, so "
            f"{_where('allow_admin_scope')} and {_where('allow_node_role')} must stay false (use mode strict)"
        )
    if PRIVILEGED_SCOPE in v["default_scopes"] and not v["allow_admin_scope"]:
        out.append(f"{_where('default_scopes')} contains {PRIVILEGED_SCOPE} but allow_admin_scope is false")
    if PRIVILEGED_ROLE in v["default_roles"] and not v["allow_node_role"]:
        out.append(f"{_where('default_roles')} contains {PRIVILEGED_ROLE} but allow_node_role is false")
    if not v["default_roles"]:
        out.append(f"{_where('default_roles')} must name at least one role (e.g. operator)")
    keys = ["label_opt_in", "label_identity_path", "label_roles", "label_scopes"]
    if len({v[k] for k in keys}) != len(keys):
        out.append(f"label keys must differ: {', '.join(f'{k}={v[k]}' for k in keys)}")
    if not v["label_opt_in_value"]:
        out.append(f"{_where('label_opt_in_value')} must not be empty")
    if v["gateway_token"] and v["gateway_token_file"]:
        out.append(f"set only one of {_where('gateway_token')} and {_where('gateway_token_file')}")
    if not 1.0 <= v["reconcile_interval"] <= 3600.0:
        out.append(f"{_where('reconcile_interval')} must be between 1s and 1h")
    if not 1.0 <= v["rate_limit_window"] <= 86400.0:
        out.append(f"{_where('rate_limit_window')} must be between 1s and 24h")
    if not 1.0 <= v["dev_approve_all_for"] <= 86400.0:
        out.append(f"{_where('dev_approve_all_for')} must be between 1s and 24h (it is a time box)")
    if (
        v["project"] != "auto"
        and v["project"] != "*"
        and not re.match(r"^[a-z0-9][a-z0-9_-]*$", v["project"])
    ):
        out.append(f"{_where('project')} must be auto, * (any project) or a compose project name")
    return out
