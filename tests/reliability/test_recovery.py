"""Recovery: the shipped compose stack after `kill -9` of each of its long-running containers — back to
ready and approving with no human step, timed. (The Docker engine restart is
tests/e2e/test_stack_survives_restarts.py, ordered last in the session and counted here too.)

And the same stack after the gateway's state volume filled up: a new device deployed meanwhile is approved
and connects once space is freed, timed from the moment it is freed.

A real crash, not `docker kill` (which Docker may treat as a manual stop): SIGKILL to the container's
main process from the host, so the restart policy (`unless-stopped`) is what brings it back.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import e2e_images, stack_factory  # noqa: F401 - fixtures for this module
from tests.e2e.stack import ComposeStack, wait_for
from tests.reliability.tally import Tally

CATEGORY = "recovery"
LONG_RUNNING = ("openclaw-gateway", "pairing-sidecar", "agent")


def _state(stack: ComposeStack, service: str) -> dict[str, object]:
    cid = stack.container_id(service)
    assert cid, f"no container for {service}"
    attrs = stack.inspect(cid)
    return dict(attrs["State"]) | {"RestartCount": attrs["RestartCount"]}


def _ready(stack: ComposeStack) -> bool:
    code = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9477/readyz', timeout=3).status)"
    out = stack.compose("exec", "-T", "pairing-sidecar", "python3", "-c", code, check=False, timeout=60)
    return out.strip().endswith("200")


def _connects(stack: ComposeStack) -> int:
    return sum("gateway connected" in line for line in stack.logs("agent"))


def test_kill9_of_each_container_comes_back_and_approves(
    stack_factory: Callable[..., ComposeStack],  # noqa: F811 - the imported fixture
    tally: Tally,
) -> None:
    stack = stack_factory()
    stack.up()
    wait_for("the agent connected", lambda: _connects(stack) > 0, 120, on_fail=stack.diagnostics)
    for service in LONG_RUNNING:
        before = _state(stack, service)
        connects = _connects(stack)
        pid = int(str(before["Pid"]))
        assert pid > 0, before
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        tally.fault(f"kill -9 of {service}")

        def came_back(svc: str = service, count: object = before["RestartCount"]) -> bool:
            now = _state(stack, svc)
            return now["RestartCount"] != count and bool(now["Running"])

        wait_for(f"{service} restarted by its restart policy", came_back, 120, on_fail=stack.diagnostics)
        restarted = time.monotonic() - t0
        wait_for("the sidecar ready", lambda: _ready(stack), 180, on_fail=stack.diagnostics)
        if service != "pairing-sidecar":  # the agent reconnects after its own or the gateway's restart

            def reconnected(count: int = connects) -> bool:
                return _connects(stack) > count

            wait_for("the agent reconnected", reconnected, 180, on_fail=stack.diagnostics)
        tally.measure(f"kill -9 of {service}: restarted", restarted, "s")
        tally.measure(
            f"kill -9 of {service}: back to ready (and agent connected)", time.monotonic() - t0, "s"
        )
        tally.inputs()
    # Still approving with no human step: a brand-new device for the agent.
    old = stack.published_device_id()
    stack.remove_agent_identity()
    t0 = time.monotonic()
    stack.up("agent")
    new = stack.published_device_id()
    assert new != old
    wait_for(
        "the new device approved", lambda: new in stack.paired_or_empty(), 120, on_fail=stack.diagnostics
    )
    tally.measure("new device approved after the kills (recreate → paired)", time.monotonic() - t0, "s")
    wrong = [d for d in stack.paired_or_empty() if d not in {old, new}]
    tally.wrong_approvals(len(wrong))
    assert not wrong


# --- the gateway's state volume full ---------------------------------------------------------------

STATE_SIZE = "128m"
# gateway-state on a small tmpfs. A tmpfs volume lives only while a container mounts it (Docker unmounts
# it with the last user), so a keeper container holds it for the whole test: a gateway restart then keeps
# its SQLite state, exactly like a disk. The keeper is also how the test fills and frees the volume.
FULL_OVERRIDE = f"""
services:
  state-keeper:
    image: ${{OPENCLAW_PAIRING_IMAGE:-openclaw-pairing:local}}
    entrypoint: ["sleep", "infinity"]
    network_mode: none
    init: true
    volumes: ["gateway-state:/state"]
    healthcheck: {{ test: ["CMD", "true"], interval: 2s, timeout: 5s, retries: 3 }}
    restart: unless-stopped
  openclaw-gateway:
    depends_on: [state-keeper]
