"""The Kubernetes enrollment endpoint (sidecar/sources/kubernetes) served for fuzzing: the real aiohttp
server, the real Enroller and client library against the stateful fake API of tests/harness/kubeapi.py.

No body the strategies make can be a rightful enrollment: the only opted-in pod of the watched namespace
never gets a token paired with its own uid, so anything remembered is a wrong enrollment.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from sidecar.identity.enroll import enroll_payload
from sidecar.identity.keys import DeviceIdentity
from tests.harness.kubeapi import FakeKubeAPI

NS, CM = "agents", "openclaw-pairing-enrollments"
OPT_IN = {"openclaw.pairing.auto-approve": "true"}
KEY = DeviceIdentity.from_seed(b"\x11" * 32, created_at_ms=1)


class Endpoint:
    def __init__(self, workdir: Path) -> None:
        from sidecar.sources.kubernetes import Enroller, EnrollmentServer, EnrollPolicy, KubeAPI

        self.fake = FakeKubeAPI().start()
        self.fake.add_configmap("openclaw", CM)
        self.pods = {
            "labelled": self.fake.add_pod(NS, "labelled", labels=OPT_IN, ips=("10.1.0.5",)),
            "plain": self.fake.add_pod(NS, "plain", ips=("10.1.0.6",)),
            "outside": self.fake.add_pod("elsewhere", "outside", labels=OPT_IN, ips=("10.1.0.7",)),
        }
        self.tokens = {
            "labelled-wrong-audience": self.fake.issue_token(self.pods["labelled"], audience="other"),
            "labelled": self.fake.issue_token(self.pods["labelled"]),
            "plain": self.fake.issue_token(self.pods["plain"]),
            "outside": self.fake.issue_token(self.pods["outside"]),
        }
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        kubeconfig = self.fake.kubeconfig(workdir / "kubeconfig", "openclaw")

        async def setup() -> tuple[Any, Any, Any]:
            api = await KubeAPI.connect(str(kubeconfig))
            policy = EnrollPolicy(
                namespaces=frozenset({NS}),
                audience="openclaw-pairing",
                service_accounts=frozenset(),
                label_opt_in="openclaw.pairing.auto-approve",
                label_opt_in_value="true",
                rate_limit=10**9,  # the rate limit would hide every deeper check behind a 429
                configmap=CM,
                configmap_namespace="openclaw",
            )
            enroller = Enroller(api, policy)
            self.audit: list[dict[str, Any]] = []
            server = EnrollmentServer(enroller, "127.0.0.1", 0, self.audit.append)
            await server.start()
            return api, enroller, server

        self.api, self.enroller, self.server = self.run(setup())
        self.url = f"http://127.0.0.1:{self.server.port}"

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def nonce(self) -> str:
        status, answer = self.raw("/v1/nonce", b"{}", "application/json", None)
        assert status == 200, answer
        return str(answer["nonce"])

    def raw(self, path: str, body: bytes, content_type: str, auth: str | None) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": content_type} if content_type else {}
        if auth is not None:
            headers["Authorization"] = auth
        request = urllib.request.Request(self.url + path, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
                return int(response.status), _json(response.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), _json(exc.read())

    def post(self, body: bytes, content_type: str, auth: str | None) -> tuple[int, dict[str, Any]]:
        """POST /v1/enroll; a body of the ``bodies()`` strategy is completed here (fresh nonce, tokens)."""
        if body.startswith(b"TEMPLATE:"):
            body = self.fill(json.loads(body[9:]))
        return self.raw("/v1/enroll", body, content_type, auth)

    def fill(self, template: dict[str, Any]) -> bytes:
        doc = dict(template)
        if doc.get("nonce") == "FRESH":
            doc["nonce"] = self.nonce()
        pod = doc.pop("_uidOf", None)
        if pod in self.pods:
            doc["podUid"] = self.pods[pod]["metadata"]["uid"]
        token = doc.pop("_tokenOf", None)
        if token in self.tokens:
            doc["token"] = self.tokens[token]
        if doc.pop("_sign", False) and all(isinstance(doc.get(k), str) for k in ("nonce", "podUid")):
            payload = enroll_payload(doc["nonce"], doc["podUid"], KEY.device_id, KEY.public().public_key)
            doc["signature"] = KEY.sign(payload)
        return json.dumps(doc).encode()

    def remembered(self) -> dict[str, Any]:
        data = self.fake.configmaps[("openclaw", CM)].get("data") or {}
        return {**dict(self.enroller.enrollments), **dict(data)}

    def close(self) -> None:
        try:
            self.run(self.server.stop())
            self.run(self.api.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.fake.stop()


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data or b"{}")
    except ValueError:
        return {"unparsed": data[:200].decode(errors="replace")}
    return value if isinstance(value, dict) else {"value": value}


TOKENS = ["labelled-wrong-audience", "plain", "outside", "junk"]


def bodies() -> st.SearchStrategy[bytes]:
    """Near-valid enrollments that must each be refused (combinations that would be rightful are excluded)."""

    def build(
        uid_of: str, token_of: str, sign: bool, fresh: bool, drop: list[str], junk: dict[str, Any]
    ) -> bytes:
        if token_of == "labelled" and uid_of == "labelled":
            token_of = "plain"  # the one rightful combination: never generated
        doc: dict[str, Any] = {
            "deviceId": KEY.device_id,
            "publicKey": KEY.public().public_key,
            "nonce": "FRESH" if fresh else "made-up",
            "signature": "AAAA",
            "token": "junk",
            "_uidOf": uid_of,
            "_tokenOf": token_of,
            "_sign": sign,
        }
        for key in drop:
            doc.pop(key, None)
        doc.update(junk)
        return b"TEMPLATE:" + json.dumps(doc).encode()

    junk_values = st.one_of(
        st.none(), st.integers(), st.text(max_size=30), st.lists(st.integers(), max_size=2)
    )
    return st.builds(
        build,
        st.sampled_from(["labelled", "plain", "outside", "nobody"]),
        st.sampled_from([*TOKENS, "labelled"]),
        st.booleans(),
        st.booleans(),
        st.lists(st.sampled_from(["deviceId", "publicKey", "nonce", "signature", "token"]), max_size=2),
        st.dictionaries(
            st.sampled_from(["deviceId", "publicKey", "podUid", "extra"]), junk_values, max_size=2
        ),
    )


Factory = Callable[[], Endpoint]
