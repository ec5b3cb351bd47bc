"""Issue 17: the shipped stack on the release you use, switched by OPENCLAW_VERSION alone.

The same compose files (plus only the test port override) and the same env file, except for one line:
OPENCLAW_VERSION. For the JSON-identity-era release (2026.7.35: the newest 2026.7 on npm) and the pinned
one (2026.9.6): the gateway installs the config its schema accepts, identity-init writes the storage the
agent's release reads, the sidecar approves the agent, and a recreated agent connects with no new request.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.e2e.stack import COMPAT_VERSION, PINNED_VERSION, ComposeStack, Images, run, wait_for
from tests.e2e.test_compose_stack import CONNECT_TIMEOUT, agent_connected_in, approve_record, paired_device

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

ERAS = {
    COMPAT_VERSION: ("openclaw.2026.7.json5", "json"),
    PINNED_VERSION: ("openclaw.json5", "sqlite"),
}

STORAGE_PROBE = """
import json, pathlib, sqlite3, sys
s = pathlib.Path("/s")
out = {"json": None, "sqlite": None, "published": json.loads((s / "identity/device.pub.json").read_text())}
legacy = s / "identity/device.json"
if legacy.exists():
    out["json"] = json.loads(legacy.read_text())["deviceId"]
db = s / "state/openclaw.sqlite"
if db.exists():
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute("select device_id from device_identities where identity_key='primary'").fetchone()
        out["sqlite"] = row[0] if row else None
    except sqlite3.OperationalError:
        pass
print(json.dumps(out))
"""


def agent_storage(stack: ComposeStack) -> dict[str, object]:
    """Where the agent's state volume holds its identity (read with the project image, read-only)."""
    out = run(
        [
            "docker", "run", "--rm", "--network", "none", "-v", f"{stack.volume('agent-state')}:/s:ro",
            "--entrypoint", "python3", stack.images.pairing, "-c", STORAGE_PROBE,
        ]
    )  # fmt: skip
    data: dict[str, object] = json.loads(out)
    return data


@pytest.mark.parametrize("release", [COMPAT_VERSION, PINNED_VERSION])
def test_the_stack_runs_the_release_openclaw_version_names(
    release: str,
    stack_factory: Callable[..., ComposeStack],
    e2e_images: Images,
    compat_images: Images,
) -> None:
    images = compat_images if release == COMPAT_VERSION else e2e_images
    assert images.version == release
    config_file, storage = ERAS[release]
    stack = stack_factory(images=images)
    assert f"OPENCLAW_VERSION={release}\n" in stack.env_file.read_text()
    stack.up()

    gateway_log = "\n".join(stack.logs("openclaw-gateway"))
    assert f"[install-config] installed {config_file} as" in gateway_log, gateway_log[-2000:]
    assert "WARNING" not in "\n".join(
        line for line in stack.logs("openclaw-gateway") if "install-config" in line
    )

    device = stack.published_device_id()
    where = agent_storage(stack)
    published = where["published"]
    assert isinstance(published, dict)
    assert published["storage"] == storage
    assert published["openclawVersion"] == release
    assert where[storage] == device, f"identity-init did not write the {storage} identity: {where}"
    if storage == "sqlite":
        assert where["json"] is None, "a legacy identity/device.json would block a 2026.8+ agent"

    paired = paired_device(stack, device)
    record = approve_record(stack, device)
    assert record["decision"] == "approve"
    assert paired["role"] == "node"
    stack.agent_connected_first_time()

    def audited_now() -> set[str]:
        # 2026.7.35 re-opens the node's capability surface when identity-init's commandless pre-pair
        # connect and the agent's full one alternate (the sidecar re-approves it, no human step); 2026.9.6
        # does not. Device requests must not reappear on either (docs/policy.md, "Node commands").
        kinds = {"device"} if release == COMPAT_VERSION else {"device", "node"}
        return {r["requestId"] for r in stack.audit() if r.get("kind", "device") in kinds}

    audited = audited_now()
    stack.up("agent", wait=False, extra=["--force-recreate"])
    agent = stack.container_id("agent")
    assert agent
    wait_for("the recreated agent to connect", agent_connected_in(stack, agent), CONNECT_TIMEOUT, 1.0,
             stack.diagnostics)  # fmt: skip
    assert not stack.agent_request_ids(stack.container_logs(agent)), "the recreated agent asked to pair"
    assert stack.published_device_id() == device
    assert stack.pending() == []
    assert set(stack.paired()) == {device}
    assert audited_now() == audited, "the sidecar saw a new request"
