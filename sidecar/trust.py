"""The trusted-environment flag: the master gate for every approval this project sends.

Only the process environment can set it (never a config file), and only an explicit truthy spelling
counts: anything else, including typos and empty values, means "not trusted" — fail closed.
"""

from __future__ import annotations

from collections.abc import Mapping

TRUSTED_ENV_VAR = "OPENCLAW_TRUSTED_ENV"
TRUTHY = frozenset({"1", "true", "yes", "on"})


def is_trusted(environ: Mapping[str, str]) -> bool:
    return environ.get(TRUSTED_ENV_VAR, "").strip().lower() in TRUTHY
