"""The Kubernetes manifests with the pairing sidecar, rendered by the real kustomize and validated offline.

Both variants (k8s/ = Secret-backed Deployment, static annotation; k8s/agent-statefulset/ = enrollment)
render with ``kubectl kustomize`` and pass ``kubernetes-validate --strict`` (a dev extra). kubectl comes
preinstalled on machines of our kind (Google Cloud SDK, kustomize v5); Debian bookworm's
kubernetes-client (1.20, kustomize v2) cannot render components — install a kubectl >= 1.27 elsewhere.
Then: RBAC contains no secrets and no pods/exec; tokenreviews only with enrollment; the ConfigMap only by
resourceNames; the sidecar is a native sidecar on loopback with probes; Pod Security restricted holds.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = {"static": ROOT / "k8s", "enrollment": ROOT / "k8s" / "agent-statefulset"}


def render(variant: str) -> list[dict[str, Any]]:
    need(
        shutil.which("kubectl") is not None,
        "kubectl (kustomize v5)",
        "Install kubectl >= 1.27 (preinstalled on our machines; Debian bookworm's is too old).",
    )
    proc = subprocess.run(
        ["kubectl", "kustomize", str(VARIANTS[variant])], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_renders_and_passes_kubernetes_validate_strict(variant: str, tmp_path: Path) -> None:
    docs = render(variant)
    out = tmp_path / "all.yaml"
    out.write_text(yaml.safe_dump_all(docs))
    validate = Path(sys.executable).with_name("kubernetes-validate")
    assert validate.exists(), "kubernetes-validate is a dev extra: pip install -e '.[dev]'"
    proc = subprocess.run(
        [str(validate), "--strict", "--quiet", "-k", "1.33.0", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def rules(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for d in docs if d["kind"] in ("Role", "ClusterRole") for r in d.get("rules", [])]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_rbac_is_least_privilege(variant: str) -> None:
    docs = render(variant)
    granted = {(res, verb) for r in rules(docs) for res in r["resources"] for verb in r["verbs"]}
    assert not {res for res, _ in granted if res in ("secrets", "pods/exec", "pods/attach", "*")}
    assert not {verb for _, verb in granted if verb == "*"}
    assert {("pods", "get"), ("pods", "list"), ("pods", "watch")} <= granted
    if variant == "static":
        assert granted == {("pods", "get"), ("pods", "list"), ("pods", "watch")}
    else:
        assert ("tokenreviews", "create") in granted
        (cm,) = [r for r in rules(docs) if "configmaps" in r["resources"]]
        assert cm["resourceNames"] == ["openclaw-pairing-enrollments"]
        assert sorted(cm["verbs"]) == ["get", "patch"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_native_sidecar_on_loopback_with_probes_and_restricted_pods(variant: str) -> None:
    docs = render(variant)
    (gateway,) = [
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "openclaw-gateway"
    ]
    pod = gateway["spec"]["template"]["spec"]
    (sidecar,) = [c for c in pod["initContainers"] if c["name"] == "pairing-sidecar"]
    env = {e["name"]: e.get("value") for e in sidecar["env"]}
    assert sidecar["restartPolicy"] == "Always"
    assert env["OPENCLAW_GATEWAY_URL"] == "ws://127.0.0.1:18789"
    assert env["OPENCLAW_PAIRING_SOURCE"] == "kubernetes"
    assert sidecar["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert sidecar["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert sidecar["startupProbe"]["httpGet"]["path"] == "/healthz", "the gateway starts after the sidecar"
    assert pod["serviceAccountName"] == "openclaw-pairing"
    assert pod["automountServiceAccountToken"] is False
    (gw,) = pod["containers"]
    assert "kube-api-access" not in {m["name"] for m in gw.get("volumeMounts", [])}, (
        "the gateway gets no token"
    )
    assert ("OPENCLAW_PAIRING_ENROLL_LISTEN" in env) == (variant == "enrollment")
    namespace = next(d for d in docs if d["kind"] == "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for d in docs:
        if d["kind"] not in ("Deployment", "StatefulSet"):
            continue
        spec = d["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_agents_static_annotation_and_enrollment_token() -> None:
    static = render("static")
    (agent,) = [d for d in static if d["kind"] == "Deployment" and d["metadata"]["name"] == "openclaw-agent"]
    assert "openclaw.pairing/device-id" in agent["spec"]["template"]["metadata"]["annotations"]
    enrolled = render("enrollment")
    (sts,) = [d for d in enrolled if d["kind"] == "StatefulSet"]
    spec = sts["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == "openclaw-agent"
    (enroll,) = [c for c in spec["initContainers"] if c["name"] == "enroll"]
    assert enroll["command"][:1] == ["openclaw-enroll"]
    (token,) = [v for v in spec["volumes"] if v["name"] == "pairing-token"]
    (source,) = token["projected"]["sources"]
    assert source["serviceAccountToken"]["audience"] == "openclaw-pairing"
    assert source["serviceAccountToken"]["expirationSeconds"] <= 3600
    # identity first, then proof of possession, then pre-pairing (the sidecar knows the key only after
    # enrollment), then the agent: its first connect is admitted (issue 12)
    assert [c["name"] for c in spec["initContainers"]] == ["identity-init", "enroll", "prepair"]
    (prepair,) = [c for c in spec["initContainers"] if c["name"] == "prepair"]
    env = {e["name"]: e.get("value") for e in prepair["env"]}
    assert env["OPENCLAW_PREPAIR_ROLE"] == "node"
    (agent_container,) = spec["containers"]
    assert agent_container["command"][-1] == env["OPENCLAW_PREPAIR_DISPLAY_NAME"] == "$(POD_NAME)"
    static_spec = agent["spec"]["template"]["spec"]
    (init,) = static_spec["initContainers"]
    static_env = {e["name"]: e.get("value") for e in init["env"]}
    assert static_env["OPENCLAW_PREPAIR_DISPLAY_NAME"] == static_spec["containers"][0]["command"][-1]
