"""Settings: defaults, YAML + env precedence, value parsing, and every rejected combination."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.errors import ConfigError
from sidecar.settings import SETTING_NAMES, Mode, Settings, env_var, load_settings

TRUSTED = {"OPENCLAW_TRUSTED_ENV": "1"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pairing.yaml"
    path.write_text(text)
    return path


def load(env: dict[str, str] | None = None, path: Path | None = None) -> Settings:
    return load_settings(env or {}, path)


def test_defaults_are_the_documented_ones() -> None:
    s = load()
    p = s.policy
    assert (s.gateway_url, s.gateway_token, s.trusted) == ("ws://127.0.0.1:18789", None, False)
    assert (p.mode, p.project, p.project_auto, p.on_check_failure) == (Mode.STRICT, None, True, "reject")
    assert (p.allow_admin_scope, p.allow_node_role) == (False, False)
    assert p.label_opt_in == "openclaw.pairing.auto-approve"
    assert p.label_opt_in_value == "true"
    assert (p.label_identity_path, p.label_roles, p.label_scopes) == (
        "openclaw.pairing.identity-path",
        "openclaw.pairing.roles",
        "openclaw.pairing.scopes",
    )
    assert p.default_roles == {"operator"}
    assert p.default_scopes == {"operator.read", "operator.write"}
    assert s.default_identity_path == "/home/node/.openclaw/identity/device.pub.json"
    assert (s.reconcile_interval_s, p.dev_window_ms, p.dev_max_approvals) == (30.0, 600_000, 20)
    assert (p.rate_limit_per_container, p.rate_limit_global, p.rate_window_ms, p.churn_threshold) == (
        3,
        30,
        60_000,
        4,
    )
    assert (s.audit_log, s.listen, s.json_logs, s.log_level) == ("-", ("127.0.0.1", 9477), False, "INFO")
    assert set(s.sources.values()) == {"default"}


def test_trusted_comes_only_from_the_environment() -> None:
    assert load(TRUSTED).trusted
    assert not load({"OPENCLAW_TRUSTED_ENV": "ture"}).trusted


def test_trusted_in_yaml_is_an_error_that_says_where_it_comes_from(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"'trusted' cannot be set in the config file.*OPENCLAW_TRUSTED_ENV"
    ):
        load(TRUSTED, write(tmp_path, "trusted: true\n"))


def test_trusted_via_the_pairing_prefix_is_an_error() -> None:
    with pytest.raises(ConfigError, match="OPENCLAW_PAIRING_TRUSTED is not a setting"):
        load({"OPENCLAW_PAIRING_TRUSTED": "1"})


def test_file_then_env_precedence(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "mode: ip\nreconcile_interval: 10s\nlabel_roles: my.roles\ndefault_scopes: [operator.read]\n",
    )
    s = load({"OPENCLAW_PAIRING_RECONCILE_INTERVAL": "2m"}, path)
    assert s.mode is Mode.IP
    assert s.reconcile_interval_s == 120.0
    assert s.policy.label_roles == "my.roles"
    assert s.policy.default_scopes == {"operator.read"}
    assert (s.sources["mode"], s.sources["reconcile_interval"], s.sources["json_logs"]) == (
        "file",
        "env",
        "default",
    )


def test_config_path_from_env(tmp_path: Path) -> None:
    path = write(tmp_path, "environment: staging\n")
    s = load_settings({"OPENCLAW_PAIRING_CONFIG": str(path)})
    assert s.environment == "staging"
    assert s.config_path == path


def test_gateway_settings_use_openclaws_own_variables() -> None:
    s = load({"OPENCLAW_GATEWAY_URL": "wss://gw:18789", "OPENCLAW_GATEWAY_TOKEN": "s3cret"})
    assert (s.gateway_url, s.gateway_token) == ("wss://gw:18789", "s3cret")
    assert "s3cret" not in repr(s)


def test_redacted_hides_the_token_and_shows_the_effective_config() -> None:
    s = load({"OPENCLAW_GATEWAY_TOKEN": "s3cret", "OPENCLAW_PAIRING_PROJECT": "*", **TRUSTED})
    out = s.redacted()
    assert out["gateway_token"] == "<redacted>"
    assert "s3cret" not in str(out)
    assert out["project"] == "*"
    assert out["trusted"] is True
    assert out["mode"] == "strict"
    assert set(SETTING_NAMES) - {"gateway_token_file"} <= set(out)


def test_token_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("from-file\n")
    assert load({"OPENCLAW_PAIRING_GATEWAY_TOKEN_FILE": str(token)}).gateway_token == "from-file"


def test_project_values() -> None:
    assert load({"OPENCLAW_PAIRING_PROJECT": "demo"}).policy.project == "demo"
    any_project = load({"OPENCLAW_PAIRING_PROJECT": "*"}).policy
    assert (any_project.project, any_project.project_auto) == (None, False)
    auto = load().policy
    assert auto.for_own_project("mine").project == "mine"
    assert any_project.for_own_project("mine").project is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("30", 30.0), ("30s", 30.0), ("1500ms", 1.5), ("10m", 600.0), ("1h", 3600.0), ("2.5", 2.5)],
)
def test_durations(value: str, seconds: float) -> None:
    assert load({"OPENCLAW_PAIRING_RECONCILE_INTERVAL": value}).reconcile_interval_s == seconds


@pytest.mark.parametrize(
    ("value", "listen"), [("off", None), ("0.0.0.0:9000", ("0.0.0.0", 9000)), ("[::]:80", ("::", 80))]
)
def test_listen(value: str, listen: tuple[str, int] | None) -> None:
    assert load({"OPENCLAW_PAIRING_LISTEN": value}).listen == listen


# Each row: environment → a fragment the error must contain (names the setting and what is allowed).
BAD = [
    (
        {"OPENCLAW_PAIRING_MODE": "yolo"},
        "setting 'mode' (YAML key mode, env OPENCLAW_PAIRING_MODE) from env: "
        "expected one of: strict, ip, dev-approve-all",
    ),
    ({"OPENCLAW_PAIRING_ON_CHECK_FAILURE": "drop"}, "expected one of: reject, ignore"),
    (
        {"OPENCLAW_PAIRING_ALLOW_NODE_ROLE": "maybe"},
        "OPENCLAW_PAIRING_ALLOW_NODE_ROLE) from env: expected true/false",
    ),
    ({"OPENCLAW_PAIRING_RATE_LIMIT_GLOBAL": "0"}, "must be at least 1"),
    ({"OPENCLAW_PAIRING_CHURN_THRESHOLD": "many"}, "expected a whole number"),
    ({"OPENCLAW_PAIRING_RECONCILE_INTERVAL": "soon"}, "expected a duration"),
    ({"OPENCLAW_PAIRING_RECONCILE_INTERVAL": "0.5"}, "must be between 1s and 1h"),
    ({"OPENCLAW_PAIRING_DEV_APPROVE_ALL_FOR": "48h"}, "must be between 1s and 24h (it is a time box)"),
    ({"OPENCLAW_GATEWAY_URL": "http://gw"}, "OPENCLAW_GATEWAY_URL) from env: expected a ws:// or wss:// URL"),
    ({"OPENCLAW_PAIRING_LISTEN": "9477"}, "expected host:port"),
    ({"OPENCLAW_PAIRING_LABEL_ROLES": "bad key"}, "expected a Docker label key"),
    ({"OPENCLAW_PAIRING_PROJECT": "Bad Name"}, "must be auto, * (any project) or a compose project name"),
    ({"OPENCLAW_PAIRING_LABEL_SCOPES": "openclaw.pairing.roles"}, "label keys must differ"),
    (
        {"OPENCLAW_PAIRING_DEFAULT_SCOPES": "operator.read,operator.admin"},
        "contains operator.admin but allow_admin_scope is false",
    ),
    ({"OPENCLAW_PAIRING_DEFAULT_ROLES": "operator,node"}, "contains node but allow_node_role is false"),
    ({"OPENCLAW_PAIRING_DEFAULT_ROLES": ","}, "must name at least one role"),
    (
        {"OPENCLAW_PAIRING_MODE": "dev-approve-all", "OPENCLAW_PAIRING_ENVIRONMENT": "production", **TRUSTED},
        "refuses to run in production",
    ),
    (
        {"OPENCLAW_PAIRING_MODE": "dev-approve-all", "OPENCLAW_PAIRING_ENVIRONMENT": "Prod", **TRUSTED},
        "is 'Prod'",
    ),
    (
        {"OPENCLAW_PAIRING_MODE": "dev-approve-all"},
        "dev-approve-all requires the trusted flag OPENCLAW_TRUSTED_ENV=1",
    ),
    (
        {"OPENCLAW_PAIRING_MODE": "ip", "OPENCLAW_PAIRING_ALLOW_ADMIN_SCOPE": "true"},
        "is ip, which cannot prove which device is asking",
    ),
    (
        {"OPENCLAW_PAIRING_MODE": "ip", "OPENCLAW_PAIRING_ALLOW_NODE_ROLE": "yes"},
        "must stay false (use mode strict)",
    ),
    ({"OPENCLAW_GATEWAY_TOKEN": "t", "OPENCLAW_PAIRING_GATEWAY_TOKEN_FILE": "/x"}, "set only one of"),
]


@pytest.mark.parametrize(("env", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_invalid_settings_are_rejected_with_a_message_naming_them(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(env)
    assert message in str(info.value)


def test_allowed_combinations() -> None:
    dev = load({"OPENCLAW_PAIRING_MODE": "dev-approve-all", "OPENCLAW_PAIRING_ENVIRONMENT": "dev", **TRUSTED})
    assert dev.mode is Mode.DEV_APPROVE_ALL
    assert not dev.is_production
    node_off = load({"OPENCLAW_PAIRING_ALLOW_ADMIN_SCOPE": "1", "OPENCLAW_PAIRING_ALLOW_NODE_ROLE": "0"})
    assert node_off.policy.allow_admin_scope
    assert not node_off.policy.allow_node_role
    admin_default = load(
        {"OPENCLAW_PAIRING_ALLOW_ADMIN_SCOPE": "on", "OPENCLAW_PAIRING_DEFAULT_SCOPES": "operator.admin"}
    )
    assert admin_default.policy.default_scopes == {"operator.admin"}


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        load({"OPENCLAW_PAIRING_MODE": "yolo", "OPENCLAW_PAIRING_LISTEN": "x"})
    assert "mode" in str(info.value)
    assert "listen" in str(info.value)


def test_token_errors_never_echo_the_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(path=write(tmp_path, "gateway_token: {value: hunter2}\n"))
    assert "gateway_token" in str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mdoe: ip\n", "unknown key 'mdoe'"),
        ("- a\n- b\n", "must be a YAML mapping"),
        ("mode: [\n", "is not valid YAML"),
        ("allow_node_role: sure\n", "from file: expected true/false"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load(path=write(tmp_path, text))


def test_missing_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="OPENCLAW_PAIRING_CONFIG"):
        load(path=tmp_path / "nope.yaml")


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    assert load(path=write(tmp_path, "")).mode is Mode.STRICT


def test_every_setting_has_an_env_var() -> None:
    for name in SETTING_NAMES:
        var = env_var(name)
        assert var.startswith("OPENCLAW_PAIRING_") or var in {
            "OPENCLAW_GATEWAY_URL",
            "OPENCLAW_GATEWAY_TOKEN",
        }


def test_empty_values_count_as_unset(tmp_path: Path) -> None:
    s = load({"OPENCLAW_PAIRING_MODE": "", "OPENCLAW_GATEWAY_TOKEN": " "}, write(tmp_path, "environment:\n"))
    assert s.mode is Mode.STRICT
    assert s.gateway_token is None
    assert s.sources["environment"] == "default"