volumes:
  gateway-state:
    driver_opts: {{ type: tmpfs, device: tmpfs, o: "size={STATE_SIZE},uid=1000,gid=1000" }}
"""
FILLER = "/state/filler"


def _keeper(stack: ComposeStack, script: str) -> str:
    return stack.compose("exec", "-T", "state-keeper", "sh", "-c", script, timeout=120)


def _running(stack: ComposeStack, service: str) -> bool:
    return bool(_state(stack, service)["Running"])


def test_gateway_state_volume_full_then_freed(
    stack_factory: Callable[..., ComposeStack],  # noqa: F811 - the imported fixture
    tally: Tally,
    tmp_path: Path,
) -> None:
    """docs/deployment.md, "The gateway's state volume is full".

    While the volume is full, OpenClaw 2026.9.6 keeps running and healthy but cannot create a pending
    request (the connect is closed, code 1000, "database or disk is full" in its log) nor list requests:
    there is nothing to approve, so nothing is approved. The deploy of a brand-new device (`docker compose
    up agent`, issued while full) waits in identity-init's pre-pairing; once space is freed the gateway
    opens the request, the sidecar approves it and the agent connects — no human step, as long as the
    volume is freed within identity-init's OPENCLAW_PREPAIR_TIMEOUT (default 120 s; after that it exits 7
    and the deploy has to be run again).
    """
    override = tmp_path / "state-full.yml"
    override.write_text(FULL_OVERRIDE)
    stack = stack_factory(files=[override])
    stack.up()
    stack.agent_connected_first_time(120)
    old = stack.published_device_id()
    sidecar_restarts = _state(stack, "pairing-sidecar")["RestartCount"]

    out = _keeper(stack, f"dd if=/dev/zero of={FILLER} bs=64k 2>&1; df -k /state | tail -1")
    assert "No space left on device" in out, out
    assert " 100% " in out, out
    tally.fault("gateway state volume full")
    # A brand-new device deployed while the volume is full: a new key for the agent, `up agent`.
    stack.remove_agent_identity()
    deploy: list[BaseException | None] = []

    def up_agent() -> None:
        try:
            stack.up("agent")
        except BaseException as exc:
            deploy.append(exc)
        else:
            deploy.append(None)

    thread = threading.Thread(target=up_agent, daemon=True)
    thread.start()
    new = wait_for("identity-init published the new key", lambda: _published_or_none(stack), 60, 1.0)
    assert new != old
    time.sleep(30)  # the deploy waits on a full volume
    assert _running(stack, "openclaw-gateway"), stack.diagnostics()  # running, and healthy all along
    assert _running(stack, "pairing-sidecar"), stack.diagnostics()
    assert new not in stack.paired_or_empty()
    assert not stack.audit_for(device_id=new, actions=("approve",)), "approved while nothing could be stored"
    gateway_log = "\n".join(stack.logs("openclaw-gateway"))
    assert "disk is full" in gateway_log, gateway_log[-3000:]  # the one actionable line, in the gateway's log

    t0 = time.monotonic()
    _keeper(stack, f"rm -f {FILLER}")
    wait_for("the new device approved", lambda: new in stack.paired_or_empty(), 120, 1.0, stack.diagnostics)
    tally.measure("state volume full: freed → new device approved", time.monotonic() - t0, "s")
    thread.join(300)
    assert deploy == [None], deploy
    stack.agent_connected_first_time(120)
    tally.measure("state volume full: freed → agent connected", time.monotonic() - t0, "s")
    paired = stack.paired()
    wrong = [d for d in paired if d not in {old, new}]
    tally.wrong_approvals(len(wrong))
    assert not wrong, wrong
    tally.identities_lost(int(old not in paired))  # the gateway kept what it had stored before
    assert old in paired
    now = _state(stack, "pairing-sidecar")
    assert now["Running"], now
    assert now["RestartCount"] == sidecar_restarts, now  # the sidecar rode it out without restarting
    tally.inputs()


def _published_or_none(stack: ComposeStack) -> str | None:
    try:
        return stack.published_device_id()
    except (AssertionError, ValueError, KeyError):
        return None
