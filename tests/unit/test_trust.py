import pytest

from sidecar.trust import is_trusted


@pytest.mark.parametrize("value", ["1", "true", "TRUE", " yes ", "On"])
def test_truthy_spellings_trust(value: str) -> None:
    assert is_trusted({"OPENCLAW_TRUSTED_ENV": value})


@pytest.mark.parametrize("value", ["", "0", "false", "no", "off", "ture", "2", "y", "enabled"])
def test_everything_else_fails_closed(value: str) -> None:
    assert not is_trusted({"OPENCLAW_TRUSTED_ENV": value})


def test_unset_is_untrusted() -> None:
    assert not is_trusted({})
