"""Sub-agents: does this agent present its parent's device, and is that set up so it can work?

OpenClaw has no notion of inheriting a device (``gateway.session.inheritParentDevice`` does not exist;
the hazards check flags it). This project's ``OPENCLAW_INHERIT_PARENT_DEVICE=1`` makes openclaw-entrypoint
present the parent's key, read from the parent's slot mounted at ``OPENCLAW_PARENT_IDENTITY_DIR``. The
implication either way is what users ask about: inheriting means no approval of its own but one shared
device (same roles, same scopes, revoked together); not inheriting means every sub-agent container is a
device of its own that needs its own approval (label it for the sidecar).
"""

from __future__ import annotations

import os
from pathlib import Path

from sidecar.doctor.checks import Outcome
from sidecar.doctor.findings import Finding, finding
from sidecar.doctor.options import DoctorOptions
from sidecar.errors import IdentityError
from sidecar.identity.ensure import load_parent

OWN_DEVICE = (
    "not inheriting: this agent is its own device; each sub-agent container needs its own approval "
    "(label it openclaw.pairing.auto-approve=true for the sidecar, or set OPENCLAW_INHERIT_PARENT_DEVICE=1)"
)


def is_read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def check(opts: DoctorOptions) -> Outcome:
    if not opts.uses_entrypoint:
        return Outcome(
            "subagents", skipped="openclaw-entrypoint is not configured (no OPENCLAW_IDENTITY_DIR)"
        )
    if not opts.inherit:
        return Outcome("subagents", summary=OWN_DEVICE)
    parent = opts.parent_identity_dir
    if parent is None:
        seen = "OPENCLAW_INHERIT_PARENT_DEVICE=1 but OPENCLAW_PARENT_IDENTITY_DIR is not set"
        return Outcome("subagents", (finding("subagent.parent-identity-missing", seen, path="<dir>"),))
    try:
        identity = load_parent(parent)
    except IdentityError as exc:
        return Outcome("subagents", (finding("subagent.parent-identity-missing", str(exc), path=parent),))
    found: list[Finding] = [
        finding(
            "subagent.inherits-parent",
            f"OPENCLAW_INHERIT_PARENT_DEVICE=1: presents the parent's device {identity.device_id[:12]}… "
            f"from {parent}",
        )
    ]
    if not is_read_only(parent):
        found.append(finding("subagent.parent-writable", f"{parent} is on a writable mount", path=parent))
    return Outcome("subagents", tuple(found), f"inherits device {identity.device_id[:12]}… from {parent}")
