"""A small, stateful fake of the Kubernetes API over real HTTP, for the real client library to talk to.

No API server can run on our machines (none is installable from the package registries), and kmock 0.8 answers
every list with resourceVersion "..." and has no bookmarks, no 410 and no TokenReview — so this fake
implements exactly the slice the sidecar uses, the way the API server behaves:

- ``GET /api/v1/namespaces/{ns}/pods`` — list (equality label selectors, ``limit``/``continue`` paging,
  the list's resourceVersion) and ``watch=1`` (events after ``resourceVersion``; a pod that stops matching
  the selector arrives as DELETED; ``allowWatchBookmarks`` → BOOKMARK events; ``timeoutSeconds`` ends the
  stream; a compacted version → an ``ERROR`` event with a 410 Status, as the real server sends it);
- ``GET /api/v1/namespaces/{ns}/pods/{name}``;
- ``POST /apis/authentication.k8s.io/v1/tokenreviews`` — tokens issued by :meth:`FakeKubeAPI.issue_token`
  (bound to a pod and an audience, like a projected ServiceAccount token);
- ``GET``/``PATCH`` (merge patch) ``/api/v1/namespaces/{ns}/configmaps/{name}``.

Every request is recorded (``requests``) so tests can prove what the sidecar never asked for (secrets,
exec). Faults: :meth:`set_down` (every call 503), :meth:`drop_watches`, :meth:`compact` (→ 410).
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_TOKEN = "fake-sidecar-sa-token"


@dataclass
class Event:
    rv: int
    kind: str  # ADDED | MODIFIED | DELETED
    obj: dict[str, Any]
    prev: dict[str, Any] | None


@dataclass
class Token:
    namespace: str
    service_account: str
    pod: str
    uid: str
    audiences: tuple[str, ...]


def _matches(obj: dict[str, Any] | None, selector: str) -> bool:
    if obj is None:
        return False
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.split("==", 1) if "==" in term else term.split("=", 1)
            if labels.get(k) != v:
                return False
        elif term not in labels:
            return False
    return True


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }


@dataclass
class FakeKubeAPI:
    bookmark_interval_s: float = 1.0
    rv: int = 1000
    pods: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    configmaps: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    compacted: int = 0
    tokens: dict[str, Token] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False
    watch_generation: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)
    server: ThreadingHTTPServer | None = None

    # --- state ---------------------------------------------------------------------------------

    def _bump(self, kind: str, obj: dict[str, Any], prev: dict[str, Any] | None) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.events.append(Event(self.rv, kind, copy.deepcopy(obj), prev))
        if len(self.events) > 20_000:
            drop = self.events[:10_000]
            self.events = self.events[10_000:]
            self.compacted = drop[-1].rv
        self.cond.notify_all()

    def add_pod(
        self,
        namespace: str,
        name: str,
        *,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        ips: tuple[str, ...] = (),
        phase: str = "Running",
        service_account: str = "default",
        node: str = "node-1",
        owner: tuple[str, str] | None = None,
        host_network: bool = False,
    ) -> dict[str, Any]:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "labels": dict(labels or {}),
                "annotations": dict(annotations or {}),
                "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            "spec": {
                "nodeName": node,
                "serviceAccountName": service_account,
                "hostNetwork": host_network,
                "containers": [{"name": "agent", "image": "openclaw/openclaw:2026.9.6"}],
            },
            "status": {
                "phase": phase,
                "podIP": ips[0] if ips else None,
                "podIPs": [{"ip": ip} for ip in ips],
                "containerStatuses": [
                    {"name": "agent", "imageID": "docker.io/openclaw/openclaw@sha256:" + "ab" * 32}
                ],
            },
        }
        if owner:
            pod["metadata"]["ownerReferences"] = [
                {
                    "kind": owner[0],
                    "name": owner[1],
                    "controller": True,
                    "apiVersion": "apps/v1",
                    "uid": str(uuid.uuid4()),
                }
            ]
        with self.cond:
            self.pods[(namespace, name)] = pod
            self._bump("ADDED", pod, None)
            return copy.deepcopy(pod)

    def update_pod(self, namespace: str, name: str, **changes: Any) -> dict[str, Any]:
        """changes: labels=, annotations= (replace), phase=, ips=, deleting=True."""
        with self.cond:
            pod = self.pods[(namespace, name)]
            prev = copy.deepcopy(pod)
            meta, st = pod["metadata"], pod["status"]
            if "labels" in changes:
                meta["labels"] = dict(changes["labels"])
            if "annotations" in changes:
                meta["annotations"] = dict(changes["annotations"])
            if "phase" in changes:
                st["phase"] = changes["phase"]
            if "ips" in changes:
                st["podIPs"] = [{"ip": ip} for ip in changes["ips"]]
                st["podIP"] = changes["ips"][0] if changes["ips"] else None
            if changes.get("deleting"):
                meta["deletionTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self._bump("MODIFIED", pod, prev)
            return copy.deepcopy(pod)

    def delete_pod(self, namespace: str, name: str) -> None:
        with self.cond:
            pod = self.pods.pop((namespace, name))
            self._bump("DELETED", pod, copy.deepcopy(pod))

    def add_configmap(self, namespace: str, name: str, data: dict[str, str] | None = None) -> None:
        with self.cond:
            self.rv += 1
            self.configmaps[(namespace, name)] = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "data": dict(data or {}),
                "metadata": {"name": name, "namespace": namespace, "resourceVersion": str(self.rv)},
            }

    def issue_token(self, pod: dict[str, Any], audience: str = "openclaw-pairing") -> str:
        meta = pod["metadata"]
        token = "tok-" + secrets.token_urlsafe(24)
        self.tokens[token] = Token(
            meta["namespace"], pod["spec"]["serviceAccountName"], meta["name"], meta["uid"], (audience,)
        )
        return token

    def compact(self) -> None:
        """Forget the event history: any watch resuming from an older version gets 410 Gone."""
        with self.cond:
            self.rv += 1  # as after writes elsewhere: every version a watcher may hold is now too old
            self.compacted = self.rv
            self.events.clear()

    def drop_watches(self) -> None:
        with self.cond:
            self.watch_generation += 1
            self.cond.notify_all()

    def set_down(self, down: bool) -> None:
        with self.cond:
            self.down = down
            if down:
                self.watch_generation += 1
            self.cond.notify_all()

    def watches_opened(self) -> int:
        return sum(1 for m, p in self.requests if m == "GET" and "watch=" in p)

    # --- server --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, host: str = "127.0.0.1") -> FakeKubeAPI:
        api = self

        class Handler(_Handler):
            fake = api

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="fake-kube-api", daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.set_down(True)
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "fake",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "sidecar", "user": {"token": API_TOKEN}}],
                    "contexts": [
                        {
                            "name": "fake",
                            "context": {"cluster": "fake", "user": "sidecar", "namespace": namespace},
                        }
                    ],
                }
            )
        )
        return path


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKubeAPI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def _route(self, method: str) -> None:
        fake = self.fake
        fake.requests.append((method, self.path))
        if self.headers.get("Authorization") != f"Bearer {API_TOKEN}":
            return self._send(401, status(401, "Unauthorized", "no or wrong bearer token"))
        if fake.down:
            return self._send(503, status(503, "ServiceUnavailable", "fake API is down"))
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        if method == "POST" and url.path == "/apis/authentication.k8s.io/v1/tokenreviews":
            return self._token_review(self._body())
        if len(parts) >= 5 and parts[:3] == ["api", "v1", "namespaces"]:
            ns, kind, name = parts[3], parts[4], (parts[5] if len(parts) > 5 else None)
            if kind == "pods" and method == "GET" and name is None and len(parts) == 5:
                if query.get("watch") in ("1", "true", "True"):
                    return self._watch(ns, query)
                return self._list(ns, query)
            if kind == "pods" and method == "GET" and name and len(parts) == 6:
                with fake.cond:
                    pod = copy.deepcopy(fake.pods.get((ns, name)))
                return self._send(200, pod) if pod else self._send(404, status(404, "NotFound", name))
            if kind == "configmaps" and name and len(parts) == 6:
                return self._configmap(method, ns, name)
        return self._send(403, status(403, "Forbidden", f"the fake does not serve {method} {url.path}"))

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def _list(self, ns: str, query: dict[str, str]) -> None:
        fake = self.fake
        selector = query.get("labelSelector", "")
        with fake.cond:
            items = [
                copy.deepcopy(p)
                for (n, _), p in sorted(fake.pods.items())
                if n == ns and _matches(p, selector)
            ]
            rv = fake.rv
        start = int(query.get("continue") or 0)
        limit = int(query.get("limit") or 0) or len(items) or 1
        page = items[start : start + limit]
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if start + limit < len(items):
            meta["continue"] = str(start + limit)
        self._send(200, {"apiVersion": "v1", "kind": "PodList", "metadata": meta, "items": page})

    def _chunk(self, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _watch(self, ns: str, query: dict[str, str]) -> None:
        selector = query.get("labelSelector", "")
        since = int(query.get("resourceVersion") or 0)
        bookmarks = query.get("allowWatchBookmarks") in ("true", "True", "1")
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 1800)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for item in self._watch_items(ns, selector, since, bookmarks, deadline):
                self._chunk(item)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _watch_items(
        self, ns: str, selector: str, since: int, bookmarks: bool, deadline: float
    ) -> Iterator[dict[str, Any]]:
        fake = self.fake
        with fake.cond:
            generation = fake.watch_generation
            if since and since < fake.compacted:
                yield {
                    "type": "ERROR",
                    "object": status(410, "Expired", f"too old resource version: {since} ({fake.compacted})"),
                }
                return
        cursor = since
        next_bookmark = time.monotonic() + fake.bookmark_interval_s
        while time.monotonic() < deadline:
            with fake.cond:
                if fake.watch_generation != generation:
                    return
                out = []
                for ev in fake.events:
                    if ev.rv <= cursor:
                        continue
                    cursor = ev.rv
                    if (ev.obj["metadata"]["namespace"]) != ns:
                        continue
                    now_m, was_m = _matches(ev.obj, selector), _matches(ev.prev, selector)
                    if ev.kind == "DELETED":
                        if was_m:
                            out.append({"type": "DELETED", "object": ev.obj})
                    elif now_m:
                        out.append(
                            {
                                "type": "ADDED" if ev.kind == "ADDED" or not was_m else "MODIFIED",
                                "object": ev.obj,
                            }
                        )
                    elif was_m:
                        out.append({"type": "DELETED", "object": ev.obj})
                cursor = max(cursor, fake.rv)
                if not out:
                    fake.cond.wait(0.1)
            yield from out
            if bookmarks and time.monotonic() >= next_bookmark:
                next_bookmark = time.monotonic() + fake.bookmark_interval_s
                yield {
                    "type": "BOOKMARK",
                    "object": {
                        "kind": "Pod",
                        "apiVersion": "v1",
                        "metadata": {"resourceVersion": str(cursor)},
                    },
                }

    def _token_review(self, body: dict[str, Any]) -> None:
        spec = body.get("spec") or {}
        token = self.fake.tokens.get(str(spec.get("token")))
        wanted = spec.get("audiences") or []
        result: dict[str, Any]
        if token is None:
            result = {"authenticated": False, "error": "[invalid bearer token, token lookup failed]"}
        elif wanted and not set(wanted) & set(token.audiences):
            result = {"authenticated": False, "error": "[invalid bearer token, token audiences is invalid]"}
        else:
            result = {
                "authenticated": True,
                "user": {
                    "username": f"system:serviceaccount:{token.namespace}:{token.service_account}",
                    "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, token.service_account)),
                    "groups": ["system:serviceaccounts", f"system:serviceaccounts:{token.namespace}"],
                    "extra": {
                        "authentication.kubernetes.io/pod-name": [token.pod],
                        "authentication.kubernetes.io/pod-uid": [token.uid],
                    },
                },
                "audiences": list(set(wanted) & set(token.audiences)) if wanted else list(token.audiences),
            }
        self._send(
            201,
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec, "status": result},
        )

    def _configmap(self, method: str, ns: str, name: str) -> None:
        fake = self.fake
        with fake.cond:
            cm = fake.configmaps.get((ns, name))
            if cm is None:
                return self._send(404, status(404, "NotFound", f'configmaps "{name}" not found'))
            if method == "PATCH":
                if self.headers.get("Content-Type") != "application/merge-patch+json":
                    return self._send(415, status(415, "UnsupportedMediaType", "merge patch only"))
                for key, value in (self._body().get("data") or {}).items():
                    if value is None:
                        cm["data"].pop(key, None)
                    else:
                        cm["data"][key] = value
                fake.rv += 1
                cm["metadata"]["resourceVersion"] = str(fake.rv)
            elif method != "GET":
                return self._send(405, status(405, "MethodNotAllowed", method))
            return self._send(200, copy.deepcopy(cm))
