"""doctor against the real gateways (2026.9.6 and 2026.2.26): their own refusals, and real pairing state.

Refusals are produced by connecting with raw frames from the remote-peer namespace (doctor_util.refusal),
so the text doctor classifies is byte for byte what the gateway sent: the ``res.error`` frame and the
close reason. Pairing states (pending, superseded, expired/rejected, paired, unknown) are made by real
devices connecting, and changed only through the gateway's own CLI or RPC — never by doctor.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest

from sidecar.doctor.classify import classify
from sidecar.gateway.client import GatewayClient
from sidecar.identity.device_file import write_identity_file
from sidecar.identity.keys import DeviceIdentity
from tests.harness.devices import request_from
from tests.harness.gateway import RealGateway, openclaw_bin, openclaw_env
from tests.harness.netns import ClientNetns
from tests.integration.doctor_util import Result, base_env, refusal, run_doctor
from tests.integration.test_doctor_real import Agent

pytestmark = pytest.mark.integration


def _remote(gw: RealGateway, ns: ClientNetns, identity: DeviceIdentity | None = None, **kw: object):  # type: ignore[no-untyped-def]
    url = gw.url_via(ns.host_ip)
    return ns.call(lambda: refusal(url, kw.pop("token", gw.token), identity, **kw))  # type: ignore[arg-type]


def _both(texts: list[str], finding_id: str) -> None:
    for text in texts:
        assert classify(text).finding_id == finding_id, text


# --- the gateways' own refusals, classified ------------------------------------------------------


def test_error_a_from_real_gateway(gateway: RealGateway, client_ns: ClientNetns, tmp_path: Path) -> None:
    ui = _remote(
        gateway,
        client_ns,
        client_id="openclaw-control-ui",
        mode="webchat",
        origin=f"http://127.0.0.1:{gateway.port}",
    )
    assert ui.close_code == 1008
    _both([ui.message, ui.close_reason, ui.frame_text], "error-a.insecure-context")
    node = _remote(gateway, client_ns, role="node", scopes=())
    assert node.close_code == 1008
    _both([node.message, node.close_reason, node.frame_text], "error-a.device-identity-required")
    plain = run_doctor("--error", node.close_reason, env=base_env(tmp_path), cwd=tmp_path)
    assert plain.ids == ["error-a.device-identity-required"]
    assert "nothing" not in plain.get("error-a.device-identity-required")["fix"]
    # With the URL the user opened, doctor names the cause: plain http:// to a LAN address.
    lan = f"http://{client_ns.host_ip}:{gateway.port}/"
    result = run_doctor(
        "--error",
        f"disconnected (1008): {node.close_reason}",
        "--ui-url",
        lan,
        env=base_env(tmp_path),
        cwd=tmp_path,
    )
    assert result.ids == ["error-a.insecure-context"]
    assert f"http://localhost:{gateway.port}/" in result.get("error-a.insecure-context")["fix"]
    assert result.code == 1


def test_error_b_from_real_gateway(gateway: RealGateway, client_ns: ClientNetns, tmp_path: Path) -> None:
    identity = DeviceIdentity.generate()
    b = _remote(gateway, client_ns, identity)
    request_id = b.frame["error"]["details"]["requestId"]
    for text in (b.message, b.close_reason, b.frame_text):
        c = classify(text)
        assert c.finding_id == "error-b.pairing-required", text
    assert classify(b.frame_text).request_id == request_id
    if gateway.protocol == 4:  # 2026.6+: the id is echoed in the close reason
        assert classify(b.close_reason).request_id == request_id
        assert classify(b.close_reason).generation == "2026.6+"
    else:  # 2026.2.x: bare "pairing required", the id only in details
        assert b.close_reason == "pairing required"
        assert classify(b.close_reason).generation == "2026.2"
    # doctor with the gateway: the pasted id is pending, approve exactly it.
    agent = Agent(tmp_path)
    result = run_doctor(
        "--error",
        b.frame_text,
        "--gateway-url",
        gateway.url,
        "--token",
        gateway.token,
        "--device-id",
        identity.device_id,
        env=agent.env,
        cwd=tmp_path,
        persistent=[tmp_path],
    )
    assert {"error-b.pairing-required", "pairing.pending"} <= set(result.ids)
    assert f"openclaw devices approve {request_id}" in result.get("pairing.pending")["fix"]


def _pair(gw: RealGateway, ns: ClientNetns, identity: DeviceIdentity, **kw: object) -> None:
    attempt = request_from(ns, gw, identity=identity, **kw)
    assert attempt.request_id
    approved = gw.cli("devices", "approve", attempt.request_id)
    assert approved.returncode == 0, approved.stderr


def test_upgrades_from_real_gateway(gateway: RealGateway, client_ns: ClientNetns) -> None:
    identity = DeviceIdentity.generate()
    _pair(gateway, client_ns, identity, scopes=("operator.read",))
    scope = _remote(
        gateway, client_ns, identity, scopes=("operator.read", "operator.write", "operator.pairing")
    )
    role = _remote(gateway, client_ns, identity, role="node", scopes=())
    meta = _remote(gateway, client_ns, identity, platform="macos")
    cases = {"error-b.scope-upgrade": scope, "error-b.role-upgrade": role, "error-b.metadata-upgrade": meta}
    for finding_id, r in cases.items():
        _both([r.frame_text], finding_id)  # details.reason, both generations
        if gateway.protocol == 4:  # 2026.6+ words the requirement in the message and the close reason
            _both([r.message, r.close_reason], finding_id)
        else:  # 2026.2.x says only "pairing required": the generic finding, the reason is unknown
            _both([r.message, r.close_reason], "error-b.pairing-required")


def test_other_refusals_from_real_gateway(gateway: RealGateway, client_ns: ClientNetns) -> None:
    identity = DeviceIdentity.generate()
    cases = {
        "auth.token-mismatch": _remote(gateway, client_ns, identity, token="wrong-token"),
        "protocol.mismatch": _remote(gateway, client_ns, identity, protocols=(9, 9)),
        "device-auth.clock-skew": _remote(gateway, client_ns, identity, skew_ms=600_000),
        "device-auth.invalid": _remote(gateway, client_ns, identity, forge=True),
        "control-ui.origin-not-allowed": _remote(
            gateway, client_ns, client_id="openclaw-control-ui", mode="webchat"
        ),
    }
    missing = _remote(gateway, client_ns, identity, token=None)
    _both([missing.message, missing.close_reason], "auth.token-mismatch")
    for finding_id, r in cases.items():
        _both([r.message, r.close_reason, r.frame_text], finding_id)
    assert cases["protocol.mismatch"].close_code == 1002


def test_device_token_mismatch_from_real_gateway(gateway226: RealGateway, client_ns: ClientNetns) -> None:
    r = _remote(
        gateway226, client_ns, DeviceIdentity.generate(), token="x" * 43, auth={"deviceToken": "x" * 43}
    )
    _both([r.message, r.close_reason, r.frame_text], "auth.device-token-mismatch")


def test_missing_scope_from_real_cli(gateway96: RealGateway, client_ns: ClientNetns, tmp_path: Path) -> None:
    env = openclaw_env(tmp_path, OPENCLAW_ALLOW_INSECURE_PRIVATE_WS="1")
    argv = [
        str(openclaw_bin(gateway96.version)),
        "devices",
        "list",
        "--url",
        gateway96.url_via(client_ns.host_ip),
        "--token",
        gateway96.token,
        "--json",
    ]
    done = subprocess.run(client_ns.exec_argv(argv), env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 1
    c = classify(done.stdout + done.stderr)
    assert c.finding_id == "auth.missing-scope"
    assert c.scope == "operator.pairing"


# --- pairing state at the gateway --------------------------------------------------------------------


def _doctor(agent: Agent, gw: RealGateway, *args: str, **kw: object) -> Result:
    return agent.doctor("--gateway-url", gw.url, "--token", gw.token, *args, **kw)  # type: ignore[arg-type]


def test_pending_request_of_the_agents_identity(
    gateway: RealGateway, client_ns: ClientNetns, tmp_path: Path
) -> None:
    agent = Agent(tmp_path)
    identity = agent.ensure().identity
    attempt = request_from(client_ns, gateway, identity=identity)
    result = _doctor(agent, gateway)
    assert result.ids == ["pairing.pending"]
    pending = result.get("pairing.pending")
    assert attempt.request_id in pending["seen"]
    assert client_ns.client_ip in pending["seen"]
    assert f"openclaw devices approve {attempt.request_id}" in pending["fix"]
    assert result.code == 1


def test_superseded_request(gateway96: RealGateway, client_ns: ClientNetns, tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    identity = agent.ensure().identity
    first = _remote(gateway96, client_ns, identity, scopes=("operator.read",))
    second = request_from(client_ns, gateway96, identity=identity, scopes=("operator.read", "operator.write"))
    old = first.frame["error"]["details"]["requestId"]
    assert second.request_id
    assert second.request_id != old
    result = _doctor(agent, gateway96, "--error", first.close_reason)
    assert "pairing.superseded" in result.ids
    assert f"openclaw devices approve {second.request_id}" in result.get("pairing.superseded")["fix"]
    # The real CLI confirms: the old id is gone, the new one approves.
    stale = gateway96.cli("devices", "approve", old)
    assert stale.returncode == 1
    assert "No pending device request matches" in stale.stderr
    assert gateway96.cli("devices", "approve", str(second.request_id)).returncode == 0


def test_same_request_refreshed_on_2026_2(
    gateway226: RealGateway, client_ns: ClientNetns, tmp_path: Path
) -> None:
    """2026.2.x merges a retry into the pending request (same id): nothing is superseded there."""
    agent = Agent(tmp_path)
    identity = agent.ensure().identity
    first = request_from(client_ns, gateway226, identity=identity, scopes=("operator.read",))
    second = request_from(
        client_ns, gateway226, identity=identity, scopes=("operator.read", "operator.write")
    )
    assert first.request_id == second.request_id
    result = _doctor(agent, gateway226, "--request-id", str(first.request_id))
    assert result.ids == ["pairing.pending"]


def test_request_gone_after_reject(gateway: RealGateway, client_ns: ClientNetns, tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    identity = agent.ensure().identity
    attempt = request_from(client_ns, gateway, identity=identity)

    async def reject() -> None:
        async with GatewayClient(
            gateway.url, token=gateway.token, identity=None, scopes=("operator.admin",)
        ) as c:
            await c.reject(str(attempt.request_id))

    asyncio.run(reject())
    result = _doctor(agent, gateway, "--error", f"pairing required (requestId: {attempt.request_id})")
    assert "pairing.request-gone" in result.ids
    assert "within 5 minutes" in result.get("pairing.request-gone")["fix"]


def test_unknown_device(gateway: RealGateway, tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    identity = agent.ensure().identity
    result = _doctor(agent, gateway)
    assert result.ids == ["pairing.unknown-device"]
    assert identity.device_id in result.get("pairing.unknown-device")["seen"]


def test_paired_device_is_healthy(gateway: RealGateway, client_ns: ClientNetns, tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    identity = agent.ensure().identity
    _pair(gateway, client_ns, identity, scopes=("operator.read", "operator.write"))
    result = _doctor(agent, gateway)
    assert result.ids == ["pairing.paired"]
    assert "roles operator" in result.get("pairing.paired")["seen"]
    assert result.code == 0, result.data


def test_gateway_unreachable_is_could_not_check(tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    agent.ensure()
    result = agent.doctor("--gateway-url", "ws://127.0.0.1:9", "--token", "t", "--timeout", "3")
    assert result.ids == ["gateway.unreachable"]
    assert result.code == 2


def test_doctor_with_a_wrong_token(gateway: RealGateway, tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    agent.ensure()
    result = agent.doctor("--gateway-url", gateway.url, "--token", "not-the-token")
    assert result.ids == ["auth.token-mismatch"]
    assert result.code == 1


def test_cannot_list_from_a_remote_host_without_an_approved_identity(
    gateway96: RealGateway, client_ns: ClientNetns, tmp_path: Path
) -> None:
    agent = Agent(tmp_path)
    attempt = request_from(client_ns, gateway96, identity=agent.ensure().identity)
    url = gateway96.url_via(client_ns.host_ip)
    args = ("--gateway-url", url, "--token", gateway96.token)
    remote = agent.doctor(*args, prefix=client_ns.exec_argv([]))
    assert remote.ids == ["pairing.cannot-list"]
    assert remote.code == 2
    # An approved lister identity (like the sidecar's own) makes it work from there too.
    lister_dir = tmp_path / "lister"
    lister_dir.mkdir()
    lister = DeviceIdentity.generate()
    write_identity_file(lister_dir / "identity.json", lister)
    _pair(
        gateway96,
        client_ns,
        lister,
        client_id="gateway-client",
        client_mode="backend",
        scopes=("operator.pairing",),
    )
    with_lister = agent.doctor(*args, "--pairing-state-dir", str(lister_dir), prefix=client_ns.exec_argv([]))
    assert with_lister.ids == ["pairing.pending"], with_lister.data  # it sees other devices' requests
    assert str(attempt.request_id) in with_lister.get("pairing.pending")["seen"]


# --- the agent's last connect attempt, from a real OpenClaw client's log ----------------------------


def _node_host(
    gw: RealGateway, ns: ClientNetns, home: Path, out: Path, **env: str
) -> subprocess.Popen[bytes]:
    argv = [
        str(openclaw_bin(gw.version)),
        "node",
        "run",
        "--host",
        ns.host_ip,
        "--port",
        str(gw.port),
        "--no-tls",
        "--display-name",
        "doctor-node",
    ]
    with out.open("w") as fh:
        return subprocess.Popen(
            ns.exec_argv(argv),
            env=openclaw_env(home, OPENCLAW_GATEWAY_TOKEN=gw.token, **env),
            stdout=fh,
            stderr=subprocess.STDOUT,
        )


def _wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError(f"{text!r} not in {path}:\n{path.read_text(errors='replace')[-3000:]}")


def test_real_cli_log_missing_scope(gateway96: RealGateway, client_ns: ClientNetns, tmp_path: Path) -> None:
    """--log with the real CLI's human output: a remote token-only client gets no scopes (2026.6+)."""
    out = tmp_path / "cli.out"
    argv = [
        str(openclaw_bin(gateway96.version)),
        "devices",
        "list",
        "--url",
        gateway96.url_via(client_ns.host_ip),
        "--token",
        gateway96.token,
    ]
    done = subprocess.run(
        client_ns.exec_argv(argv), env=openclaw_env(tmp_path), capture_output=True, text=True, timeout=90
    )
    out.write_text(done.stdout + done.stderr)
    assert done.returncode != 0, out.read_text()
    result = run_doctor("--log", str(out), env=base_env(tmp_path / "nohome"), cwd=tmp_path)
    assert result.ids == ["auth.missing-scope"], out.read_text()
    assert "operator.pairing" in result.get("auth.missing-scope")["fix"]


