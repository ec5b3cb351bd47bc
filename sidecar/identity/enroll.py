"""Attested enrollment, the pod's side: prove to the pairing sidecar that this pod holds this device key.

    openclaw-enroll --url http://openclaw-pairing:9478 [--token-file F] [--pod-uid UID] [--identity-file F]

Run in the identity init container right after ``openclaw-entrypoint --init-only``. It asks the sidecar
for a nonce, signs ``openclaw-pairing-enroll|v1|<nonce>|<podUid>|<deviceId>|<publicKey>`` with the device
key, and posts that with the pod's projected ServiceAccount token (audience ``openclaw-pairing``). The
sidecar checks the token with TokenReview, the pod, and the signature (docs/kubernetes.md). Exit 0 when
enrolled (or already enrolled), 1 when refused (the reason is printed), 4 when the sidecar is unreachable.

Standard library and ``cryptography`` only (this runs in the small init image next to the entrypoint).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sidecar.identity.keys import DeviceIdentity

PAYLOAD_PREFIX = "openclaw-pairing-enroll|v1"
DEFAULT_TOKEN_FILE = "/var/run/secrets/openclaw-pairing/token"  # noqa: S105 - a path
NONCE_PATH = "/v1/nonce"
ENROLL_PATH = "/v1/enroll"


def enroll_payload(nonce: str, pod_uid: str, device_id: str, public_key: str) -> str:
    """The exact text the device key signs (both sides build it with this function)."""
    return f"{PAYLOAD_PREFIX}|{nonce}|{pod_uid}|{device_id}|{public_key}"


def _post(url: str, body: dict[str, Any], timeout: float) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's enrollment endpoint
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status), dict(json.loads(response.read() or b"{}"))
    except urllib.error.HTTPError as exc:
        try:
            return int(exc.code), dict(json.loads(exc.read() or b"{}"))
        except ValueError:
            return int(exc.code), {"reason": exc.reason}


def enroll(
    base_url: str, identity: DeviceIdentity, pod_uid: str, token: str, *, timeout: float = 10.0
) -> tuple[int, dict[str, Any]]:
    """One enrollment: (HTTP status, the sidecar's JSON answer). OSError when unreachable."""
    base = base_url.rstrip("/")
    status, answer = _post(base + NONCE_PATH, {}, timeout)
    if status != 200 or not isinstance(answer.get("nonce"), str):
        return status, answer
    nonce = answer["nonce"]
    body = {
        "deviceId": identity.device_id,
        "publicKey": identity.public_key_b64url,
        "podUid": pod_uid,
        "nonce": nonce,
        "signature": identity.sign(
            enroll_payload(nonce, pod_uid, identity.device_id, identity.public_key_b64url)
        ),
        "token": token,
    }
    return _post(base + ENROLL_PATH, body, timeout)


def _identity(path: str | None) -> DeviceIdentity:
    if path:
        return DeviceIdentity.from_record(json.loads(Path(path).read_text()))
    from sidecar.identity.ensure import show
    from sidecar.identity.entrypoint_settings import parse  # the slot openclaw-entrypoint just ensured

    cfg = parse(["--show"], os.environ)
    return show(cfg)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="openclaw-enroll", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the sidecar's enrollment endpoint, http://host:port")
    parser.add_argument("--token-file", default=DEFAULT_TOKEN_FILE, help="projected ServiceAccount token")
    parser.add_argument("--pod-uid", default=os.environ.get("POD_UID", ""), help="default: $POD_UID")
    parser.add_argument("--identity-file", help="a device key record (default: the entrypoint's slot)")
    parser.add_argument(
        "--retries", type=int, default=30, help="while the sidecar is unreachable (2 s apart)"
    )
    args = parser.parse_args(argv)
    if not args.pod_uid:
        print(
            "openclaw-enroll: error: no pod UID: set POD_UID from the downward API (metadata.uid)",
            file=sys.stderr,
        )
        return 2
    try:
        identity = _identity(args.identity_file)
        token = Path(args.token_file).read_text().strip()
    except Exception as exc:
        print(f"openclaw-enroll: error: {exc}", file=sys.stderr)
        return 2
    for attempt in range(max(1, args.retries)):
        try:
            status, answer = enroll(args.url, identity, args.pod_uid, token)
        except OSError as exc:
            print(f"openclaw-enroll: sidecar unreachable ({exc}); attempt {attempt + 1}", file=sys.stderr)
            time.sleep(2)
            continue
        if status in (200, 201):
            print(
                f"openclaw-enroll: {answer.get('status', 'enrolled')} device={identity.device_id[:12]}",
                flush=True,
            )
            return 0
        if status == 429 or status >= 500:
            print(f"openclaw-enroll: HTTP {status}: {answer.get('reason')}; retrying", file=sys.stderr)
            time.sleep(2)
            continue
        print(f"openclaw-enroll: refused (HTTP {status}): {answer.get('reason')}", file=sys.stderr)
        return 1
    return 4
