"""Why would a labelled agent present a key other than the one it publishes? Usually: its release reads
the *other* identity storage.

identity-init writes the agent's key where the OpenClaw release it was told (``OPENCLAW_VERSION``) reads
it: ``identity/device.json`` up to 2026.7, ``state/openclaw.sqlite`` from 2026.8. If the agent image runs
a release on the other side of that line, OpenClaw finds no identity, creates its own key, and asks to
pair with it; the sidecar (rightly) refuses, because that key is not the published one. This module names
that cause from evidence the workload carries, purely (no I/O):

- what was written: the published ``device.pub.json`` says ``storage`` and ``openclawVersion``;
- what the agent runs: the image's ``org.opencontainers.image.version`` label (containers inherit their
  image's labels; the locally built OpenClaw image sets it), else the tag of the image reference
  (``openclaw/openclaw:2026.7.35``, ``openclaw-local:2026.7.35``).
"""

from __future__ import annotations

from collections.abc import Mapping

from sidecar.identity.detect import format_for_version, parse_version
from sidecar.identity.keys import PublicIdentity

VERSION_LABEL = "org.opencontainers.image.version"
STORAGE_FILES = {"json": "identity/device.json", "sqlite": "state/openclaw.sqlite"}


def image_release(labels: Mapping[str, str], image: str) -> tuple[str, str] | None:
    """(release, where it was read) of the OpenClaw in a container, or None when nothing says."""
    label = labels.get(VERSION_LABEL, "").strip()
    if label and parse_version(label) is not None:
        return label, f"image label {VERSION_LABEL}"
    reference = image.split("@", 1)[0]
    name, _, tag = reference.rpartition(":")
    if name and "/" not in tag and "openclaw" in name.lower() and parse_version(tag) is not None:
        return tag, f"image {reference}"
    return None


def own_key_cause(published: PublicIdentity | None, labels: Mapping[str, str], image: str) -> str | None:
    """The likely cause, as a sentence with the fix, when the evidence shows a storage mismatch; else None."""
    if published is None or published.storage not in STORAGE_FILES:
        return None
    found = image_release(labels, image)
    if found is None:
        return None
    release, where = found
    version = parse_version(release)
    assert version is not None  # image_release only returns parseable releases
    reads = format_for_version(version)
    if reads == published.storage:
        return None
    told = f" for OPENCLAW_VERSION={published.release}" if published.release else ""
    return (
        f"the agent created its own key: its OpenClaw release {release} ({where}) reads "
        f"{STORAGE_FILES[reads]}, identity-init wrote {STORAGE_FILES[published.storage]}{told} — set "
        f"OPENCLAW_VERSION={release} (compose/.env) and recreate identity-init and the agent"
    )
