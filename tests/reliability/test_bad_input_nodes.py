"""Bad input for node capability requests (``node.pair.*``), thousands of cases each (hypothesis).

- ``node.pair.list`` payloads and ``node.pair.requested`` / ``node.pair.resolved`` event payloads with junk
  (wrong types, huge strings, unicode, missing fields, unknown commands, duplicate ids) → records or a
  ProtocolError (a PairingError), never another exception; through the trusted approver: survived, and
  no RPC with nothing to act on;
- random surfaces × random workloads, labels (``openclaw.pairing.node-commands`` values including junk,
  ``*`` and admin-sensitive commands), paired devices and settings → ``decide_node`` approves only what an
  independent oracle (docs/policy.md, "Node commands") calls right, and every decision says why.

Sizes: ``make test`` runs the quick size per property, ``make test-soak`` ten times as many.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pairing_fixtures import NOW, PROJECT, paired

from sidecar.errors import PairingError
from sidecar.gateway.models import PairedDevice
from sidecar.gateway.node_records import NodePairingList, NodeRequest, NodeResolved
from sidecar.policy import Action, History
from sidecar.policy.nodes import decide_node
from sidecar.settings import Mode, PolicySettings
from sidecar.sources.workloads import Workload
from tests.reliability.tally import Tally, scale
from tests.reliability.test_bad_input import (
    IDS,
    IPS,
    _ip,
    events_through_a_trusted_approver,
    json_values,
    weird_text,
)

CATEGORY = "bad input"
FAST = settings(
    max_examples=scale(1000, 10000),
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
# docs/policy.md, "Node commands": the admin-sensitive commands (a label alone never grants them).
ADMIN = ["system.run", "system.run.prepare", "system.which", "browser.proxy", "browser.proxy.upload.v1",
         "fs.listDir", "system.execApprovals.get", "system.execApprovals.set"]  # fmt: skip
ORDINARY = ["canvas.present", "camera.snap", "location.get", "screen.record", "notify"]
ODD = ["*", "", " ", "System.Run", "system.run ", "system.run\x00", "système.run", "x" * 3000, "canvas.*"]
COMMANDS = ADMIN + ORDINARY + ODD
APPROVE_SCOPES = [(), ("operator.pairing",), ("operator.pairing", "operator.write"),
                  ("operator.pairing", "operator.admin"), ("operator.admin",), ("junk",)]  # fmt: skip
LABEL = "openclaw.pairing.node-commands"

# --- parsing ------------------------------------------------------------------------------------


@st.composite
def node_entry(draw: st.DrawFn, n: int) -> dict[str, Any]:
    """A pending surface as 2026.9.6 lists it, valid at first (so it parses sometimes), then damaged."""
    doc: dict[str, Any] = {
        "requestId": draw(st.sampled_from([f"n{n}", "n0", "dup"])),  # duplicate ids on purpose
        "nodeId": draw(st.sampled_from(IDS)).device_id,
        "clientId": "node-host",
        "clientMode": "node",
        "displayName": draw(weird_text),
        "platform": "linux",
        "version": "2026.9.6",
        "deviceFamily": None,
        "caps": draw(st.lists(st.sampled_from(["canvas", "camera", "", "x" * 500]), max_size=3)),
        "commands": draw(st.lists(st.sampled_from(COMMANDS) | st.text(max_size=20), max_size=6)),
        "requiredApproveScopes": list(draw(st.sampled_from(APPROVE_SCOPES))),
        "remoteIp": draw(st.sampled_from([*IPS, None])),
        "ts": draw(st.integers(NOW - 400_000, NOW)),
    }
    for key in draw(st.lists(st.sampled_from(sorted(doc)), max_size=3)):
        if draw(st.booleans()):
            doc.pop(key, None)
        else:
            doc[key] = draw(json_values)
    if draw(st.integers(0, 5)) == 0:
        doc[draw(st.text(max_size=10))] = draw(json_values)
    return doc


@st.composite
def node_list_payloads(draw: st.DrawFn) -> object:
    pending = [draw(node_entry(i) | json_values) for i in range(draw(st.integers(0, 4)))]
    paired_raw = draw(st.lists(node_entry(9) | json_values, max_size=3))
    doc: dict[str, Any] = {"pending": pending, "paired": paired_raw}
    if draw(st.integers(0, 4)) == 0:
        doc[draw(st.sampled_from(["pending", "paired"]))] = draw(json_values)
    return draw(st.sampled_from([doc, doc, doc, None])) or draw(json_values)


def _well_formed(node: NodeRequest) -> None:
    assert isinstance(node.request_id, str)
    assert node.request_id
    assert re.fullmatch(r"[0-9a-f]{64}", node.node_id)
    assert isinstance(node.ts, int)
    assert node.ts >= 0
    for seq in (node.commands, node.caps, node.required_scopes):
        assert isinstance(seq, tuple)
        assert all(isinstance(x, str) for x in seq)
    assert node.remote_ip is None or isinstance(node.remote_ip, str)
    node.approve_scopes()
    node.to_json()


@FAST
@given(node_list_payloads(), st.lists(node_entry(0) | json_values, max_size=3))
def test_node_pairing_payloads_parse_or_raise_a_protocol_error(
    tally: Tally, listing: object, events: list[Any]
) -> None:
    tally.inputs()
    try:
        parsed = NodePairingList.from_json(listing)
    except PairingError as exc:  # ProtocolError: the pass is retried, nothing is decided from it
        message = str(exc)
        assert 0 < len(message) < 300
    else:
        for node in parsed.pending:
            _well_formed(node)
        assert all(isinstance(p, dict) for p in parsed.paired)
        assert all(0 < len(problem) < 300 for problem in parsed.problems)
        parsed.to_json()
    for payload in events:
        for parse in (NodeRequest.from_json, NodeResolved.from_json):
            try:
                record = parse(payload)
            except PairingError as exc:
                message = str(exc)
                assert 0 < len(message) < 300
            else:
                if isinstance(record, NodeRequest):
                    _well_formed(record)


@settings(FAST, max_examples=scale(300, 3000))
@given(st.lists(node_entry(0) | json_values, max_size=4))
def test_node_events_with_junk_payloads_are_survived(tally: Tally, payloads: list[Any]) -> None:
    """node.pair.requested / resolved events carrying junk: the trusted loop keeps going, acts on nothing."""
    tally.inputs()
    rpcs = events_through_a_trusted_approver(
        PolicySettings(project=PROJECT, project_auto=False, allow_node_role=True),
        [(f"node.pair.{kind}", p) for p in payloads for kind in ("requested", "resolved")],
    )
    assert rpcs == []  # nothing pending, no workloads: nothing to act on


# --- the node policy against an oracle ----------------------------------------------------------

LABEL_VALUES = ["*", " * ", "", ",", "canvas.present", "canvas.present,camera.snap",
                "canvas.present camera.snap", "system.run", "canvas.present,system.run,system.which",
                ",".join(ADMIN + ORDINARY),
                "canvas.present\nsystem.run", "*,system.run", "canvas.*", "x" * 3000, "\u202e*"]  # fmt: skip
OPT_IN = ["true", "TRUE", " true ", "yes", "false", ""]


@st.composite
def node_container(draw: st.DrawFn, n: int) -> Workload:
    labels = {"openclaw.pairing.auto-approve": draw(st.sampled_from(OPT_IN))}
    if draw(st.integers(0, 3)) > 0:
        labels["openclaw.pairing.roles"] = draw(
            st.sampled_from(["node", "operator,node", "operator", "", "Node"])
        )
    if draw(st.integers(0, 4)) > 0:
        labels[LABEL] = draw(st.sampled_from(LABEL_VALUES) | st.text(max_size=30))
    ip = draw(st.sampled_from(IPS[:3]))
    return Workload(
        id=f"n{n:063d}",
        name=f"n{n}",
        labels=labels,
        ips={f"{PROJECT}_default": ip},
        network_gateways={f"{PROJECT}_default": "172.18.0.1"},
        running=draw(st.integers(0, 4)) > 0,
        service=f"n{n}",
        project=draw(st.sampled_from([PROJECT, PROJECT, "other", None])),
        image="agent",
        image_id="sha256:" + "ab" * 32,
        identity=draw(st.one_of(st.none(), st.sampled_from(IDS))),
        project_networks=frozenset({f"{PROJECT}_default"}),
    )


@st.composite
def paired_devices(draw: st.DrawFn) -> dict[str, PairedDevice]:
    out: dict[str, PairedDevice] = {}
    for who in draw(st.lists(st.sampled_from(IDS), max_size=4, unique_by=lambda i: i.device_id)):
        role = draw(st.sampled_from(["node", "operator"]))
        key = draw(st.sampled_from(IDS)).public_key if draw(st.integers(0, 3)) == 0 else who.public_key
        roles = draw(st.sampled_from([(role,), ("operator", "node"), ()]))
        out[who.device_id] = paired(who, role=role, roles=roles, scopes=(), public_key=key)
    return out


@st.composite
def surfaces(draw: st.DrawFn) -> NodeRequest:
    return NodeRequest(
        request_id=draw(st.sampled_from(["nr1", "nr2"])),
        node_id=draw(st.sampled_from(IDS)).device_id,
        ts=draw(st.sampled_from([NOW - 1000, NOW - 299_000, NOW - 301_000, NOW])),
        commands=tuple(draw(st.lists(st.sampled_from(COMMANDS) | st.text(max_size=12), max_size=6))),
        caps=("canvas",),
        required_scopes=draw(st.sampled_from(APPROVE_SCOPES)),
        remote_ip=draw(st.sampled_from([*IPS, None])),
        client_id="node-host",
        client_mode="node",
        platform="linux",
    )


def _allowed(label: str) -> set[str]:
    """The label as docs/policy.md defines it: a comma- or space-separated list, or ``*``."""
    return {part.strip() for part in re.split(r"[ ,]", label) if part.strip()}


def wrong_node_approval(
    node: NodeRequest, loads: list[Workload], devices: dict[str, PairedDevice], s: PolicySettings
) -> str | None:
    """The oracle: why approving ``node`` would be wrong, or None when it is right."""
    if s.mode is not Mode.STRICT:
        return f"mode {s.mode} never approves node surfaces"
    if NOW - node.ts > 300_000:
        return "expired"
    device = devices.get(node.node_id)
    if device is None or "node" not in {device.role, *device.roles}:
        return "the node's device is not paired for role node"
    owners = [
        w
        for w in loads
        if w.running
        and w.project == PROJECT
        and w.labels.get("openclaw.pairing.auto-approve", "").strip().lower() == "true"
        and w.identity is not None
        and w.identity.device_id == node.node_id
    ]
    if len(owners) != 1:
        return f"{len(owners)} labelled running containers of the project publish the node's device id"
    w = owners[0]
    assert w.identity is not None
    if w.identity.public_key != device.public_key:
        return "the device is paired with another key than the container publishes"
    if node.remote_ip is not None:  # None: a loopback peer of the gateway (docs/policy.md, remote-ip)
        ip = _ip(node.remote_ip)
        if ip is None or ip not in w.ips.values() or ip in w.network_gateways.values():
            return f"surface from {node.remote_ip!r}, not the container's own address"
    if not s.allow_node_role or "node" not in _allowed(w.labels.get("openclaw.pairing.roles", "operator")):
        return "the container may not be a node (label + allow_node_role)"
    allowed = _allowed(w.labels.get(LABEL, ""))
    if "*" not in allowed and not set(node.commands) <= allowed:
        return f"commands {sorted(set(node.commands) - allowed)} beyond the label {sorted(allowed)}"
    admin = set(node.commands) & set(ADMIN) or "operator.admin" in node.required_scopes
    if admin and not s.allow_node_admin_commands:
        return "admin-sensitive surface without allow_node_admin_commands"
    return None


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[NodeRequest, tuple[Workload, ...], dict[str, PairedDevice]]:
    """Random surface, containers and paired devices; half the time the surface's own container and paired
    device are there as they should be (so approvals are reachable), with a random command label."""
    node = draw(surfaces())
    loads = draw(st.integers(0, 3).flatmap(lambda k: st.tuples(*[node_container(i) for i in range(k)])))
    devices = draw(paired_devices())
    if draw(st.booleans()):
        who = next(i for i in IDS if i.device_id == node.node_id)
        ip = _ip(node.remote_ip or "") or "172.18.0.5"
        labels = {"openclaw.pairing.auto-approve": "true", "openclaw.pairing.roles": "node"}
        if draw(st.integers(0, 5)) > 0:
            labels[LABEL] = draw(st.sampled_from(LABEL_VALUES) | st.text(max_size=30))
        own = replace(draw(node_container(7)), labels=labels, ips={f"{PROJECT}_default": ip},
                      running=True, project=PROJECT, identity=who)  # fmt: skip
        loads = (own, *loads)
        devices[who.device_id] = paired(who, role="node", roles=("node",), scopes=())
    return node, loads, devices


@FAST
@given(
    scenarios(),
    st.sampled_from([Mode.STRICT, Mode.STRICT, Mode.STRICT, Mode.IP, Mode.DEV_APPROVE_ALL]),
    st.booleans(),
    st.booleans(),
)
def test_node_surfaces_never_win_a_wrong_approval(
    tally: Tally,
    scenario: tuple[NodeRequest, tuple[Workload, ...], dict[str, PairedDevice]],
    mode: Mode,
    allow_node_role: bool,
    allow_admin_commands: bool,
) -> None:
    tally.inputs()
    node, loads, devices = scenario
    s = PolicySettings(
        mode=mode,
        project=PROJECT,
        project_auto=False,
        allow_node_role=allow_node_role,
        allow_node_admin_commands=allow_admin_commands,
    )
    d = decide_node(node, loads, devices, s, History(started_ms=NOW - 60_000), NOW)
    assert isinstance(d.reason, str), d
    assert d.reason.strip(), d  # every decision says why
    assert d.check, d
    assert d.evidence.get("kind") == "node", d
    why = wrong_node_approval(node, list(loads), devices, s) if d.action is Action.APPROVE else None
    tally.wrong_approvals(int(why is not None))
    assert why is None, (why, d.reason, node, loads, devices)
    if d.action is not Action.APPROVE:
        return
    # An approval names the one container it was attributed to, and the commands it let through.
    assert d.workload is not None
    assert d.workload.identity is not None
    assert d.workload.identity.device_id == node.node_id


def test_the_oracle_approves_a_rightful_surface() -> None:
    """The property above is not vacuous: the oracle and the policy agree on a rightful surface."""
    who = IDS[0]
    w = Workload(
        id="n" + "0" * 63, name="n0",
        labels={"openclaw.pairing.auto-approve": "true", "openclaw.pairing.roles": "node", LABEL: "*"},
        ips={f"{PROJECT}_default": "172.18.0.5"}, network_gateways={f"{PROJECT}_default": "172.18.0.1"},
        running=True, service="n0", project=PROJECT, image="agent", image_id="sha256:" + "ab" * 32,
        identity=who, project_networks=frozenset({f"{PROJECT}_default"}),
    )  # fmt: skip
    devices = {who.device_id: paired(who, role="node", roles=("node",), scopes=())}
    node = NodeRequest("nr1", who.device_id, NOW - 1000, commands=("canvas.present",), remote_ip="172.18.0.5")
    s = PolicySettings(mode=Mode.STRICT, project=PROJECT, project_auto=False, allow_node_role=True)
    d = decide_node(node, [w], devices, s, History(started_ms=NOW - 60_000), NOW)
    assert d.action is Action.APPROVE, d.reason
    assert wrong_node_approval(node, [w], devices, s) is None
    admin = replace(node, commands=("system.run",))
    assert (
        decide_node(admin, [w], devices, s, History(started_ms=NOW - 60_000), NOW).action
        is not Action.APPROVE
    )