def test_real_node_host_log_pairing_required(
    gateway96: RealGateway, client_ns: ClientNetns, tmp_path: Path
) -> None:
    """The seed's error B end to end: a real OpenClaw client, its log, its SQLite identity, the gateway."""
    home = tmp_path / "home"
    out = tmp_path / "node.out"
    proc = _node_host(gateway96, client_ns, home, out, OPENCLAW_ALLOW_INSECURE_PRIVATE_WS="1")
    try:
        _wait_for(out, "pairing required", proc)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    state = home / ".openclaw"
    env = base_env(home, OPENCLAW_STATE_DIR=str(state))
    result = run_doctor(
        "--log",
        str(out),
        "--gateway-url",
        gateway96.url,
        "--token",
        gateway96.token,
        "--workdir",
        str(tmp_path),
        env=env,
        persistent=[tmp_path],
        cwd=tmp_path,
    )
    error = result.get("error-b.pairing-required")
    pending = result.get("pairing.pending")
    listed = [
        p for p in gateway96.cli_json("devices", "list")["pending"] if p.get("displayName") == "doctor-node"
    ]
    assert len(listed) == 1
    assert listed[0]["requestId"] in error["fix"]  # the id from the log is the one pending for this device
    assert listed[0]["requestId"] in pending["seen"]
    assert listed[0]["deviceId"][:12] in pending["seen"]  # doctor read the device from OpenClaw's own SQLite


# --- last, because it restarts the shared 2026.9.6 gateway ------------------------------------------------


def test_gateway_starting_is_transient(gateway96: RealGateway, tmp_path: Path) -> None:
    """2026.8+ refuses connections while it starts (close 1013); doctor calls it transient, not a problem."""
    import threading

    restart = threading.Thread(target=gateway96.restart, daemon=True)
    restart.start()
    starting = None
    while restart.is_alive() and starting is None:
        try:
            r = refusal(
                gateway96.url,
                gateway96.token,
                None,
                client_id="gateway-client",
                mode="backend",
                scopes=("operator.pairing",),
            )
        except OSError:  # not listening yet
            r = None
        except Exception:  # HTTP 503 while shutting down, and friends
            r = None
        if r is not None and r.close_code == 1013:
            starting = r
        time.sleep(0.1)
    restart.join(300)
    assert starting is not None, "never saw the gateway's start-up refusal"
    for text in (starting.message, f'close {starting.close_code} "{starting.close_reason}"'):
        result = run_doctor("--error", text, env=base_env(tmp_path), cwd=tmp_path)
        assert result.ids == ["gateway.starting"]
        assert result.code == 0  # informational: retry, nothing to fix
