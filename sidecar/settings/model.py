"""The settings' shape: the frozen objects the rest of the sidecar reads, and the defaults they start from.

Nothing here parses or validates, so the pure policy (which needs ``PolicySettings`` and ``Mode``) and the
tests can build settings directly without pulling in YAML; ``schema.py`` publishes these defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from sidecar.envvars import DEFAULT_GATEWAY_URL
from sidecar.trust import TRUSTED_ENV_VAR

PRODUCTION_NAMES = frozenset({"production", "prod"})
PRIVILEGED_SCOPE = "operator.admin"
PRIVILEGED_ROLE = "node"


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
    allow_node_admin_commands: bool = False  # the sidecar's key of the two-key rule for admin node commands
    label_opt_in: str = "openclaw.pairing.auto-approve"
    label_opt_in_value: str = "true"
    label_identity_path: str = "openclaw.pairing.identity-path"
    label_roles: str = "openclaw.pairing.roles"
    label_scopes: str = "openclaw.pairing.scopes"
    label_node_commands: str = "openclaw.pairing.node-commands"
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
class KubernetesSettings:
    """The Kubernetes workload source and its enrollment endpoint (used when ``source`` is kubernetes)."""

    namespaces: frozenset[str] = frozenset()  # empty: the sidecar's own namespace
    enroll_listen: tuple[str, int] | None = None  # None: no enrollment endpoint (annotations only)
    enroll_audience: str = "openclaw-pairing"  # the projected ServiceAccount token's audience
    enroll_service_accounts: frozenset[str] = frozenset()  # empty: any ServiceAccount of the namespaces
    enroll_configmap: str = "openclaw-pairing-enrollments"  # empty: remember enrollments in memory only
    enroll_rate_limit: int = 10  # enrollment attempts per minute and client address


@dataclass(frozen=True)
class Settings:
    gateway_url: str = DEFAULT_GATEWAY_URL
    gateway_token: str | None = field(default=None, repr=False)
    state_dir: Path = Path("/var/lib/openclaw-pairing")
    environment: str = ""
    trusted: bool = False
    policy: PolicySettings = field(default_factory=PolicySettings)
    default_identity_path: str = "/home/node/.openclaw/identity/device.pub.json"
    reconcile_interval_s: float = 30.0
    exit_after_gateway_loss_s: float = 120.0  # 0: never
    audit_log: str = "-"
    listen: tuple[str, int] | None = ("127.0.0.1", 9477)
    json_logs: bool = False
    log_level: str = "INFO"
    config_path: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict)  # setting name -> default | file | env
    source: str = "auto"  # auto | docker | kubernetes: where workloads come from
    kubernetes: KubernetesSettings = field(default_factory=KubernetesSettings)

    @property
    def mode(self) -> Mode:
        return self.policy.mode

    @property
    def is_production(self) -> bool:
        return self.environment.lower() in PRODUCTION_NAMES

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
            "allow_node_admin_commands": p.allow_node_admin_commands,
            "label_opt_in": p.label_opt_in,
            "label_opt_in_value": p.label_opt_in_value,
            "label_identity_path": p.label_identity_path,
            "label_roles": p.label_roles,
            "label_scopes": p.label_scopes,
            "label_node_commands": p.label_node_commands,
            "default_identity_path": self.default_identity_path,
            "default_roles": sorted(p.default_roles),
            "default_scopes": sorted(p.default_scopes),
            "rate_limit_per_container": p.rate_limit_per_container,
            "rate_limit_global": p.rate_limit_global,
            "rate_limit_window": f"{p.rate_window_ms / 1000:g}s",
            "churn_threshold": p.churn_threshold,
            "reconcile_interval": f"{self.reconcile_interval_s:g}s",
            "exit_after_gateway_loss": f"{self.exit_after_gateway_loss_s:g}s",
            "dev_approve_all_for": f"{p.dev_window_ms / 1000:g}s",
            "dev_approve_all_max": p.dev_max_approvals,
            "audit_log": self.audit_log,
            "listen": f"{self.listen[0]}:{self.listen[1]}" if self.listen else "off",
            "json_logs": self.json_logs,
            "log_level": self.log_level,
            "source": self.source,
            "namespaces": sorted(self.kubernetes.namespaces),
            "enroll_listen": _listen(self.kubernetes.enroll_listen),
            "enroll_audience": self.kubernetes.enroll_audience,
            "enroll_service_accounts": sorted(self.kubernetes.enroll_service_accounts),
            "enroll_configmap": self.kubernetes.enroll_configmap,
            "enroll_rate_limit": self.kubernetes.enroll_rate_limit,
            "sources": dict(self.sources),
        }


def _listen(value: tuple[str, int] | None) -> str:
    return f"{value[0]}:{value[1]}" if value else "off"
