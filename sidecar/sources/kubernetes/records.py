"""What an enrollment is: the accepted record (pod UID → key, as kept in the ConfigMap), the rules it is
checked against, and a refusal (an HTTP status and the reason the pod is told)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sidecar.identity.keys import PublicIdentity


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Enrollment:
    identity: PublicIdentity
    namespace: str
    pod: str
    uid: str
    enrolled_at_ms: int

    def to_json(self) -> str:
        return json.dumps(
            {
                "deviceId": self.identity.device_id,
                "publicKey": self.identity.public_key,
                "namespace": self.namespace,
                "pod": self.pod,
                "enrolledAtMs": self.enrolled_at_ms,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, uid: str, text: str) -> Enrollment:
        data = json.loads(text)
        identity = PublicIdentity.from_json({"deviceId": data["deviceId"], "publicKey": data["publicKey"]})
        return cls(identity, str(data["namespace"]), str(data["pod"]), uid, int(data.get("enrolledAtMs", 0)))


@dataclass(frozen=True)
class EnrollPolicy:
    namespaces: frozenset[str]
    audience: str
    service_accounts: frozenset[str]  # empty: any; entries "sa" or "namespace/sa"
    label_opt_in: str
    label_opt_in_value: str
    rate_limit: int  # attempts per minute per client address
    configmap: str  # "" = memory only
    configmap_namespace: str
