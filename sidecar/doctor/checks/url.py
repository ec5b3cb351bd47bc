"""Secure context: would a browser on this URL create a device identity at all?

Browsers expose the WebCrypto key generation the Control UI needs only in a *secure context*: an https://
(or wss://) origin, or a loopback one — ``localhost``, ``*.localhost``, ``127.0.0.0/8``, ``[::1]``
(W3C Secure Contexts, "potentially trustworthy origin"). Plain http:// to a LAN address, a host name,
``0.0.0.0``, ``*.local`` or a Tailscale name is not, and that alone explains error A. Pure; no I/O.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from sidecar.doctor.checks import Outcome
from sidecar.doctor.findings import finding

DEFAULT_PORT = 18789
SECURE_SCHEMES = frozenset({"https", "wss"})
PLAIN_SCHEMES = frozenset({"http", "ws"})


@dataclass(frozen=True)
class Verdict:
    secure: bool
    reason: str
    secure_url: str  # a URL for the same UI that is a secure context (localhost through a tunnel)


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def judge(url: str) -> Verdict:
    """Is ``url`` a secure context? A bare ``host:port`` is read as http:// (what a browser does)."""
    text = url.strip()
    parts = urlsplit(text if "://" in text else f"http://{text}")
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        port = DEFAULT_PORT
    path = parts.path if parts.path not in ("", "/") else "/"
    secure_url = f"http://localhost:{port}{path}"
    if not host:
        return Verdict(False, f"{url!r} has no host", secure_url)
    if scheme in SECURE_SCHEMES:
        return Verdict(True, f"{scheme}:// is a secure context", text)
    if scheme not in PLAIN_SCHEMES:
        return Verdict(False, f"{url!r} is not an http(s):// URL", secure_url)
    if is_loopback_host(host):
        return Verdict(True, f"{host} is loopback, a secure context even over {scheme}://", text)
    return Verdict(
        False,
        f"{scheme}://{host} is neither https nor localhost, so the browser creates no device identity",
        secure_url,
    )


def check(url: str | None) -> Outcome:
    if url is None:
        return Outcome("url", skipped="no --ui-url given")
    verdict = judge(url)
    if verdict.secure:
        return Outcome("url", summary=f"{url}: {verdict.reason}", facts={"secure": True})
    seen = f"Control UI URL {url}: {verdict.reason}"
    return Outcome(
        "url",
        (finding("url.insecure-context", seen, secure_url=verdict.secure_url),),
        facts={"secure": False, "secure_url": verdict.secure_url, "seen": seen},
    )
