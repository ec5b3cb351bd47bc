"""Entrypoint settings: env + flags, validated up front; conflicting combinations name the variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.errors import ConfigError
from sidecar.identity.entrypoint_settings import default_state_dir, parse

BASE = {"OPENCLAW_IDENTITY_DIR": "/ids", "HOME": "/home/node", "OPENCLAW_UID": "0", "OPENCLAW_GID": "0"}


def test_defaults() -> None:
    cfg = parse(["--", "node", "app.js"], BASE)
    assert cfg.action == "exec"
    assert cfg.command == ("node", "app.js")
    assert cfg.mode == "slot"
    assert cfg.slot_name == "default"
    assert cfg.identity_dir == Path("/ids")
    assert cfg.state_dir == Path("/home/node/.openclaw")
    assert cfg.format == "auto"
    assert cfg.on_conflict == "fail"
    assert not cfg.require_persistent
    assert not cfg.regenerate


def test_default_uid_gid_is_the_official_images_node_user() -> None:
    env = {k: v for k, v in BASE.items() if k not in ("OPENCLAW_UID", "OPENCLAW_GID")}
    cfg = parse(["--init-only"], env)
    assert (cfg.uid, cfg.gid) == (1000, 1000)


def test_command_without_double_dash() -> None:
    assert parse(["sh", "-c", "true"], BASE).command == ("sh", "-c", "true")


def test_flags_override_env() -> None:
    env = {**BASE, "OPENCLAW_DEVICE_ID": "a", "OPENCLAW_IDENTITY_FORMAT": "json", "OPENCLAW_STATE_DIR": "/s"}
    cfg = parse(["--slot", "b", "--format", "sqlite", "--state-dir", "/t", "--uid", "7", "--init-only"], env)
    assert (cfg.slot_name, cfg.format, cfg.state_dir, cfg.uid) == ("b", "sqlite", Path("/t"), 7)


def test_env_settings() -> None:
    env = {
        **BASE,
        "OPENCLAW_DEVICE_ID": "agent-1",
        "OPENCLAW_STATE_DIR": "/state",
        "OPENCLAW_IDENTITY_FORMAT": "file",
        "OPENCLAW_REQUIRE_PERSISTENT_IDENTITY": "YES",
        "OPENCLAW_IDENTITY_ON_CONFLICT": "replace-state",
        "OPENCLAW_UID": "1001",
        "OPENCLAW_GID": "1002",
    }
    cfg = parse(["--regenerate", "--init-only"], env)
    assert cfg.slot_name == "agent-1"
    assert cfg.state_dir == Path("/state")
    assert cfg.format == "file"
    assert cfg.require_persistent
    assert cfg.on_conflict == "replace-state"
    assert (cfg.uid, cfg.gid) == (1001, 1002)
    assert cfg.regenerate
    assert cfg.action == "init"


@pytest.mark.parametrize(
    ("argv", "env", "names"),
    [
        ([], BASE, ["no command", "--init-only"]),
        (["--show", "--", "x"], BASE, ["--show"]),
        (["--init-only", "--show"], BASE, ["--show"]),
        (["--identity-dir", "/x", "--doctor"], BASE, ["--doctor", "first argument"]),
        (["--init-only"], {**BASE, "OPENCLAW_DEVICE_ID": "../etc"}, ["OPENCLAW_DEVICE_ID"]),
        (["--init-only"], {**BASE, "OPENCLAW_DEVICE_ID": "a/b"}, ["OPENCLAW_DEVICE_ID"]),
        (["--init-only"], {**BASE, "OPENCLAW_UID": "node"}, ["OPENCLAW_UID"]),
        (["--init-only"], {**BASE, "OPENCLAW_GID": "-1"}, ["OPENCLAW_GID"]),
        (["--init-only"], {**BASE, "OPENCLAW_IDENTITY_FORMAT": "yaml"}, ["OPENCLAW_IDENTITY_FORMAT"]),
        (
            ["--init-only"],
            {**BASE, "OPENCLAW_IDENTITY_ON_CONFLICT": "merge"},
            ["OPENCLAW_IDENTITY_ON_CONFLICT"],
        ),
        (
            ["--init-only"],
            {**BASE, "OPENCLAW_INHERIT_PARENT_DEVICE": "maybe"},
            ["OPENCLAW_INHERIT_PARENT_DEVICE"],
        ),
        (["--init-only"], {"HOME": "/h"}, ["OPENCLAW_IDENTITY_DIR"]),
        (["--init-only"], {**BASE, "OPENCLAW_STATE_DIR": "/ids/default"}, ["OPENCLAW_STATE_DIR"]),
    ],
)
def test_rejected(argv: list[str], env: dict[str, str], names: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse(argv, env)
    for name in names:
        assert name in str(info.value)


INHERIT = {
    "HOME": "/h",
    "OPENCLAW_INHERIT_PARENT_DEVICE": "1",
    "OPENCLAW_PARENT_IDENTITY_DIR": "/parent/agent-1",
}


def test_inherit() -> None:
    cfg = parse(["--init-only"], INHERIT)
    assert cfg.mode == "inherit"
    assert cfg.parent_identity_dir == Path("/parent/agent-1")
    assert cfg.slot_name == "agent-1"
    assert parse(
        ["--inherit-parent-device", "--parent-identity-dir", "/p/x", "--init-only"], {"HOME": "/h"}
    ).mode == ("inherit")


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        ({"OPENCLAW_DEVICE_PRIVATE_KEY_FILE": "/k.pem"}, ["OPENCLAW_DEVICE_PRIVATE_KEY_FILE"]),
        ({"OPENCLAW_IDENTITY_DIR": "/ids"}, ["OPENCLAW_IDENTITY_DIR"]),
        ({"OPENCLAW_DEVICE_ID": "x"}, ["OPENCLAW_DEVICE_ID"]),
        (
            {"OPENCLAW_DEVICE_ID": "x", "OPENCLAW_DEVICE_PRIVATE_KEY_FILE": "/k"},
            ["OPENCLAW_DEVICE_ID", "OPENCLAW_DEVICE_PRIVATE_KEY_FILE"],
        ),
        ({"OPENCLAW_PARENT_IDENTITY_DIR": ""}, ["OPENCLAW_PARENT_IDENTITY_DIR"]),
    ],
)
def test_inherit_conflicts_are_rejected(extra: dict[str, str], names: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse(["--init-only"], {**INHERIT, **extra})
    for name in [*names, "OPENCLAW_INHERIT_PARENT_DEVICE"]:
        assert name in str(info.value)


def test_parent_dir_without_inherit_is_rejected() -> None:
    with pytest.raises(ConfigError, match="OPENCLAW_INHERIT_PARENT_DEVICE"):
        parse(["--init-only"], {**BASE, "OPENCLAW_PARENT_IDENTITY_DIR": "/p"})


def test_secret_mode_needs_no_identity_dir() -> None:
    cfg = parse(["--init-only"], {"HOME": "/h", "OPENCLAW_DEVICE_PRIVATE_KEY_FILE": "/run/secrets/key.pem"})
    assert cfg.mode == "secret"
    assert cfg.identity_dir is None
    assert cfg.private_key_file == Path("/run/secrets/key.pem")


def test_default_state_dir_follows_openclaw() -> None:
    assert default_state_dir({}, "/home/node") == Path("/home/node/.openclaw")
    assert default_state_dir({"OPENCLAW_PROFILE": "work"}, "/h") == Path("/h/.openclaw-work")
    assert default_state_dir({"OPENCLAW_PROFILE": "default"}, "/h") == Path("/h/.openclaw")
    assert default_state_dir({"OPENCLAW_HOME": "/oc"}, "/h") == Path("/oc/.openclaw")
