"""Pre-pairing: pair an agent's device on its behalf before the agent's first connect (issue 12).

Why: OpenClaw's node host stops reconnecting after "pairing required" and waits for a human to restart it,
so an approval that arrives *after* the agent's first connect leaves it idle. The identity step (compose
``identity-init``, a Kubernetes init container, or ``openclaw-entrypoint -- CMD``) therefore connects first,
with the agent's key and exactly the role, scopes and client metadata the agent will present, and waits
until the request is approved (by the sidecar, or a human). The agent's own connect is then neither a new
request nor an upgrade: it is admitted at its first attempt.

Layer: above identity and gateway (docs/DESIGN.md); ``entrypoint.py`` imports it lazily, only when
``OPENCLAW_PREPAIR_ROLE`` is set, so the identity step still works without a gateway or ``websockets``.
"""

from __future__ import annotations

from sidecar.prepair.config import PrepairConfig, parse_prepair
from sidecar.prepair.wait import PrepairResult, prepair

__all__ = ["PrepairConfig", "PrepairResult", "parse_prepair", "prepair"]
