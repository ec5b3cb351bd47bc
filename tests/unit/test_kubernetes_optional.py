"""A Docker-only install never needs the Kubernetes client: every import path works without it, source
``auto`` outside a pod is Docker, and asking for Kubernetes without the extra says how to install it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    sys.modules["kubernetes_asyncio"] = None  # as if the [kubernetes] extra were not installed
    sys.modules["aiohttp"] = None
    import sidecar.cli, sidecar.service, sidecar.sources.kubernetes, sidecar.service.kube
    from sidecar.errors import ConfigError
    from sidecar.settings import load_settings
    from sidecar.service.kube import source_kind
    from sidecar.sources.kubernetes import KubeAPI, available
    assert source_kind(load_settings({})) == "docker"
    assert source_kind(load_settings({"OPENCLAW_PAIRING_SOURCE": "kubernetes"})) == "kubernetes"
    assert not available()
    try:
        asyncio.run(KubeAPI.connect())
    except ConfigError as exc:
        assert "openclaw-pairing[kubernetes]" in str(exc), exc
        print("OK")
    """
)


def test_docker_only_install_needs_no_kubernetes_client() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )
    assert proc.stdout.strip() == "OK", proc.stderr
