"""The Kubernetes manifests (k8s/), parsed with pyyaml: the essentials a deployment relies on.

No cluster and no kubectl needed. Full schema validation, offline, is in docs/deployment.md
(`kubectl kustomize k8s > all.yaml && kubernetes-validate --strict all.yaml`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
COMPOSE_CONFIG = ROOT / "compose" / "gateway" / "openclaw.json5"
PINNED = re.search(r"^OPENCLAW_PINNED_VERSION=(\S+)", (ROOT / "scripts" / "lib.sh").read_text(), re.M)
assert PINNED is not None
PINNED_VERSION = PINNED.group(1)
OPT_IN = "openclaw.pairing.auto-approve"


def load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}"
    return found[0]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def mounts_of(container: dict[str, Any]) -> dict[str, str]:
    return {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}


def kustomize_resources(directory: Path) -> list[str]:
    return list(yaml.safe_load((directory / "kustomization.yaml").read_text())["resources"])


GATEWAY = load(K8S / "base" / "gateway.yaml")
AGENT = load(K8S / "agent.yaml")
STATEFULSET = load(K8S / "agent-statefulset" / "agent-statefulset.yaml")


def test_kustomizations_reference_existing_files() -> None:
    for directory in (K8S, K8S / "base", K8S / "agent-statefulset"):
        for resource in kustomize_resources(directory):
            assert (directory / resource).exists(), f"{directory}/kustomization.yaml: missing {resource}"
    base = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    files = [f for gen in base["configMapGenerator"] for f in gen["files"]]
    assert all((K8S / "base" / f).exists() for f in files)


def test_images_are_pinned() -> None:
    """The OpenClaw release is set once, in k8s/release/release.env; both variants include that component."""
    assert (K8S / "release" / "release.env").read_text().strip() == f"OPENCLAW_VERSION={PINNED_VERSION}"
    for directory, component in ((K8S, "release"), (K8S / "agent-statefulset", "../release")):
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        assert kustomization["components"][0] == component  # (k8s/agent-statefulset adds ../enrollment)
        images = {i["name"]: i for i in kustomization["images"]}
        assert "openclaw/openclaw" not in images, "the OpenClaw tag must come from k8s/release only"
        assert images["openclaw-pairing"]["newTag"]
    for doc, kind, container in (
        (GATEWAY, "Deployment", "gateway"),
        (AGENT, "Deployment", "agent"),
        (STATEFULSET, "StatefulSet", "agent"),
    ):
        found = [
            c
            for d in doc
            if d["kind"] == kind
            for c in d["spec"]["template"]["spec"]["containers"]
            if c["name"] == container
        ]
        assert [c["image"] for c in found] == ["openclaw/openclaw:OPENCLAW_VERSION"]


def test_gateway_has_state_volume_service_probes_and_token_from_a_secret() -> None:
    pvc = by_kind(GATEWAY, "PersistentVolumeClaim", "openclaw-gateway-state")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    deploy = by_kind(GATEWAY, "Deployment", "openclaw-gateway")
    spec = deploy["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["securityContext"]["runAsNonRoot"] is True
    # OpenClaw 2026.9 reclaims a dead gateway's owner lease only under the same host name (#155644).
    assert pod["hostname"] == "openclaw-gateway"
    (gateway,) = pod["containers"]
    assert "--bind lan --port 18789" in " ".join(gateway["command"])
    assert env_of(gateway)["OPENCLAW_GATEWAY_TOKEN"]["secretKeyRef"]["name"] == "openclaw-secrets"
    assert mounts_of(gateway)["state"] == "/home/node/.openclaw"
    claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in pod["volumes"]}
    assert claims["state"] == "openclaw-gateway-state"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    service = by_kind(GATEWAY, "Service", "openclaw-gateway")
    assert service["spec"]["ports"][0]["port"] == 18789
    assert service["spec"]["selector"] == spec["selector"]["matchLabels"]


def _agent_pod(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    pod = doc["spec"]["template"]
    (init,) = [c for c in pod["spec"]["initContainers"] if c["name"] == "identity-init"]
    (agent,) = pod["spec"]["containers"]
    return pod, init, agent


@pytest.mark.parametrize("source", ["secret", "pvc-slot"])
def test_agent_gets_its_identity_from_an_init_container(source: str) -> None:
    doc = (
        by_kind(AGENT, "Deployment", "openclaw-agent")
        if source == "secret"
        else by_kind(STATEFULSET, "StatefulSet", "openclaw-agent")
    )
    pod, init, agent = _agent_pod(doc)
    assert pod["metadata"]["labels"][OPT_IN] == "true"
    assert init["image"] == "openclaw-pairing"
    assert init["command"] == ["openclaw-entrypoint", "--init-only"]
    init_env = env_of(init)
    assert init_env["OPENCLAW_STATE_DIR"] == "/home/node/.openclaw"
    # The storage follows the release (k8s/release/release.env), never a hard-coded format.
    assert init_env["OPENCLAW_IDENTITY_FORMAT"] == "auto"
    assert init_env["OPENCLAW_VERSION"] == {
        "configMapKeyRef": {"name": "openclaw-release", "key": "OPENCLAW_VERSION"}
    }
    # The init container writes into the same state dir the agent reads.
    assert mounts_of(init)["state"] == mounts_of(agent)["state"] == "/home/node/.openclaw"
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert "emptyDir" in volumes["state"]
    assert agent["command"][:4] == ["node", "dist/index.js", "node", "run"]
    assert "openclaw-gateway" in agent["command"]
    for container in (init, agent):
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]

    if source == "secret":
        assert doc["spec"]["replicas"] == 1, "one Secret is one device"
        key_file = init_env["OPENCLAW_DEVICE_PRIVATE_KEY_FILE"]
        key_dir = mounts_of(init)["device-key"]
        assert key_file.startswith(key_dir + "/")
        assert volumes["device-key"]["secret"]["secretName"] == "openclaw-agent-device"
        assert "OPENCLAW_IDENTITY_DIR" not in init_env
    else:
        assert init_env["OPENCLAW_DEVICE_ID"]["fieldRef"]["fieldPath"] == "metadata.name"
        assert mounts_of(init)["identity"] == init_env["OPENCLAW_IDENTITY_DIR"]
        templates = {t["metadata"]["name"] for t in doc["spec"]["volumeClaimTemplates"]}
        assert "identity" in templates
        assert "identity" not in mounts_of(agent), "the agent container never sees the slot store"


def _settings(path: Path) -> str:
    """The JSON5 config without comments and whitespace (URLs such as http:// survive)."""
    text = re.sub(r"(^|\s)//.*$", "", path.read_text(), flags=re.MULTILINE)
    return re.sub(r"\s+", "", text)


def test_k8s_gateway_config_matches_the_compose_one() -> None:
    assert _settings(K8S / "base" / "openclaw.json5") == _settings(COMPOSE_CONFIG)
    settings = _settings(COMPOSE_CONFIG)
    for needle in (
        "sshVerify:false",
        "autoApproveLocal:false",
        "checkOnStart:false",
        "telemetry:{enabled:false}",
    ):
        assert needle in settings


@pytest.mark.parametrize("name", ["install-config.sh", "openclaw.2026.7.json5"])
def test_k8s_gateway_era_files_are_the_compose_ones(name: str) -> None:
    """The gateway picks its config per schema era exactly as in compose (same script, same files)."""
    assert (K8S / "base" / name).read_text() == (ROOT / "compose" / "gateway" / name).read_text()
    gateway = by_kind(GATEWAY, "Deployment", "openclaw-gateway")
    command = " ".join(gateway["spec"]["template"]["spec"]["containers"][0]["command"])
    assert "sh /etc/openclaw/install-config.sh && exec node dist/index.js gateway" in command


@pytest.mark.parametrize("variant", ["", "agent-statefulset"])
def test_one_release_line_switches_images_and_identity_storage(variant: str, tmp_path: Path) -> None:
    """Rendered with the real kustomize (`kubectl kustomize`): edit release.env only, everything follows."""
    import shutil
    import subprocess

    from tests.conftest import need

    need(shutil.which("kubectl") is not None, "kubectl (kustomize)", "Install kubectl (it renders offline).")
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    (copy / "release" / "release.env").write_text("OPENCLAW_VERSION=2026.7.35\n")
    proc = subprocess.run(
        ["kubectl", "kustomize", str(copy / variant)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    images = sorted(
        c["image"]
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet")
        for c in d["spec"]["template"]["spec"]["containers"]
        if c["image"].startswith("openclaw/openclaw")
    )
    assert images == ["openclaw/openclaw:2026.7.35", "openclaw/openclaw:2026.7.35"]
    release = [
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("openclaw-release")
    ]
    assert len(release) == 1
    assert release[0]["data"] == {"OPENCLAW_VERSION": "2026.7.35"}
    workloads = "".join(yaml.safe_dump(d) for d in docs if d["kind"] in ("Deployment", "StatefulSet"))
    assert "sqlite" not in workloads.lower(), "a hard-coded SQLite identity format is left"
