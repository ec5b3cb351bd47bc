"""One home for every OPENCLAW_* variable (issue 11): every name the repository mentions is declared in
sidecar/envvars.py, the sidecar's settings take their variable names from it, and readers agree."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from sidecar import envvars
from sidecar.errors import ConfigError
from sidecar.identity.detect import FORMATS
from sidecar.identity.entrypoint_settings import parse
from sidecar.settings.schema import FORBIDDEN_ENV, SPEC
from sidecar.trust import is_trusted

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"OPENCLAW_[A-Z0-9_]*[A-Z0-9]")


def repository_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / f for f in out if not f.startswith("tests/") and (ROOT / f).is_file()]


def test_every_name_in_the_repository_is_declared() -> None:
    unknown: dict[str, set[str]] = {}
    for path in repository_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        for name in NAME.findall(text):
            if not envvars.known(name):
                unknown.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    assert unknown == {}, "declare these in sidecar/envvars.py (or fix the spelling)"


def test_the_sidecar_settings_take_their_names_from_here() -> None:
    for setting, (_, _, var) in SPEC.items():
        assert var == envvars.pairing_var(setting)
    assert set(SPEC) == set(envvars.PAIRING_SETTINGS) | {"gateway_url", "gateway_token"}
    assert FORBIDDEN_ENV == envvars.PAIRING_FORBIDDEN
    assert tuple(FORMATS) == envvars.IDENTITY_FORMATS


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_trusted_only_by_an_explicit_truthy_spelling(value: str) -> None:
    assert is_trusted({"OPENCLAW_TRUSTED_ENV": value})


@pytest.mark.parametrize("value", ["", "0", "ture", "enabled", "2"])
def test_anything_else_is_not_trusted_and_not_an_error(value: str) -> None:
    assert not is_trusted({"OPENCLAW_TRUSTED_ENV": value})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OPENCLAW_UID": "abc"}, "OPENCLAW_UID='abc' is not a numeric user/group id"),
        ({"OPENCLAW_GID": "-1"}, "OPENCLAW_GID='-1' is not a numeric user/group id"),
        ({"OPENCLAW_IDENTITY_FORMAT": "yaml"}, "OPENCLAW_IDENTITY_FORMAT='yaml' is not one of"),
        (
            {"OPENCLAW_INHERIT_PARENT_DEVICE": "maybe"},
            "OPENCLAW_INHERIT_PARENT_DEVICE='maybe' is not a boolean",
        ),
    ],
)
def test_the_entrypoint_refuses_bad_values_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse(["--init-only"], {"OPENCLAW_IDENTITY_DIR": "/ids", **env})


def test_a_flag_wins_over_its_variable() -> None:
    cfg = parse(["--init-only", "--uid", "7"], {"OPENCLAW_IDENTITY_DIR": "/ids", "OPENCLAW_UID": "abc"})
    assert cfg.uid == 7


def test_gateway_url_accepts_the_three_schemes() -> None:
    for url in ("ws://gw:18789", "wss://gw.example:443", "ws+unix:///run/openclaw-gateway/gateway.sock"):
        assert envvars.GATEWAY_URL.read({"OPENCLAW_GATEWAY_URL": url}) == url
    assert envvars.GATEWAY_URL.read({}) == envvars.DEFAULT_GATEWAY_URL
    with pytest.raises(ConfigError, match="OPENCLAW_GATEWAY_URL='http://gw'"):
        envvars.GATEWAY_URL.read({"OPENCLAW_GATEWAY_URL": "http://gw"})
