"""``openclaw-sidecar kube-device``: a device key for a Secret-backed Kubernetes agent, and its annotation.

    openclaw-sidecar kube-device [--key device.key] [--secret openclaw-agent-device] [--namespace openclaw]

Without ``--key`` it creates a new Ed25519 key as ``device.key`` (PKCS#8 PEM, mode 0600; refuses to
overwrite). It prints the ``kubectl create secret`` command for the key and the pod-template annotation
``openclaw.pairing/device-id: <deviceId>`` that lets the pairing sidecar approve that device without ever
reading the Secret (docs/kubernetes.md, "static").
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from sidecar.errors import ConfigError

ANNOTATION = "openclaw.pairing/device-id"  # = sidecar.sources.kubernetes.DEVICE_ID_ANNOTATION


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "kube-device",
        help="create a device key for a Kubernetes Secret and print the pod annotation that pins it",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--key", default="device.key", help="the PKCS#8 key file (created if missing)")
    p.add_argument("--secret", default="openclaw-agent-device", help="the Secret's name")
    p.add_argument("--namespace", default="openclaw")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from sidecar.identity.keys import DeviceIdentity

    path = Path(args.key)
    if path.exists():
        try:
            identity = DeviceIdentity.from_private_pem(path.read_bytes())
        except ValueError as exc:
            raise ConfigError(f"{path} is not an Ed25519 PKCS#8 private key: {exc}") from None
        made = "read"
    else:
        identity = DeviceIdentity.generate()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(identity.private_key_pem)
        made = "created"
    print(f"# {made} {path} (device {identity.device_id[:12]}); store it as the Secret, keep no other copy:")
    print(f"kubectl -n {args.namespace} create secret generic {args.secret} --from-file=device.key={path}")
    print("# and put this annotation on the agent's pod template (k8s/agent.yaml):")
    print(f'{ANNOTATION}: "{identity.device_id}"')
    return 0
