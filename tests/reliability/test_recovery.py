"""Recovery: the shipped compose stack after `kill -9` of each of its long-running containers — back to
ready and approving with no human step, timed. (The Docker engine restart is
tests/e2e/test_stack_survives_restarts.py, ordered last in the session and counted here too.)

A real crash, not `docker kill` (which Docker may treat as a manual stop): SIGKILL to the container's
main process from the host, so the restart policy (`unless-stopped`) is what brings it back.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

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
