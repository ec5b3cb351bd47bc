"""Every ``OPENCLAW_*`` variable this project reads or sets: name, default, parser, meaning — one home.

Why one table: the entrypoint, the sidecar's settings, doctor and the devices CLI used to read the same
variables four ways, and drifted (doctor took ``OPENCLAW_UID=abc`` as 1000 while the entrypoint refused
it). Now each reader asks its ``Var`` here, so a bad value is refused with the same message everywhere,
naming the variable and what to write instead. Standard library only: the entrypoint imports it in small
agent images, and it sits below every other layer.

``tests/unit/test_envvars.py`` checks that every ``OPENCLAW_*`` name mentioned in the code, compose files,
manifests and docs is declared here (names we only *pass* to OpenClaw or compose included), so a typo in
a message or a new undocumented variable fails the build.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sidecar.errors import ConfigError

TRUTHY = frozenset({"1", "true", "yes", "on"})
FALSY = frozenset({"0", "false", "no", "off", ""})
DEFAULT_GATEWAY_URL = "ws://127.0.0.1:18789"
LISTER_IDENTITY_FILE = "identity.json"  # the sidecar's / CLI's own device, in OPENCLAW_PAIRING_STATE_DIR
DEFAULT_UID = 1000  # the official OpenClaw image's `node` user
DEFAULT_GID = 1000
IDENTITY_FORMATS = ("auto", "json", "sqlite", "file")
ON_CONFLICT = ("fail", "replace-state")
PAIRING_PREFIX = "OPENCLAW_PAIRING_"
_URL_RE = re.compile(r"^(wss?://[^/\s]+|ws\+unix:///\S+)")

Parser = Callable[[str, str], Any]  # (variable name, raw value) -> value; ConfigError naming the variable


# --- parsers -------------------------------------------------------------------------------------------


def text(name: str, raw: str) -> str:
    return raw


def boolean(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in TRUTHY:
        return True
    if value in FALSY:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean: use 1/true/yes/on or 0/false/no/off")


def fail_closed_flag(name: str, raw: str) -> bool:
    """Only an explicit truthy spelling is on; typos and empty values are off, never an error."""
    return raw.strip().lower() in TRUTHY


def numeric_id(name: str, raw: str) -> int:
    try:
        number = int(raw, 10)
    except ValueError:
        number = -1
    if not 0 <= number < 2**32 - 1:
        raise ConfigError(f"{name}={raw!r} is not a numeric user/group id (e.g. 1000)")
    return number


def choice(*allowed: str) -> Parser:
    def parse(name: str, raw: str) -> str:
        if raw not in allowed:
            raise ConfigError(f"{name}={raw!r} is not one of: {', '.join(allowed)}")
        return raw

    return parse


def abs_path(name: str, raw: str) -> Path | None:
    return Path(os.path.abspath(raw)) if raw else None


def gateway_url(name: str, raw: str) -> str:
    if not _URL_RE.match(raw):
        raise ConfigError(
            f"{name}={raw!r} is not a gateway URL: use ws://host:port or wss://host:port (default "
            f"{DEFAULT_GATEWAY_URL}), or ws+unix:///path/to/gateway.sock"
        )
    return raw


# --- the table -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Var:
    """One variable. ``default`` is written as a user would write the value; ``owner`` says who reads it."""

    name: str
    owner: str  # entrypoint | sidecar | shared | openclaw | compose | build
    meaning: str
    default: str = ""
    parse: Parser = text

    def raw(self, env: Mapping[str, str]) -> str:
        return env.get(self.name, "").strip()

    def is_set(self, env: Mapping[str, str]) -> bool:
        return bool(self.raw(env))

    def read(self, env: Mapping[str, str], flag: str | None = None) -> Any:
        """The value: ``flag`` (a command-line override) if given, else the variable, else the default."""
        value = flag if flag is not None else (self.raw(env) or self.default)
        return self.parse(self.name, value)


def _v(name: str, owner: str, meaning: str, default: str = "", parse: Parser = text) -> Var:
    return Var(name, owner, meaning, default, parse)


# Shared by OpenClaw, the sidecar, the CLI and doctor.
GATEWAY_URL = _v(
    "OPENCLAW_GATEWAY_URL", "shared", "where the gateway listens", DEFAULT_GATEWAY_URL, gateway_url
)
GATEWAY_TOKEN = _v("OPENCLAW_GATEWAY_TOKEN", "shared", "the gateway's shared token")
TRUSTED_ENV = _v(
    "OPENCLAW_TRUSTED_ENV",
    "sidecar",
    "the master gate: approve for real (else observe)",
    "0",
    fail_closed_flag,
)
STATE_DIR = _v("OPENCLAW_STATE_DIR", "shared", "the agent's OpenClaw state dir", parse=abs_path)
VERSION = _v("OPENCLAW_VERSION", "shared", "the OpenClaw release the agent runs (decides identity storage)")
HOME = _v("OPENCLAW_HOME", "openclaw", "OpenClaw's home (state dir default: $OPENCLAW_HOME/.openclaw)")
PROFILE = _v("OPENCLAW_PROFILE", "openclaw", "OpenClaw profile (state dir .openclaw-<profile>)")
CONFIG_PATH = _v("OPENCLAW_CONFIG_PATH", "openclaw", "OpenClaw's config file (default $STATE/openclaw.json)")

# openclaw-entrypoint
IDENTITY_DIR = _v("OPENCLAW_IDENTITY_DIR", "entrypoint", "the identity volume", parse=abs_path)
DEVICE_ID = _v("OPENCLAW_DEVICE_ID", "entrypoint", "the slot (our feature, not OpenClaw's)")
IDENTITY_FORMAT = _v(
    "OPENCLAW_IDENTITY_FORMAT", "entrypoint", "identity storage", "auto", choice(*IDENTITY_FORMATS)
)
DEVICE_PRIVATE_KEY_FILE = _v(
    "OPENCLAW_DEVICE_PRIVATE_KEY_FILE", "entrypoint", "a key from a secret", parse=abs_path
)
INHERIT_PARENT_DEVICE = _v(
    "OPENCLAW_INHERIT_PARENT_DEVICE", "entrypoint", "present the parent's device (ours)", "0", boolean
)
PARENT_IDENTITY_DIR = _v(
    "OPENCLAW_PARENT_IDENTITY_DIR", "entrypoint", "the parent's slot dir", parse=abs_path
)
UID = _v("OPENCLAW_UID", "entrypoint", "the agent's user id", str(DEFAULT_UID), numeric_id)
GID = _v("OPENCLAW_GID", "entrypoint", "the agent's group id", str(DEFAULT_GID), numeric_id)
REQUIRE_PERSISTENT_IDENTITY = _v(
    "OPENCLAW_REQUIRE_PERSISTENT_IDENTITY", "entrypoint", "refuse an identity dir on no volume", "0", boolean
)
IDENTITY_ON_CONFLICT = _v(
    "OPENCLAW_IDENTITY_ON_CONFLICT", "entrypoint", "slot vs state disagree", "fail", choice(*ON_CONFLICT)
)
DEVICE_IDENTITY_FILE = _v(
    "OPENCLAW_DEVICE_IDENTITY_FILE", "entrypoint", "exported to the agent: the identity file written"
)

# Pre-pairing (sidecar/prepair, docs/identity.md "Pre-pairing"): the identity step connects with the agent's
# key and waits until the device is approved, so the agent's own first connect is admitted. Off unless
# OPENCLAW_PREPAIR_ROLE is set. Defaults per role are what the real OpenClaw clients send (measured).
PREPAIR_ROLES = ("node", "operator")
PREPAIR_ROLE = _v(
    "OPENCLAW_PREPAIR_ROLE",
    "entrypoint",
    "pre-pair the device for this role (unset: off)",
    parse=choice(*PREPAIR_ROLES),
)
PREPAIR_SCOPES = _v("OPENCLAW_PREPAIR_SCOPES", "entrypoint", "scopes the agent asks for (a list)")
PREPAIR_CLIENT_ID = _v("OPENCLAW_PREPAIR_CLIENT_ID", "entrypoint", "the agent's client.id (node-host, cli)")
PREPAIR_CLIENT_MODE = _v("OPENCLAW_PREPAIR_CLIENT_MODE", "entrypoint", "the agent's client.mode (node, cli)")
PREPAIR_PLATFORM = _v("OPENCLAW_PREPAIR_PLATFORM", "entrypoint", "client.platform the agent sends", "linux")
PREPAIR_DEVICE_FAMILY = _v(
    "OPENCLAW_PREPAIR_DEVICE_FAMILY", "entrypoint", "client.deviceFamily the agent sends ('none': omitted)"
)
PREPAIR_DISPLAY_NAME = _v("OPENCLAW_PREPAIR_DISPLAY_NAME", "entrypoint", "client.displayName the agent sends")
PREPAIR_TIMEOUT = _v("OPENCLAW_PREPAIR_TIMEOUT", "entrypoint", "seconds to wait for the approval", "300")
PREPAIR_VARS = (
    PREPAIR_ROLE,
    PREPAIR_SCOPES,
    PREPAIR_CLIENT_ID,
    PREPAIR_CLIENT_MODE,
    PREPAIR_PLATFORM,
    PREPAIR_DEVICE_FAMILY,
    PREPAIR_DISPLAY_NAME,
    PREPAIR_TIMEOUT,
)

ENTRYPOINT_VARS = (
    IDENTITY_DIR,
    DEVICE_ID,
    IDENTITY_FORMAT,
    DEVICE_PRIVATE_KEY_FILE,
    INHERIT_PARENT_DEVICE,
    PARENT_IDENTITY_DIR,
    UID,
    GID,
    REQUIRE_PERSISTENT_IDENTITY,
    IDENTITY_ON_CONFLICT,
)

# The sidecar's settings: OPENCLAW_PAIRING_<SETTING>; parsers and defaults live in sidecar.settings.schema,
# which takes its variable names from here.
PAIRING_CONFIG = _v("OPENCLAW_PAIRING_CONFIG", "sidecar", "the sidecar's YAML settings file")
PAIRING_SETTINGS = (
    "gateway_token_file",
    "state_dir",
    "mode",
    "environment",
    "project",
    "on_check_failure",
    "allow_admin_scope",
    "allow_node_role",
    "allow_node_admin_commands",
    "label_opt_in",
    "label_opt_in_value",
    "label_identity_path",
    "label_roles",
    "label_scopes",
    "label_node_commands",
    "default_identity_path",
    "default_roles",
    "default_scopes",
    "rate_limit_per_container",
    "rate_limit_global",
    "rate_limit_window",
    "churn_threshold",
    "reconcile_interval",
    "exit_after_gateway_loss",
    "dev_approve_all_for",
    "dev_approve_all_max",
    "audit_log",
    "listen",
    "json_logs",
    "log_level",
    # Kubernetes workload source and attested enrollment (docs/kubernetes.md)
    "source",
    "namespaces",
    "enroll_listen",
    "enroll_audience",
    "enroll_service_accounts",
    "enroll_configmap",
    "enroll_rate_limit",
)
PAIRING_FORBIDDEN = ("OPENCLAW_PAIRING_TRUSTED", "OPENCLAW_PAIRING_TRUSTED_ENV")  # the flag is not a setting


def pairing_var(setting: str) -> str:
    """The variable of a sidecar setting (``mode`` → ``OPENCLAW_PAIRING_MODE``)."""
    if setting == "gateway_url":
        return GATEWAY_URL.name
    if setting == "gateway_token":
        return GATEWAY_TOKEN.name
    if setting not in PAIRING_SETTINGS:
        raise KeyError(setting)
    return PAIRING_PREFIX + setting.upper()


TEST_RELEASES = _v(
    "OPENCLAW_TEST_RELEASES",
    "build",
    "tests: the OpenClaw releases to run against (make test-compat: the whole matrix)",
    "2026.9.6 2026.2.26",
)

# Names we only pass on (to OpenClaw's processes, to compose, to the build); declared so that every name
# in the repository is known, documented and spelled one way.
PASSED_ON = (
    _v("OPENCLAW_NO_AUTO_UPDATE", "openclaw", "no self-update"),
    _v("OPENCLAW_DISABLE_BONJOUR", "openclaw", "no mDNS advertisement"),
    _v("OPENCLAW_ALLOW_INSECURE_PRIVATE_WS", "openclaw", "plain ws:// to a private address"),
    _v("OPENCLAW_GATEWAY_PORT", "compose", "host port of the gateway (127.0.0.1 only)", "18789"),
    _v("OPENCLAW_IMAGE", "compose", "an OpenClaw image of your own (set OPENCLAW_VERSION to its release)"),
    _v("OPENCLAW_PAIRING_IMAGE", "compose", "this project's image", "openclaw-pairing:local"),
    _v("OPENCLAW_AGENTS_NETWORK_INTERNAL", "compose", "no route out of the agents network", "false"),
    _v("OPENCLAW_STACK_VERSION", "compose", "OPENCLAW_VERSION as the gateway's config installer sees it"),
    _v("OPENCLAW_GATEWAY_SOCKET", "compose", "the gateway's local socket for the sidecar"),
    _v("OPENCLAW_GATEWAY_INTERNAL_PORT", "compose", "the gateway's port inside its container", "18789"),
    _v("OPENCLAW_COMPOSE_OVERLAYS", "build", "extra compose overlays for make up/down"),
    _v("OPENCLAW_APP_DIR", "openclaw", "where the OpenClaw package is installed in an image"),
    _v("OPENCLAW_IMAGE_SOURCE", "build", "auto | local | registry: where images come from"),
    _v("OPENCLAW_OFFICIAL_IMAGE", "build", "the official image reference to pull"),
    _v("OPENCLAW_VERSIONS", "build", "the OpenClaw releases provisioned for tests"),
    _v("OPENCLAW_PAIRING_CACHE", "build", "download cache outside the clone"),
    _v("OPENCLAW_TEST_REQUIRE", "build", "tests: a missing prerequisite fails instead of skipping"),
    _v("OPENCLAW_TEST_NETNS", "build", "tests: pytest runs in its private network namespace"),
    TEST_RELEASES,
    _v("OPENCLAW_IMAGES_LOCAL", "build", "build/images.env: the OpenClaw image was built locally"),
    _v("OPENCLAW_LOCAL", "build", "build-images.sh internal: this run built the OpenClaw image"),
    _v("OPENCLAW_IMAGES_ENV", "build", "where build-images.sh records the images (build/images.env)"),
    _v("OPENCLAW_PINNED_VERSION", "build", "the release the project pins (scripts/lib.sh)"),
    _v("OPENCLAW_COMPAT_VERSION", "build", "the JSON-era release the tests also run"),
    _v("OPENCLAW_DOCKERD_ARGS", "build", "extra dockerd arguments (tests start a private engine)"),
)

CATALOGUE: dict[str, Var] = {
    v.name: v
    for v in (
        GATEWAY_URL,
        GATEWAY_TOKEN,
        TRUSTED_ENV,
        STATE_DIR,
        VERSION,
        HOME,
        PROFILE,
        CONFIG_PATH,
        *ENTRYPOINT_VARS,
        DEVICE_IDENTITY_FILE,
        *PREPAIR_VARS,
        PAIRING_CONFIG,
        *PASSED_ON,
    )
}


def known(name: str) -> bool:
    """Declared here: a catalogue entry, a sidecar setting's variable, or a forbidden spelling."""
    if name in CATALOGUE or name in PAIRING_FORBIDDEN or name == PAIRING_PREFIX.rstrip("_"):
        return True
    return name.startswith(PAIRING_PREFIX) and name[len(PAIRING_PREFIX) :].lower() in PAIRING_SETTINGS


def is_trusted(env: Mapping[str, str]) -> bool:
    """The master gate, fail closed."""
    return bool(TRUSTED_ENV.read(env))


def entrypoint_settings_present(env: Mapping[str, str]) -> bool:
    """Any openclaw-entrypoint variable is set: its rules (and its refusals) apply."""
    return any(v.is_set(env) for v in ENTRYPOINT_VARS)
