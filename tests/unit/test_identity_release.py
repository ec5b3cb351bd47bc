"""The likely cause of a foreign key from a labelled agent: its release reads the other identity storage."""

from __future__ import annotations

import pytest

from sidecar.identity.detect import format_for_version, parse_version
from sidecar.identity.keys import DeviceIdentity
from sidecar.identity.release import image_release, own_key_cause

PUB = DeviceIdentity.from_seed(b"\x05" * 32).public("agent")


@pytest.mark.parametrize(
    ("release", "storage"),
    [
        ("2026.2.26", "json"),
        ("2026.7.1", "json"),
        ("2026.7.35", "json"),  # the last 2026.7 release on npm: reads identity/device.json
        ("2026.8.1-beta.1", "sqlite"),
        ("2026.8.1", "sqlite"),  # the first 2026.8 release on npm: reads state/openclaw.sqlite
        ("2026.9.6", "sqlite"),
    ],
)
def test_storage_of_a_release(release: str, storage: str) -> None:
    version = parse_version(release)
    assert version is not None
    assert format_for_version(version) == storage


@pytest.mark.parametrize(
    ("labels", "image", "expected"),
    [
        ({"org.opencontainers.image.version": "2026.7.35"}, "mine:latest", ("2026.7.35", "image label")),
        ({}, "openclaw/openclaw:2026.7.35", ("2026.7.35", "image openclaw/openclaw:2026.7.35")),
        ({}, "registry.example:5000/openclaw-local:2026.8.1@sha256:ab", ("2026.8.1", "image ")),
        ({}, "myagent:2026.7.35", None),  # not an OpenClaw image by name, no label: no claim
        ({}, "openclaw/openclaw:latest", None),
        ({"org.opencontainers.image.version": "1.2"}, "openclaw/openclaw:2026.9.6", ("2026.9.6", "image ")),
    ],
)
def test_image_release(labels: dict[str, str], image: str, expected: tuple[str, str] | None) -> None:
    found = image_release(labels, image)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert found[0] == expected[0]
        assert found[1].startswith(expected[1])


def test_cause_names_both_storages_and_the_release_to_set() -> None:
    published = DeviceIdentity.from_seed(b"\x05" * 32).public("agent", "sqlite", "2026.9.6")
    cause = own_key_cause(published, {}, "openclaw-local:2026.7.35")
    assert cause == (
        "the agent created its own key: its OpenClaw release 2026.7.35 (image openclaw-local:2026.7.35) "
        "reads identity/device.json, identity-init wrote state/openclaw.sqlite for OPENCLAW_VERSION=2026.9.6"
        " — set OPENCLAW_VERSION=2026.7.35 (compose/.env) and recreate identity-init and the agent"
    )
    json_written = DeviceIdentity.from_seed(b"\x05" * 32).public("agent", "json", "2026.7.35")
    assert "reads state/openclaw.sqlite, identity-init wrote identity/device.json" in str(
        own_key_cause(json_written, {"org.opencontainers.image.version": "2026.9.6"}, "x")
    )


@pytest.mark.parametrize(
    ("storage", "image"),
    [
        ("json", "openclaw-local:2026.7.35"),  # consistent: no storage story
        ("sqlite", "openclaw/openclaw:2026.9.6"),
        (None, "openclaw-local:2026.7.35"),  # an older publisher that does not say what it wrote
        ("file", "openclaw-local:2026.7.35"),  # not an OpenClaw storage
        ("sqlite", "agent:latest"),  # release unknown
    ],
)
def test_no_cause_without_evidence_of_a_mismatch(storage: str | None, image: str) -> None:
    published = DeviceIdentity.from_seed(b"\x05" * 32).public("agent", storage, None)
    assert own_key_cause(published, {}, image) is None


def test_published_document_round_trips_storage_and_release() -> None:
    from sidecar.identity.keys import PublicIdentity

    published = DeviceIdentity.from_seed(b"\x05" * 32).public("agent", "json", "2026.7.35")
    doc = published.to_json()
    assert doc["storage"] == "json"
    assert doc["openclawVersion"] == "2026.7.35"
    assert PublicIdentity.from_json(doc) == published
    assert PublicIdentity.from_json({**doc, "storage": "weird"}).storage is None
    assert PUB.to_json().keys() == {"deviceId", "publicKey", "publicKeyPem", "createdAtMs", "slot"}
