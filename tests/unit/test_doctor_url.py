"""Secure context (W3C "potentially trustworthy origin"): https/wss anywhere, http/ws only on loopback."""

from __future__ import annotations

import pytest

from sidecar.doctor.checks.url import check, judge

SECURE = [
    "https://gateway.example.com",
    "https://192.168.1.20:18789/",
    "wss://10.0.0.5:18789",
    "http://localhost:18789/",
    "http://LOCALHOST:18789",
    "http://app.localhost:18789/",
    "http://127.0.0.1:18789/",
    "http://127.3.4.5:18789",
    "http://[::1]:18789/",
    "ws://127.0.0.1:18789",
    "localhost:18789",
]
INSECURE = [
    "http://192.168.1.20:18789/",
    "http://10.0.0.5:18789",
    "http://172.17.0.2:18789/",
    "http://0.0.0.0:18789/",
    "http://gateway.lan:18789/",
    "http://myhost.local:18789/",
    "http://box.tailnet-1234.ts.net:18789/",
    "http://[fe80::1]:18789/",
    "ws://192.168.1.20:18789",
    "192.168.1.20:18789",
    "ftp://192.168.1.20/",
]


@pytest.mark.parametrize("url", SECURE)
def test_secure_contexts(url: str) -> None:
    assert judge(url).secure, judge(url).reason


@pytest.mark.parametrize("url", INSECURE)
def test_insecure_contexts(url: str) -> None:
    verdict = judge(url)
    assert not verdict.secure
    assert judge(verdict.secure_url).secure  # the suggested URL is itself a secure context


def test_suggestion_keeps_port_and_path() -> None:
    assert judge("http://192.168.1.20:18790/chat").secure_url == "http://localhost:18790/chat"
    assert judge("http://192.168.1.20/").secure_url == "http://localhost:18789/"


def test_check_reports_the_finding_with_the_fix() -> None:
    outcome = check("http://192.168.1.20:18789/")
    (found,) = outcome.findings
    assert found.id == "url.insecure-context"
    assert "http://localhost:18789/" in found.fix
    assert check("https://x.example").findings == ()
    assert check(None).skipped
