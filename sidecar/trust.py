"""The trusted-environment flag: the master gate for every approval this project sends.

Only the process environment can set it (never a config file), and only an explicit truthy spelling
counts: anything else, including typos and empty values, means "not trusted" — fail closed. The variable
and its parser live in ``sidecar.envvars`` with every other one.
"""

from __future__ import annotations

from sidecar.envvars import TRUSTED_ENV, TRUTHY, is_trusted

TRUSTED_ENV_VAR = TRUSTED_ENV.name

__all__ = ["TRUSTED_ENV_VAR", "TRUTHY", "is_trusted"]
