"""Bad input, thousands of cases each (hypothesis): a clear error, no crash, no hang, no approval.

- gateway frames (any JSON, any bytes) → a frame or a ProtocolError;
- pending-request payloads as the gateway would list them (wrong types, huge strings, unicode, unknown
  roles/scopes, missing fields) and container labels (opt-in spellings, roles/scopes allowances that try
  to grant node/admin) → through the *trusted* approver against a fake gateway; every approve RPC is
  checked by an independent oracle (exactly one opted-in running container of the project publishing
  that key at that address, role/scopes within its labels, never node or admin): wrong approvals counted;
- YAML config files and environment values → Settings or a ConfigError naming the key/variable;
- device.pub.json documents as the Docker engine hands them over (tar): random bytes and JSON, private
  keys, mismatched ids, symlinks, hard links, directories, huge files, extra members → a verified public
  identity only for a valid document, IdentityUnavailable otherwise;
- the Kubernetes enrollment endpoint (issue 13, landed): any body, headers → a 4xx with a reason, never a
  remembered device.

Sizes: ``make test`` runs EXAMPLES per property, ``make test-soak`` ten times as many.
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import json
import tarfile
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pairing_fixtures import PROJECT, FakeClient, FakeClock, FakeGateway, FakeSession, FakeSource, ident

from sidecar.approver import Approver
from sidecar.approver.audit import AuditLog
from sidecar.errors import PairingError, ProtocolError
from sidecar.gateway import protocol as proto
from sidecar.gateway import scopes as gateway_scopes
from sidecar.gateway.models import PairingList, PendingRequest
from sidecar.identity.keys import DeviceIdentity, PublicIdentity
from sidecar.metrics import Metrics
from sidecar.settings import Mode, PolicySettings, Settings, load_settings
from sidecar.sources.docker.archive import IdentityUnavailable, parse_identity_archive
from sidecar.sources.workloads import Workload
from tests.reliability import kube_enroll
from tests.reliability.tally import Tally, scale

CATEGORY = "bad input"
EXAMPLES = scale(1500, 15000)
FAST = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)

# --- junk ----------------------------------------------------------------------------------------

huge = st.integers(10_000, 200_000).map(lambda n: "x" * n)
weird_text = st.one_of(st.text(max_size=40), huge, st.sampled_from(["", " ", "\x00", "é", "𝔘", "\u202e"]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), weird_text)
json_values = st.recursive(
    scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12,
)  # fmt: skip
ROLES = ["operator", "node", "admin", "Operator", "", "operator ", "root", "x" * 300]
SCOPES = [
    "operator.read", "operator.write", "operator.admin", "operator.pairing", "operator.approvals",
    "OPERATOR.ADMIN", "operator.*", "*", "admin", "", "node.admin", "operator.read\x00operator.admin",
]  # fmt: skip

# --- gateway frames ------------------------------------------------------------------------------

frame_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["res", "event", "req", "hello", ""]) | scalars,
        "id": scalars, "ok": scalars, "payload": json_values, "error": json_values,
        "event": st.sampled_from(["device.pair.requested", "device.pair.resolved", "tick"]) | scalars,
        "seq": scalars,
    },
)  # fmt: skip


@FAST
@given(
    st.one_of(
        frame_like.map(json.dumps),
        json_values.map(json.dumps),
        st.text(max_size=200),
        st.binary(max_size=200),
        frame_like.map(lambda f: json.dumps(f).encode()[: len(json.dumps(f)) // 2]),  # truncated
    )
)
def test_gateway_frames_parse_or_raise_a_protocol_error(tally: Tally, data: str | bytes) -> None:
    tally.inputs()
    try:
        frame = proto.parse_frame(data)
    except ProtocolError as exc:
        message = str(exc)
    else:
        assert isinstance(frame, proto.ResponseFrame | proto.EventFrame)
        return
    assert 0 < len(message) < 300  # a message, never the frame echoed back


# --- pending requests and container labels through the trusted approver ------------------------

IDS = [ident(n) for n in range(1, 5)]
IPS = ["172.18.0.5", "172.18.0.6", "172.18.0.1", "::ffff:172.18.0.5", "10.0.0.9", "bogus", ""]
OPT_IN_VALUES = ["true", "TRUE", " true ", "yes", "1", "false", "", "truex"]


@st.composite
def raw_request(draw: st.DrawFn, n: int) -> dict[str, Any]:
    """A listing entry that starts valid (so approvals are reachable) and is then damaged."""
    who = draw(st.sampled_from(IDS))
    role = draw(st.sampled_from(ROLES))
    doc: dict[str, Any] = {
        "requestId": f"r{n}",
        "deviceId": who.device_id,
        "publicKey": who.public_key,
        "ts": draw(st.integers(1_799_999_000_000, 1_800_000_000_000)),
        "role": role,
        "roles": [role],
        "scopes": draw(st.lists(st.sampled_from(SCOPES), max_size=3)),
        "remoteIp": draw(st.sampled_from(IPS)),
        "platform": "linux",
        "displayName": draw(weird_text),
    }
    if draw(st.booleans()):
        doc["publicKey"] = draw(st.sampled_from(IDS)).public_key  # someone else's key
    for key in draw(st.lists(st.sampled_from(sorted(doc)), max_size=3)):
        if draw(st.booleans()):
            doc.pop(key, None)
        else:
            doc[key] = draw(json_values)
    if draw(st.integers(0, 5)) == 0:
        doc[draw(st.text(max_size=10))] = draw(json_values)
    return doc


@st.composite
def container(draw: st.DrawFn, n: int) -> Workload:
    labels = {"openclaw.pairing.auto-approve": draw(st.sampled_from(OPT_IN_VALUES))}
    if draw(st.booleans()):
        labels["openclaw.pairing.roles"] = draw(
            st.sampled_from(["operator", "node", "operator,node", "admin", "", " , ", "operator\nnode"])
        )
    if draw(st.booleans()):
        labels["openclaw.pairing.scopes"] = ",".join(draw(st.lists(st.sampled_from(SCOPES), max_size=3)))
    if draw(st.integers(0, 3)) == 0:
        labels[draw(st.text(max_size=20))] = draw(st.text(max_size=20))
    return Workload(
        id=f"c{n:063d}",
        name=f"c{n}",
        labels=labels,
        ips={f"{PROJECT}_default": draw(st.sampled_from(IPS[:3]))},
        network_gateways={f"{PROJECT}_default": "172.18.0.1"},
        running=draw(st.integers(0, 4)) > 0,
        service=f"c{n}",
        project=draw(st.sampled_from([PROJECT, PROJECT, "other", None])),
        image="agent",
        image_id="sha256:" + "ab" * 32,
        identity=draw(st.one_of(st.none(), st.sampled_from(IDS))),
        project_networks=frozenset({f"{PROJECT}_default"}),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[Workload]]:
    reqs = [draw(raw_request(n)) for n in range(draw(st.integers(1, 5)))]
    loads = [draw(container(n)) for n in range(draw(st.integers(0, 4)))]
    return reqs, loads


def _ip(value: str) -> str | None:
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        return str(addr.ipv4_mapped)
    return str(addr)


def _words(text: str) -> set[str]:
    return {w for part in text.replace("\n", ",").split(",") for w in [part.strip()] if w}


def rightful(req: PendingRequest, loads: list[Workload]) -> str | None:
    """The oracle: why approving ``req`` would be wrong, or None when it is right (strict mode, defaults)."""
    owners = [
        w
        for w in loads
        if w.running
        and w.project == PROJECT
        and w.labels.get("openclaw.pairing.auto-approve", "").strip().lower() == "true"
        and w.identity is not None
        and w.identity.device_id == req.device_id
    ]
    if len(owners) != 1:
        return f"{len(owners)} opted-in running containers of the project publish {req.device_id[:8]}"
    w = owners[0]
    assert w.identity is not None
    asked = PublicIdentity.from_json({"deviceId": req.device_id, "publicKey": req.public_key})
    # the key, not the whole document: createdAtMs, slot, storage and release are not what is checked
    # (a whole-object comparison made the soak's 10,000 examples report a rightful approval as wrong)
    if (asked.device_id, asked.public_key) != (w.identity.device_id, w.identity.public_key):
        return "the request's key is not the published one"
    ip = _ip(req.remote_ip or "")
    if ip is None or ip not in w.ips.values() or ip in w.network_gateways.values():
        return f"remote address {req.remote_ip!r} is not the container's own"
    roles = {req.role, *req.roles} - {""}
    if "node" in roles or "operator.admin" in req.scopes:
        return "node/admin without the sidecar's config"
    allowed_roles = _words(w.labels.get("openclaw.pairing.roles", "operator"))
    allowed_scopes = _words(w.labels.get("openclaw.pairing.scopes", "operator.read,operator.write"))
    allowed_scopes.discard("operator.admin")
    if not roles <= allowed_roles:
        return f"roles {roles} beyond the label's {allowed_roles}"
    if not gateway_scopes.covers(tuple(allowed_scopes), tuple(req.scopes)):
        return f"scopes {req.scopes} beyond the label's {allowed_scopes}"
    return None


def _public_or_error(doc: dict[str, Any]) -> PublicIdentity | None:
    try:
        return PublicIdentity.from_json(doc)
    except (ValueError, TypeError):
        return None


@settings(FAST, max_examples=scale(1000, 10000))
@given(scenarios())
def test_pending_requests_and_labels_never_win_a_wrong_approval(
    tally: Tally, scenario: tuple[list[dict[str, Any]], list[Workload]]
) -> None:
    raw, loads = scenario
    tally.inputs()
    listing = PairingList.from_json({"pending": raw, "paired": []})  # malformed entries are skipped
    gw = FakeGateway()
    gw.add(*listing.pending)
    out = io.StringIO()
    policy = PolicySettings(mode=Mode.STRICT, project=PROJECT, project_auto=False)

    def factory(on_connect: Any, on_event: Any, on_disconnect: Any) -> FakeSession:
        return FakeSession(FakeClient(gw), on_connect, on_event, on_disconnect)

    approver = Approver(
        Settings(trusted=True, policy=policy),
        session_factory=factory,
        source=FakeSource(tuple(loads)),
        audit=AuditLog("-", stream=out),
        metrics=Metrics(),
        clock=FakeClock(),
        tick_s=0.01,
    )
    asyncio.run(asyncio.wait_for(approver.once(), 10))
    by_id = {r.request_id: r for r in listing.pending}
    wrong = [
        (rid, why)
        for method, rid in gw.rpcs
        if method == "approve" and (why := rightful(by_id[rid], loads)) is not None
    ]
    tally.wrong_approvals(len(wrong))
    assert not wrong, wrong
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert all(r.get("reason") for r in records), records  # every decision says why
    assert {r["requestId"] for r in records} >= set(by_id)


@settings(FAST, max_examples=scale(400, 4000))
@given(st.lists(json_values | raw_request(0), max_size=4))
def test_requested_events_with_junk_payloads_are_survived(tally: Tally, payloads: list[Any]) -> None:
    """device.pair.requested / resolved events carrying junk: logged, reconciled, the loop keeps going."""
    tally.inputs()
    rpcs = events_through_a_trusted_approver(
        PolicySettings(project=PROJECT, project_auto=False),
        [(f"device.pair.{kind}", p) for p in payloads for kind in ("requested", "resolved")],
    )
    assert rpcs == []  # nothing pending, no workloads: nothing to act on


def events_through_a_trusted_approver(policy: PolicySettings, events: list[tuple[str, Any]]) -> list[Any]:
    """Run the real approver loop (trusted, no workloads, nothing pending), deliver ``events`` to it, stop
    it; the RPCs it sent (none is right: there is nothing to act on)."""
    gw = FakeGateway()
    sessions: list[FakeSession] = []

    def factory(on_connect: Any, on_event: Any, on_disconnect: Any) -> FakeSession:
        sessions.append(FakeSession(FakeClient(gw), on_connect, on_event, on_disconnect))
        return sessions[-1]

    approver = Approver(
        Settings(trusted=True, policy=policy),
        session_factory=factory,
        source=FakeSource(()),
        audit=AuditLog("-", stream=io.StringIO()),
        metrics=Metrics(),
        clock=FakeClock(),
        tick_s=0.01,
    )

    async def body() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(approver.run(stop))
        for _ in range(100):
            if sessions:
                break
            await asyncio.sleep(0.001)
        for name, payload in events:
            await sessions[-1].event(name, payload)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(body())
    return list(gw.rpcs)


# --- YAML config and environment values ---------------------------------------------------------

SETTING_KEYS = [
    "gateway_url", "gateway_token", "mode", "environment", "project", "on_check_failure",
    "allow_admin_scope", "allow_node_role", "label_opt_in", "label_opt_in_value", "label_roles",
    "label_scopes", "default_identity_path", "reconcile_interval", "rate_limit_per_container", "listen",
    "audit_log", "trusted", "dev_approve_all_for", "unknown_key",
]  # fmt: skip
small_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=6,
)
yaml_docs = st.one_of(
    st.dictionaries(st.sampled_from(SETTING_KEYS), small_values, max_size=5).map(
        lambda d: __import__("yaml").safe_dump(d, allow_unicode=True)
    ),
    st.text(max_size=300),
    st.sampled_from(["a: [", "{{", "- 1\n- 2", "!!python/object:os.system x", "&a [*a]", "\t:", "~"]),
)
env_values = st.dictionaries(
    st.sampled_from([f"OPENCLAW_PAIRING_{k.upper()}" for k in SETTING_KEYS] + ["OPENCLAW_TRUSTED_ENV"]),
    st.text(max_size=30) | st.sampled_from(["1", "true", "0", "-5", "5m", "1e999", "nan", "strict", "ip"]),
    max_size=4,
)


@FAST
@given(yaml_docs, env_values)
def test_yaml_config_and_environment_give_settings_or_a_clear_error(
    tally: Tally, tmp_path_factory: pytest.TempPathFactory, doc: str, env: dict[str, str]
) -> None:
    tally.inputs()
    path = tmp_path_factory.getbasetemp() / "fuzzed-config.yaml"
    path.write_text(doc)
    environ = {**env, "OPENCLAW_PAIRING_PROJECT": env.get("OPENCLAW_PAIRING_PROJECT") or "demo"}
    try:
        loaded = load_settings(environ, path)
    except PairingError as exc:
        message = str(exc)
        assert message.strip()
        named = [str(path), "OPENCLAW_", *SETTING_KEYS]
        assert any(n in message for n in named), message
        return
    # The trusted flag comes from the environment only, and only from an explicit truthy spelling.
    trusted = env.get("OPENCLAW_TRUSTED_ENV", "").strip().lower() in {"1", "true", "yes", "on"}
    assert loaded.trusted == trusted, (env, loaded.trusted)
    assert not loaded.policy.allow_admin_scope or "allow_admin_scope" in doc + json.dumps(env).lower()


# --- device.pub.json as the engine hands it over --------------------------------------------------

PATH = "/home/node/.openclaw/identity/device.pub.json"


def tar_of(name: str, data: bytes, kind: bytes = tarfile.REGTYPE, link: str = "", extra: int = 0) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:") as tar:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = link
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
        for n in range(extra):
            more = tarfile.TarInfo(f"other{n}")
            more.size = 2
            tar.addfile(more, io.BytesIO(b"{}"))
    return buf.getvalue()


KEY = DeviceIdentity.from_seed(b"\x07" * 32, created_at_ms=1)
GOOD = KEY.public().to_json()


@st.composite
def documents(draw: st.DrawFn) -> tuple[bytes, bool]:
    """(archive bytes, whether it is a valid published identity)."""
    kind = draw(st.integers(0, 9))
    name = "device.pub.json"
    if kind == 0:
        return tar_of(name, json.dumps(GOOD).encode()), True
    if kind == 1:  # a private key alongside
        doc = {**GOOD, draw(st.sampled_from(["privateKeyPem", "privateKey"])): draw(st.text(max_size=50))}
        return tar_of(name, json.dumps(doc).encode()), False
    if kind == 2:  # mismatched ids / keys
        other = draw(st.sampled_from(IDS))
        doc = {**GOOD, draw(st.sampled_from(["deviceId", "publicKey"])): other.to_json()["deviceId"]}
        if doc["deviceId"] != GOOD["deviceId"]:
            return tar_of(name, json.dumps(doc).encode()), False
        return tar_of(name, json.dumps({**GOOD, "publicKey": other.public_key}).encode()), False
    if kind == 3:  # links and other member types
        link_kind = draw(
            st.sampled_from([tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE, tarfile.FIFOTYPE])
        )
        target = draw(st.sampled_from(["/etc/shadow", "device.json", "../../identity/device.json", ""]))
        return tar_of(name, b"", link_kind, target), False
    if kind == 4:  # huge
        size = draw(st.integers(64 * 1024 + 1, 300 * 1024))
        return tar_of(name, json.dumps({**GOOD, "pad": "x" * size}).encode()), False
    if kind == 5:  # extra members, another name
        if draw(st.booleans()):
            return tar_of(name, json.dumps(GOOD).encode(), extra=draw(st.integers(1, 3))), False
        return tar_of(draw(st.sampled_from(["device.json", "x/device.pub.json", ""])), b"{}"), False
    if kind == 6:  # random bytes / truncated archive
        body = json.dumps(GOOD).encode()
        data = tar_of(name, body)
        if draw(st.booleans()):
            return draw(st.binary(max_size=300)), False
        cut = draw(st.integers(0, len(data)))
        # tarfile tolerates a missing end-of-archive: a cut after the member's padded data is still valid
        return data[:cut], cut >= 512 + -(-len(body) // 512) * 512
    if kind == 7:  # random JSON
        value = draw(json_values)
        raw = json.dumps(value).encode()
        private = isinstance(value, dict) and bool({"privateKeyPem", "privateKey"} & value.keys())
        ok = isinstance(value, dict) and _public_or_error(value) is not None and not private
        return tar_of(name, raw), ok and len(raw) <= 64 * 1024
    if kind == 8:  # a valid document with junk fields around it
        extra = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3))
        doc = {**extra, **GOOD}
        raw = json.dumps(doc).encode()
        ok = not ({"privateKeyPem", "privateKey"} & doc.keys()) and len(raw) <= 64 * 1024
        return tar_of(name, raw), ok
    return tar_of(name, draw(st.binary(max_size=200))), False  # not JSON / not UTF-8


@FAST
@given(documents())
def test_published_identity_documents_verify_or_are_refused_with_a_reason(
    tally: Tally, case: tuple[bytes, bool]
) -> None:
    data, valid = case
    tally.inputs()
    try:
        identity = parse_identity_archive(data, PATH)
    except IdentityUnavailable as exc:
        refusal = str(exc)
    else:
        assert valid, identity
        assert identity.device_id == identity.to_json()["deviceId"]
        return
    assert not valid, refusal
    assert PATH in refusal
    assert len(refusal) < 600


# --- the Kubernetes enrollment endpoint -----------------------------------------------------------


@pytest.fixture(scope="module")
def enrollment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kube_enroll.Endpoint]:
    endpoint = kube_enroll.Endpoint(tmp_path_factory.mktemp("enroll"))
    yield endpoint
    endpoint.close()


@settings(
    max_examples=scale(1000, 10000),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.one_of(
        json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=400), kube_enroll.bodies()
    ),
    st.sampled_from(["application/json", "text/plain", ""]),
    st.sampled_from(["Bearer junk", "", "Bearer " + "x" * 5000, None]),
)
def test_enrollment_endpoint_answers_junk_with_a_4xx_and_remembers_nothing(
    tally: Tally, enrollment: kube_enroll.Endpoint, body: bytes, content_type: str, auth: str | None
) -> None:
    tally.inputs()
    status, answer = enrollment.post(body, content_type, auth)
    assert 400 <= status < 500, (status, answer)
    assert answer.get("error") or answer.get("reason") or answer.get("message"), answer
    assert enrollment.remembered() == {}
    tally.wrong_approvals(len(enrollment.remembered()))
