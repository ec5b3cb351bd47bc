"""doctor against real containers: writable layer vs volumes, labels, published identities, the sidecar.

The persistence verdicts are checked against what Docker actually does: a file written where doctor says
"writable layer" is gone after the container is recreated, and one on a named volume is still there. The
seed scenario runs for real with the OpenClaw image: a node host whose identity lives in the writable
layer is a new device after every recreate, and doctor says so from its error line.

The sidecar checks look at Docker metadata only (command, health, environment, project), so the "sidecar"
containers here are stand-ins: a base image running a script named ``openclaw-sidecar`` with real Docker
healthchecks.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidecar.identity.keys import DeviceIdentity
from tests.conftest import RUN_ID, DockerNet, need
from tests.harness.gateway import RealGateway
from tests.integration.doctor_util import ROOT, Result, base_env, run_doctor

pytestmark = pytest.mark.integration

BASE_IMAGE = "local/python:3.11-bookworm"
IDIR = "/var/lib/openclaw-identity"
PUB_DIR = "/home/node/.openclaw/identity"


def images() -> dict[str, str]:
    """Image references written by scripts/build-images.sh (make test builds them)."""
    path = ROOT / "build" / "images.env"
    found = {"OPENCLAW_IMAGE": "openclaw-local:2026.9.6", "OPENCLAW_PAIRING_IMAGE": "openclaw-pairing:local"}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, _, value = line.partition("=")
                found[key.strip()] = value.strip()
    return found


def need_image(docker_client: Any, ref: str) -> None:
    try:
        docker_client.images.get(ref)
        ok = True
    except Exception:
        ok = False
    need(ok, f"the Docker image {ref}", "Run `scripts/build-images.sh` (make test does).")


def doctor_env(tmp_path: Path) -> dict[str, str]:
    extra = {"DOCKER_HOST": os.environ["DOCKER_HOST"]} if os.environ.get("DOCKER_HOST") else {}
    return base_env(tmp_path / "home", **extra)


def doctor(tmp_path: Path, *args: str) -> Result:
    return run_doctor(*args, "--workdir", str(tmp_path), env=doctor_env(tmp_path), cwd=tmp_path)


@pytest.fixture
def containers(docker_client: Any, run_label: dict[str, str]) -> Iterator[dict[str, Any]]:
    made: dict[str, Any] = {}
    yield made
    for container in made.values():
        with contextlib.suppress(Exception):
            container.remove(force=True)


@pytest.fixture
def volume(docker_client: Any, run_label: dict[str, str]) -> Iterator[str]:
    name = f"ocp-doctor-{RUN_ID}-{os.urandom(3).hex()}"
    docker_client.volumes.create(name=name, labels=run_label)
    yield name
    for container in docker_client.containers.list(all=True, filters={"volume": name}):
        container.remove(force=True)
    docker_client.volumes.get(name).remove(force=True)


def _run(docker_client: Any, run_label: dict[str, str], made: dict[str, Any], name: str, **kw: Any) -> Any:
    labels = {**run_label, **kw.pop("labels", {})}
    kw.setdefault("command", ["sleep", "600"])
    kw.setdefault("network_mode", "none")
    container = docker_client.containers.run(
        kw.pop("image", BASE_IMAGE), name=name, labels=labels, detach=True, **kw
    )
    made[name] = container
    return container


def _write_key(container: Any) -> None:
    done = container.exec_run(
        ["sh", "-c", f"mkdir -p {IDIR}/default && echo key > {IDIR}/default/device.json"]
    )
    assert done.exit_code == 0, done.output


def _has_key(container: Any) -> bool:
    return container.exec_run(["test", "-f", f"{IDIR}/default/device.json"]).exit_code == 0


def _recreate(
    docker_client: Any, run_label: dict[str, str], made: dict[str, Any], name: str, **kw: Any
) -> Any:
    made.pop(name).remove(force=True)
    return _run(docker_client, run_label, made, name, **kw)


def test_identity_in_writable_layer_is_lost_on_recreate(
    docker_client: Any, run_label: dict[str, str], containers: dict[str, Any], volume: str, tmp_path: Path
) -> None:
    name = f"ocp-doctor-layer-{RUN_ID}"
    spec: dict[str, Any] = {"environment": {"OPENCLAW_IDENTITY_DIR": IDIR}}
    container = _run(docker_client, run_label, containers, name, **spec)
    result = doctor(tmp_path, "--container", name)
    assert "docker.identity-in-writable-layer" in result.ids
    assert f"mount a volume at {IDIR}" in result.get("docker.identity-in-writable-layer")["fix"]
    _write_key(container)
    assert not _has_key(_recreate(docker_client, run_label, containers, name, **spec))  # doctor was right

    named = f"ocp-doctor-volume-{RUN_ID}"
    spec = {"environment": {"OPENCLAW_IDENTITY_DIR": IDIR}, "volumes": {volume: {"bind": IDIR, "mode": "rw"}}}
    container = _run(docker_client, run_label, containers, named, **spec)
    result = doctor(tmp_path, "--container", named)
    assert not [i for i in result.ids if i.startswith("docker.identity-")]
    assert volume in result.data["checks"]["docker"]["summary"]
    _write_key(container)
    assert _has_key(_recreate(docker_client, run_label, containers, named, **spec))  # doctor was right


def test_identity_on_tmpfs_and_anonymous_volume(
    docker_client: Any, run_label: dict[str, str], containers: dict[str, Any], tmp_path: Path
) -> None:
    env = {"OPENCLAW_STATE_DIR": "/home/node/.openclaw"}
    _run(
        docker_client,
        run_label,
        containers,
        f"ocp-doctor-tmpfs-{RUN_ID}",
        environment=env,
        tmpfs={"/home/node/.openclaw": ""},
    )
    tmpfs = doctor(tmp_path, "--container", f"ocp-doctor-tmpfs-{RUN_ID}")
    assert "docker.identity-in-writable-layer" in tmpfs.ids
    assert "tmpfs" in tmpfs.get("docker.identity-in-writable-layer")["seen"]
    _run(
        docker_client,
        run_label,
        containers,
        f"ocp-doctor-anon-{RUN_ID}",
        environment=env,
        volumes=["/home/node/.openclaw"],
    )
    anon = doctor(tmp_path, "--container", f"ocp-doctor-anon-{RUN_ID}")
    assert "docker.identity-on-anonymous-volume" in anon.ids
    for container in docker_client.containers.list(all=True, filters={"name": f"ocp-doctor-anon-{RUN_ID}"}):
        container.remove(force=True, v=True)  # and its anonymous volume
    containers.pop(f"ocp-doctor-anon-{RUN_ID}", None)


def _publish(container: Any, identity: DeviceIdentity) -> None:
    assert container.exec_run(["mkdir", "-p", PUB_DIR]).exit_code == 0
    data = json.dumps(identity.public("default").to_json()).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("device.pub.json")
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    assert container.put_archive(PUB_DIR, buf.getvalue())


def test_labels_and_published_identity(
    docker_client: Any, run_label: dict[str, str], containers: dict[str, Any], volume: str, tmp_path: Path
) -> None:
    spec = {"volumes": {volume: {"bind": "/home/node/.openclaw", "mode": "rw"}}}
    _run(docker_client, run_label, containers, f"ocp-doctor-nolabel-{RUN_ID}", **spec)
    plain = doctor(tmp_path, "--container", f"ocp-doctor-nolabel-{RUN_ID}")
    assert plain.ids == ["docker.missing-opt-in-label"]
    bad_label = {
        "openclaw.pairing.auto-approve": "true",
        "openclaw.pairing.identity-path": f"{PUB_DIR}/device.json",
    }
    _run(docker_client, run_label, containers, f"ocp-doctor-badpath-{RUN_ID}", labels=bad_label)
    bad = doctor(tmp_path, "--container", f"ocp-doctor-badpath-{RUN_ID}")
    assert "docker.bad-identity-path-label" in bad.ids
    name = f"ocp-doctor-labelled-{RUN_ID}"
    container = _run(
        docker_client, run_label, containers, name, labels={"openclaw.pairing.auto-approve": "true"}, **spec
    )
    missing = doctor(tmp_path, "--container", name)
    assert "docker.published-identity-missing" in missing.ids
    assert f"{PUB_DIR}/device.pub.json" in missing.get("docker.published-identity-missing")["seen"]
    _publish(container, DeviceIdentity.generate())
    published = doctor(tmp_path, "--container", name)
    assert "docker.published-identity-missing" not in published.ids
    named = doctor(tmp_path, "--container", name, "--sidecar", f"ocp-doctor-nosidecar-{RUN_ID}")
    assert named.ids == ["docker.no-sidecar"]  # opted in, but nothing would approve it


def _stand_in_sidecar(
    docker_client: Any,
    run_label: dict[str, str],
    made: dict[str, Any],
    tmp_path: Path,
    name: str,
    *,
    trusted: bool,
    healthy: bool,
    project: str,
) -> Any:
    shim = tmp_path / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "openclaw-sidecar").write_text("#!/bin/sh\nexec sleep 600\n")
    (shim / "openclaw-sidecar").chmod(0o755)
    env = {"OPENCLAW_TRUSTED_ENV": "1"} if trusted else {}
    check = {
        "test": ["CMD", "true" if healthy else "false"],
        "interval": 500_000_000,
        "timeout": 2_000_000_000,
        "retries": 1,
        "start_period": 0,
    }
    container = _run(
        docker_client,
        run_label,
        made,
        name,
        entrypoint=["/shim/openclaw-sidecar"],
        command=["run"],
        volumes={str(shim): {"bind": "/shim", "mode": "ro"}},
        environment=env,
        healthcheck=check,
        labels={"com.docker.compose.project": project},
    )
    want = "healthy" if healthy else "unhealthy"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        container.reload()
        if container.attrs["State"].get("Health", {}).get("Status") == want:
            return container
        time.sleep(0.5)
    raise AssertionError(f"{name} never became {want}")


def test_sidecar_running_ready_trusted_same_project(
    docker_client: Any, run_label: dict[str, str], containers: dict[str, Any], volume: str, tmp_path: Path
) -> None:
    agent = f"ocp-doctor-agent-{RUN_ID}"
    labels = {"openclaw.pairing.auto-approve": "true", "com.docker.compose.project": "proj-a"}
    container = _run(
        docker_client,
        run_label,
        containers,
        agent,
        labels=labels,
        volumes={volume: {"bind": "/home/node/.openclaw", "mode": "rw"}},
    )
    _publish(container, DeviceIdentity.generate())

    bad = f"ocp-doctor-sidecar-bad-{RUN_ID}"
    _stand_in_sidecar(
        docker_client, run_label, containers, tmp_path, bad, trusted=False, healthy=False, project="proj-b"
    )
    result = doctor(tmp_path, "--container", agent, "--sidecar", bad)
    assert sorted(result.ids) == [
        "docker.sidecar-other-project",
        "docker.sidecar-unhealthy",
        "docker.sidecar-untrusted",
    ]
    assert f"docker logs {bad}" in result.get("docker.sidecar-unhealthy")["fix"]
    assert "OPENCLAW_TRUSTED_ENV" in result.get("docker.sidecar-untrusted")["fix"]
    containers.pop(bad).remove(force=True)

    good = f"ocp-doctor-sidecar-good-{RUN_ID}"
    _stand_in_sidecar(
        docker_client, run_label, containers, tmp_path, good, trusted=True, healthy=True, project="proj-a"
    )
    healthy = doctor(tmp_path, "--container", agent, "--sidecar", good)
    assert healthy.ids == [], healthy.data
    assert healthy.code == 0
    assert good in healthy.data["checks"]["docker"]["summary"]


def test_container_that_does_not_exist(tmp_path: Path, docker_client: Any) -> None:
    result = doctor(tmp_path, "--container", f"ocp-doctor-missing-{RUN_ID}")
    assert result.ids == ["docker.cannot-inspect"]
    assert result.code == 2


# --- doctor inside an agent container (mountinfo) ---------------------------------------------------


def test_doctor_inside_the_container(
    docker_client: Any, run_label: dict[str, str], containers: dict[str, Any], volume: str
) -> None:
    """The in-container path (what `openclaw-entrypoint --doctor` runs): writable layer vs a volume."""
    image = images()["OPENCLAW_PAIRING_IMAGE"]
    need_image(docker_client, image)
    env = {
        "PYTHONPATH": "/opt/doctor-src",
        "OPENCLAW_VERSION": "2026.9.6",
        "OPENCLAW_IDENTITY_DIR": IDIR,
        "OPENCLAW_STATE_DIR": "/home/node/.openclaw",
        "OPENCLAW_UID": "1000",
        "OPENCLAW_GID": "1000",
    }
    src = {str(ROOT / "sidecar"): {"bind": "/opt/doctor-src/sidecar", "mode": "ro"}}

    def run(name: str, volumes: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        c = _run(
            docker_client,
            run_label,
            containers,
            name,
            image=image,
            environment=env,
            command=["python", "-m", "sidecar.cli.doctor", "--fix", "--json"],
            volumes={**src, **volumes},
            healthcheck={"test": ["NONE"]},
        )
        code = int(c.wait(timeout=60)["StatusCode"])
        return code, json.loads(c.logs(stdout=True, stderr=False))

    code, layer = run(f"ocp-doctor-in-layer-{RUN_ID}", {})
    assert [f["id"] for f in layer["fixes"]] == ["identity.missing"]
    assert [f["id"] for f in layer["findings"]] == ["identity.not-persistent"], layer
    assert "overlay" in layer["findings"][0]["seen"] or "root file system" in layer["findings"][0]["seen"]
    assert code == 1
    code, on_volume = run(f"ocp-doctor-in-volume-{RUN_ID}", {volume: {"bind": IDIR, "mode": "rw"}})
    assert on_volume["findings"] == [], on_volume
    assert code == 0


# --- the seed scenario with the real OpenClaw image ------------------------------------------------------


def _node_host(
    docker_client: Any,
    run_label: dict[str, str],
    made: dict[str, Any],
    gw: RealGateway,
    net: DockerNet,
    name: str,
    volumes: dict[str, Any],
) -> Any:
    image = images()["OPENCLAW_IMAGE"]
    need_image(docker_client, image)
    env = {
        "OPENCLAW_GATEWAY_TOKEN": gw.token,
        "OPENCLAW_ALLOW_INSECURE_PRIVATE_WS": "1",
        "OPENCLAW_NO_AUTO_UPDATE": "1",
        "DO_NOT_TRACK": "1",
        "OPENCLAW_DISABLE_BONJOUR": "1",
    }
    command = [
        "node",
        "dist/index.js",
        "node",
        "run",
        "--host",
        net.gateway_ip,
        "--port",
        str(gw.port),
        "--no-tls",
        "--display-name",
        name,
    ]
    return _run(
        docker_client,
        run_label,
        made,
        name,
        image=image,
        command=command,
        environment=env,
        network_mode=None,
        network=net.name,
        volumes=volumes,
        healthcheck={"test": ["NONE"]},
        labels={"openclaw.pairing.auto-approve": "true"},
    )


def _pairing_line(container: Any, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [
            ln for ln in container.logs().decode(errors="replace").splitlines() if "pairing required" in ln
        ]
        if lines:
            return lines[-1]
        time.sleep(1)
    raise AssertionError("no pairing refusal in the node host's log:\n" + container.logs().decode()[-3000:])


def _devices(gw: RealGateway, name: str) -> set[str]:
    listing = gw.cli_json("devices", "list")
    return {p["deviceId"] for p in listing["pending"] + listing["paired"] if p.get("displayName") == name}


def test_new_device_per_redeploy_with_the_real_openclaw_image(
    gateway96: RealGateway,
    docker_client: Any,
    docker_net: DockerNet,
    run_label: dict[str, str],
    containers: dict[str, Any],
    volume: str,
    tmp_path: Path,
) -> None:
    name = f"ocp-doctor-node-{RUN_ID}"
    first = _node_host(docker_client, run_label, containers, gateway96, docker_net, name, {})
    line = _pairing_line(first)
    result = doctor(
        tmp_path,
        "--container",
        name,
        "--error",
        line,
        "--gateway-url",
        gateway96.url,
        "--token",
        gateway96.token,
    )
    assert "error-b.new-device-per-redeploy" in result.ids, result.data
    assert "/home/node/.openclaw" in result.get("error-b.new-device-per-redeploy")["fix"]
    assert "pairing.pending" in result.ids  # the request from the pasted line, found at the gateway
    containers.pop(name).remove(force=True)
    _pairing_line(_node_host(docker_client, run_label, containers, gateway96, docker_net, name, {}))
    assert len(_devices(gateway96, name)) == 2  # recreated: a second device, as doctor said

    kept = f"ocp-doctor-node-vol-{RUN_ID}"
    vols = {volume: {"bind": "/home/node/.openclaw", "mode": "rw"}}
    line = _pairing_line(_node_host(docker_client, run_label, containers, gateway96, docker_net, kept, vols))
    result = doctor(tmp_path, "--container", kept, "--error", line)
    assert "error-b.pairing-required" in result.ids  # just not approved yet; nothing about redeploys
    assert not [i for i in result.ids if i.startswith(("docker.identity-", "error-b.new-device"))]
    containers.pop(kept).remove(force=True)
    _pairing_line(_node_host(docker_client, run_label, containers, gateway96, docker_net, kept, vols))
    assert len(_devices(gateway96, kept)) == 1  # recreated on the volume: the same device


def _publish_for(container: Any, identity: DeviceIdentity, storage: str, release: str) -> None:
    """device.pub.json as identity-init writes it: with the storage it wrote and the release it was told."""
    assert container.exec_run(["mkdir", "-p", PUB_DIR]).exit_code == 0
    data = json.dumps(identity.public("agent", storage, release).to_json()).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("device.pub.json")
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    assert container.put_archive(PUB_DIR, buf.getvalue())


def test_identity_written_for_another_release_names_the_release_to_set(
    docker_client: Any, run_label: dict[str, str], containers: dict[str, Any], volume: str, tmp_path: Path
) -> None:
    """A 2026.7 agent image (its version label) whose identity was written to SQLite (told 2026.9.6)."""
    from tests.e2e.stack import COMPAT_VERSION, PINNED_VERSION

    image = f"openclaw-local:{COMPAT_VERSION}"
    need_image(docker_client, image)
    name = f"ocp-doctor-era-{RUN_ID}"
    container = _run(
        docker_client,
        run_label,
        containers,
        name,
        image=image,
        labels={"openclaw.pairing.auto-approve": "true"},
        volumes={volume: {"bind": "/home/node/.openclaw", "mode": "rw"}},
    )
    identity = DeviceIdentity.generate()
    _publish_for(container, identity, "sqlite", PINNED_VERSION)
    wrong = doctor(tmp_path, "--container", name)
    found = wrong.get("docker.identity-storage-mismatch")
    assert found["severity"] == "error"
    assert f"its OpenClaw release {COMPAT_VERSION}" in found["seen"]
    assert "reads identity/device.json, identity-init wrote state/openclaw.sqlite" in found["seen"]
    assert f"OPENCLAW_VERSION={PINNED_VERSION}" in found["seen"]
    assert f"set OPENCLAW_VERSION={COMPAT_VERSION}" in found["fix"]
    _publish_for(container, identity, "json", COMPAT_VERSION)
    right = doctor(tmp_path, "--container", name)
    assert "docker.identity-storage-mismatch" not in right.ids
