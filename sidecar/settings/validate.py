"""Rules no single value can check: what is not a setting at all, and combinations that are wrong together.

Kept apart from parsing so the rules that guard against approving the wrong things read as one list;
each message names every setting involved by its YAML key and environment variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sidecar.settings.model import PRIVILEGED_ROLE, PRIVILEGED_SCOPE, PRODUCTION_NAMES, Mode
from sidecar.settings.schema import FORBIDDEN_ENV, SETTING_NAMES, SPEC, where
from sidecar.trust import TRUSTED_ENV_VAR


def not_settings(raw: Mapping[str, Any], environ: Mapping[str, str], path: Path | None) -> list[str]:
    """File keys and variables that are not settings: the trusted flag in the wrong place, unknown keys."""
    problems: list[str] = []
    if "trusted" in raw or TRUSTED_ENV_VAR.lower() in raw:
        problems.append(
            f"config file {path}: 'trusted' cannot be set in the config file; the trusted-environment flag "
            f"comes only from the environment variable {TRUSTED_ENV_VAR} (1/true/yes/on)"
        )
    problems += [
        f"{var} is not a setting: the trusted flag comes only from {TRUSTED_ENV_VAR}"
        for var in FORBIDDEN_ENV
        if var in environ
    ]
    for key in sorted(k for k in raw if k not in SPEC and k not in {"trusted", TRUSTED_ENV_VAR.lower()}):
        problems.append(f"config file {path}: unknown key {key!r}; known keys: {', '.join(SETTING_NAMES)}")
    return problems


def conflicts(v: Mapping[str, Any], trusted: bool) -> list[str]:
    """Combinations that are each valid alone but wrong together."""
    out: list[str] = []
    mode, env = v["mode"], v["environment"]
    if mode == Mode.DEV_APPROVE_ALL:
        if env.lower() in PRODUCTION_NAMES:
            out.append(
                f"{where('mode')} is dev-approve-all but {where('environment')} is {env!r}: "
                "dev-approve-all approves anything on the project networks and refuses to run in production"
            )
        if not trusted:
            out.append(f"{where('mode')} dev-approve-all requires the trusted flag {TRUSTED_ENV_VAR}=1")
        if v["project"] == "*":
            out.append(
                f"{where('mode')} is dev-approve-all but {where('project')} is '*': dev mode approves "
                "what is on ONE compose project's networks; name the project (or leave it 'auto' in compose)"
            )
    if mode == Mode.IP and (v["allow_admin_scope"] or v["allow_node_role"] or v["allow_node_admin_commands"]):
        out.append(
            f"{where('mode')} is ip, which cannot prove which device is asking, so "
            f"{where('allow_admin_scope')}, {where('allow_node_role')} and "
            f"{where('allow_node_admin_commands')} must stay false (use mode strict)"
        )
    if v["allow_node_admin_commands"] and not v["allow_node_role"]:
        out.append(
            f"{where('allow_node_admin_commands')} is on but {where('allow_node_role')} is off: a node's "
            "commands are approved only for a device the sidecar may approve as a node"
        )
    if PRIVILEGED_SCOPE in v["default_scopes"] and not v["allow_admin_scope"]:
        out.append(f"{where('default_scopes')} contains {PRIVILEGED_SCOPE} but allow_admin_scope is false")
    if PRIVILEGED_ROLE in v["default_roles"] and not v["allow_node_role"]:
        out.append(f"{where('default_roles')} contains {PRIVILEGED_ROLE} but allow_node_role is false")
    if not v["default_roles"]:
        out.append(f"{where('default_roles')} must name at least one role (e.g. operator)")
    keys = ["label_opt_in", "label_identity_path", "label_roles", "label_scopes", "label_node_commands"]
    if len({v[k] for k in keys}) != len(keys):
        out.append(f"label keys must differ: {', '.join(f'{k}={v[k]}' for k in keys)}")
    if not v["label_opt_in_value"]:
        out.append(f"{where('label_opt_in_value')} must not be empty")
    if v["gateway_token"] and v["gateway_token_file"]:
        out.append(f"set only one of {where('gateway_token')} and {where('gateway_token_file')}")
    if v["exit_after_gateway_loss"] and v["exit_after_gateway_loss"] < 10.0:
        out.append(f"{where('exit_after_gateway_loss')} must be 0 (never) or at least 10s")
    if not 1.0 <= v["reconcile_interval"] <= 3600.0:
        out.append(f"{where('reconcile_interval')} must be between 1s and 1h")
    if not 1.0 <= v["rate_limit_window"] <= 86400.0:
        out.append(f"{where('rate_limit_window')} must be between 1s and 24h")
    if not 1.0 <= v["dev_approve_all_for"] <= 86400.0:
        out.append(f"{where('dev_approve_all_for')} must be between 1s and 24h (it is a time box)")
    if (
        v["project"] != "auto"
        and v["project"] != "*"
        and not re.match(r"^[a-z0-9][a-z0-9_-]*$", v["project"])
    ):
        out.append(f"{where('project')} must be auto, * (any project) or a compose project name")
    return out
