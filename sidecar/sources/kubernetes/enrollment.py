"""Attested enrollment, the sidecar's side: which device key belongs to which pod, proven, never assumed.

A pod's init container posts its deviceId, publicKey, the nonce this sidecar issued, its pod UID, a
signature by the device key over all of those (:func:`sidecar.identity.enroll.enroll_payload`) and its
projected ServiceAccount token. :meth:`Enroller.enroll` accepts only when *every* check holds, cheapest
first: rate limit, fields, deviceId = sha256(publicKey), the nonce (single use), the signature, then the
token through TokenReview (authenticated, our audience, a ServiceAccount, bound to a pod), the token's pod
UID = the claimed one, namespace and ServiceAccount allowed, the pod exists with that UID, is not
finished or deleting, carries the opt-in label, and its device-id annotation (if any) is this key.

Accepted enrollments live in memory (pod UID → key) and in one ConfigMap (get/patch by resourceNames), so
a restarted sidecar remembers them. Every answer is audited; refusals are a 4xx with the reason.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sidecar.errors import SourceError
from sidecar.identity.enroll import enroll_payload
from sidecar.identity.keys import PublicIdentity, b64url_decode
from sidecar.sources.kubernetes.api import KubeAPI
from sidecar.sources.kubernetes.pods import is_opted_in, pinned_device_id, pod_info
from sidecar.sources.kubernetes.records import Enrollment, EnrollPolicy, Refused

log = logging.getLogger("sidecar.sources.kubernetes.enrollment")

NONCE_TTL_S = 120.0
MAX_NONCES = 10_000
PRUNE_AFTER_MS = 600_000
POD_NAME_CLAIM = "authentication.kubernetes.io/pod-name"
POD_UID_CLAIM = "authentication.kubernetes.io/pod-uid"
FIELDS = ("deviceId", "publicKey", "podUid", "nonce", "signature", "token")


@dataclass
class Outcome:
    status: int
    body: dict[str, Any]
    audit: dict[str, Any] = field(default_factory=dict)


class Enroller:
    def __init__(
        self,
        api: KubeAPI,
        policy: EnrollPolicy,
        *,
        on_enrolled: Callable[[str], None] = lambda reason: None,
        known_uids: Callable[[], frozenset[str] | None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._api = api
        self.policy = policy
        self._on_enrolled = on_enrolled
        self._known_uids = known_uids
        self._clock = clock
        self._wall_ms = wall_ms
        self._nonces: dict[str, float] = {}
        self._attempts: dict[str, deque[float]] = {}
        self.enrollments: dict[str, Enrollment] = {}

    def lookup(self, uid: str) -> PublicIdentity | None:
        found = self.enrollments.get(uid)
        return found.identity if found else None

    async def load(self) -> int:
        """Read the ConfigMap (a restarted sidecar remembers); returns how many enrollments it held."""
        p = self.policy
        if not p.configmap:
            return 0
        data = await self._api.get_configmap(p.configmap_namespace, p.configmap)
        if data is None:
            log.warning(
                "ConfigMap %s/%s not found: enrollments are kept in memory only",
                p.configmap_namespace,
                p.configmap,
            )
            return 0
        for uid, text in data.items():
            try:
                self.enrollments[uid] = Enrollment.from_json(uid, text)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring enrollment %s in ConfigMap %s: %s", uid, p.configmap, exc)
        return len(self.enrollments)

    def nonce(self) -> str:
        now = self._clock()
        for old in [n for n, exp in self._nonces.items() if exp < now]:
            del self._nonces[old]
        while len(self._nonces) >= MAX_NONCES:
            del self._nonces[next(iter(self._nonces))]
        value = secrets.token_urlsafe(32)
        self._nonces[value] = now + NONCE_TTL_S
        return value

    async def enroll(self, body: Any, client_ip: str) -> Outcome:
        facts: dict[str, Any] = {"clientIp": client_ip}
        try:
            status, answer = await self._enroll(body, client_ip, facts)
        except Refused as exc:
            status, answer = exc.status, {"status": "refused", "reason": exc.reason}
        audit = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "timeMs": self._wall_ms(),
            "event": "enrollment",
            "action": "enroll" if status < 300 else "refuse",
            "httpStatus": status,
            "reason": answer.get("reason"),
            "deviceId": facts.get("deviceId"),
            "evidence": facts,
        }
        return Outcome(status, answer, audit)

    def _rate_limited(self, client_ip: str) -> bool:
        now = self._clock()
        window = self._attempts.setdefault(client_ip, deque())
        while window and now - window[0] > 60.0:
            window.popleft()
        window.append(now)
        if len(self._attempts) > MAX_NONCES:  # forget idle addresses
            for ip in [ip for ip, w in self._attempts.items() if not w or now - w[-1] > 60.0]:
                del self._attempts[ip]
        return len(window) > self.policy.rate_limit

    async def _enroll(self, body: Any, client_ip: str, facts: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        p = self.policy
        if self._rate_limited(client_ip):
            raise Refused(
                429, f"too many enrollment attempts from {client_ip}: at most {p.rate_limit} a minute"
            )
        if not isinstance(body, Mapping):
            raise Refused(400, "the body must be a JSON object")
        missing = [f for f in FIELDS if not isinstance(body.get(f), str) or not body.get(f)]
        if missing:
            raise Refused(400, f"missing or non-string field(s): {', '.join(missing)}")
        device_id, key, pod_uid = str(body["deviceId"]), str(body["publicKey"]), str(body["podUid"])
        facts.update(deviceId=device_id, claimedPodUid=pod_uid)
        try:
            identity = PublicIdentity.from_json({"deviceId": device_id, "publicKey": key})
            public = Ed25519PublicKey.from_public_bytes(b64url_decode(identity.public_key))
        except ValueError as exc:
            raise Refused(400, f"deviceId/publicKey: {exc}") from None
        expires = self._nonces.pop(str(body["nonce"]), None)
        if expires is None or expires < self._clock():
            raise Refused(
                400, f"unknown, used or expired nonce: POST /v1/nonce for a fresh one ({NONCE_TTL_S:.0f} s)"
            )
        try:
            payload = enroll_payload(str(body["nonce"]), pod_uid, device_id, identity.public_key)
            public.verify(b64url_decode(str(body["signature"])), payload.encode())
        except (InvalidSignature, ValueError):
            raise Refused(
                403, "signature does not verify with publicKey over the nonce, pod UID and key"
            ) from None
        namespace, sa, pod_name, token_uid = await self._review(str(body["token"]))
        facts.update(namespace=namespace, serviceAccount=sa, pod=pod_name, podUid=token_uid)
        if token_uid != pod_uid:
            raise Refused(
                403,
                f"the token belongs to pod {namespace}/{pod_name} (uid {token_uid}), "
                f"not to pod uid {pod_uid}",
            )
        if namespace not in p.namespaces:
            raise Refused(
                403,
                f"namespace {namespace} is not watched by this sidecar ({', '.join(sorted(p.namespaces))})",
            )
        if p.service_accounts and not ({sa, f"{namespace}/{sa}"} & p.service_accounts):
            raise Refused(
                403,
                f"ServiceAccount {namespace}/{sa} may not enroll ({', '.join(sorted(p.service_accounts))})",
            )
        return await self._check_pod_and_record(identity, namespace, pod_name, token_uid, facts)

    async def _review(self, token: str) -> tuple[str, str, str, str]:
        try:
            status = await self._api.token_review(token, [self.policy.audience])
        except SourceError as exc:
            raise Refused(503, f"cannot verify the token now (TokenReview: {exc})") from None
        if not status.get("authenticated"):
            raise Refused(401, f"token not authenticated: {status.get('error') or 'TokenReview said no'}")
        audiences = status.get("audiences")
        if audiences is not None and self.policy.audience not in audiences:
            raise Refused(401, f"token is not for audience {self.policy.audience}")
        user = status.get("user") or {}
        parts = str(user.get("username") or "").split(":")
        if len(parts) != 4 or parts[:2] != ["system", "serviceaccount"]:
            raise Refused(401, f"not a ServiceAccount token (user {user.get('username')!r})")
        extra = user.get("extra") or {}
        names, uids = extra.get(POD_NAME_CLAIM) or [], extra.get(POD_UID_CLAIM) or []
        if not names or not uids:
            raise Refused(
                401, "the token is not bound to a pod: mount a projected serviceAccountToken volume"
            )
        return parts[2], parts[3], str(names[0]), str(uids[0])

    async def _check_pod_and_record(
        self, identity: PublicIdentity, namespace: str, name: str, uid: str, facts: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        p = self.policy
        try:
            raw = await self._api.get_pod(namespace, name)
        except SourceError as exc:
            raise Refused(503, f"cannot read pod {namespace}/{name} now ({exc})") from None
        if raw is None:
            raise Refused(403, f"pod {namespace}/{name} does not exist (any more)")
        info = pod_info(raw)
        facts.update(node=info.node, owner=info.owner, imageDigests=list(info.image_digests))
        if info.uid != uid:
            raise Refused(403, f"pod {namespace}/{name} has uid {info.uid} now: the token's pod was replaced")
        if info.deleting or info.phase not in ("Pending", "Running"):
            raise Refused(409, f"pod {namespace}/{name} is {'terminating' if info.deleting else info.phase}")
        if not is_opted_in(info.labels, p.label_opt_in, p.label_opt_in_value):
            raise Refused(
                403, f"pod {namespace}/{name} is not labelled {p.label_opt_in}={p.label_opt_in_value}"
            )
        pinned, _ = pinned_device_id(info)
        if pinned is not None and pinned != identity.device_id:
            raise Refused(
                409, f"pod {namespace}/{name} is annotated with deviceId {pinned[:12]}…, not this key"
            )
        prior = self.enrollments.get(uid)
        if prior is not None:
            if prior.identity.device_id == identity.device_id:
                return 200, {
                    "status": "already-enrolled",
                    "deviceId": identity.device_id,
                    "pod": f"{namespace}/{name}",
                }
            raise Refused(
                409, f"pod {namespace}/{name} already enrolled device {prior.identity.device_id[:12]}…"
            )
        enrollment = Enrollment(identity, namespace, name, uid, self._wall_ms())
        self.enrollments[uid] = enrollment
        persisted = await self._persist(enrollment)
        self._on_enrolled(f"kubernetes:enrolled:{namespace}/{name}")
        log.info("enrolled device %s for pod %s/%s", identity.device_id[:12], namespace, name)
        return 201, {
            "status": "enrolled",
            "deviceId": identity.device_id,
            "pod": f"{namespace}/{name}",
            "persisted": persisted,
        }

    async def _persist(self, enrollment: Enrollment) -> bool:
        p = self.policy
        if not p.configmap:
            return False
        patch: dict[str, str | None] = {enrollment.uid: enrollment.to_json()}
        known = self._known_uids()
        if known is not None:  # forget pods that are gone (the source's list is current)
            stale_before = self._wall_ms() - PRUNE_AFTER_MS  # a pod enrolling right now may not be listed yet
            gone = [
                u for u, e in self.enrollments.items() if u not in known and e.enrolled_at_ms < stale_before
            ]
            for uid in gone:
                del self.enrollments[uid]
                patch[uid] = None
        try:
            await self._api.patch_configmap(p.configmap_namespace, p.configmap, patch)
        except SourceError as exc:
            log.warning("enrollment of %s kept in memory only: %s", enrollment.pod, exc)
            return False
        return True
