"""Reading a published identity through `get_archive`: path rules, stat checks, tar parsing, bounds."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import pytest

from sidecar.identity.keys import DeviceIdentity
from sidecar.sources.docker import (
    MAX_ARCHIVE_BYTES,
    MAX_IDENTITY_BYTES,
    DockerSourceOptions,
    IdentityUnavailable,
    check_archive_stat,
    identity_path_for,
    parse_identity_archive,
    read_bounded,
    validate_identity_path,
)

PATH = "/home/node/.openclaw/identity/device.pub.json"
IDENTITY = DeviceIdentity.from_seed(bytes(range(32)), created_at_ms=1_700_000_000_000)
PUBLISHED = json.dumps(IDENTITY.public().to_json()).encode()


def tar_of(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, None


# --- path rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [PATH, "/state/identity/device.pub.json", "/x/agent-1.pub.json"],
)
def test_valid_paths(path: str) -> None:
    assert validate_identity_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "/home/node/.openclaw/identity/device.json",  # the private record
        "/home/node/.openclaw/identity/device.key",
        "/home/node/.openclaw/state.sqlite",
        "/etc/shadow",
        "relative/device.pub.json",
        "/a/../home/node/.openclaw/identity/device.pub.json",
        "/a/./device.pub.json",
        "//device.pub.json",
        "/a//device.pub.json",
        "/a/device.pub.json/",
        "/a/.pub.json",
        "/a/device.pub.json\x00.txt",
        "",
        "/" + "a" * 5000 + ".pub.json",
    ],
)
def test_refused_paths(path: str) -> None:
    with pytest.raises(IdentityUnavailable):
        validate_identity_path(path)


def test_label_overrides_default_and_is_validated_naming_the_label() -> None:
    opts = DockerSourceOptions()
    assert identity_path_for({}, opts.identity_path_label, opts.default_identity_path) == PATH
    assert (
        identity_path_for(
            {"openclaw.pairing.identity-path": "/s/d.pub.json"},
            opts.identity_path_label,
            opts.default_identity_path,
        )
        == "/s/d.pub.json"
    )
    with pytest.raises(
        IdentityUnavailable, match=r"label openclaw\.pairing\.identity-path.*never private key"
    ):
        identity_path_for(
            {"openclaw.pairing.identity-path": "/s/device.json"},
            opts.identity_path_label,
            opts.default_identity_path,
        )


# --- the engine's stat header ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stat", "message"),
    [
        ({"name": "device.pub.json", "size": 17, "mode": 134218239, "linkTarget": "/id/real"}, "symlink"),
        ({"name": "device.pub.json", "size": 4096, "mode": 2147484141, "linkTarget": ""}, "not a regular"),
        ({"name": "device.pub.json", "size": MAX_IDENTITY_BYTES + 1, "mode": 420}, "more than"),
    ],
)
def test_stat_refuses_before_any_body_is_read(stat: dict[str, Any], message: str) -> None:
    with pytest.raises(IdentityUnavailable, match=message):
        check_archive_stat(stat, PATH)


def test_stat_of_a_regular_small_file_passes() -> None:
    check_archive_stat({"name": "device.pub.json", "size": 300, "mode": 420, "linkTarget": ""}, PATH)
    check_archive_stat(None, PATH)  # an engine that sends no stat still gets the tar checks


def test_read_bounded_stops_at_the_limit() -> None:
    assert read_bounded([b"a" * 10, b"b" * 10], limit=20) == b"a" * 10 + b"b" * 10
    with pytest.raises(IdentityUnavailable, match="exceeds"):
        read_bounded(iter([b"x" * 1024] * 1000))
    assert MAX_ARCHIVE_BYTES > MAX_IDENTITY_BYTES


# --- the tar -----------------------------------------------------------------------------------


def test_valid_archive_gives_the_verified_identity() -> None:
    identity = parse_identity_archive(tar_of(regular("device.pub.json", PUBLISHED)), PATH)
    assert identity.device_id == IDENTITY.device_id
    assert identity.public_key == IDENTITY.public_key_b64url


def _doc(**changes: Any) -> bytes:
    doc = IDENTITY.public().to_json()
    doc.update(changes)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (tar_of(special("device.pub.json", tarfile.SYMTYPE, "/etc/shadow")), "link to '/etc/shadow'"),
        (tar_of(special("device.pub.json", tarfile.LNKTYPE, "device.json")), "link to"),
        (tar_of(special("device.pub.json", tarfile.DIRTYPE)), "not a regular file"),
        (tar_of(special("device.pub.json", tarfile.FIFOTYPE)), "not a regular file"),
        (tar_of(special("device.pub.json", tarfile.CHRTYPE)), "not a regular file"),
        (tar_of(), "exactly one file"),
        (
            tar_of(regular("device.pub.json", PUBLISHED), regular("device.json", b"{}")),
            "exactly one file",
        ),
        (tar_of(regular("other.pub.json", PUBLISHED)), "unexpected archive member"),
        (tar_of(regular("device.pub.json", b" " * (MAX_IDENTITY_BYTES + 1))), "more than"),
        (b"this is not a tar archive at all" * 40, "malformed"),
        (b"", "malformed"),
        (tar_of(regular("device.pub.json", PUBLISHED))[:700], "truncated|malformed"),
        (tar_of(regular("device.pub.json", b"\xff\xfe{}")), "not valid UTF-8 JSON"),
        (tar_of(regular("device.pub.json", b"{not json")), "not valid UTF-8 JSON"),
        (tar_of(regular("device.pub.json", b"[" * 60000)), "not valid UTF-8 JSON"),
        (tar_of(regular("device.pub.json", b"[]")), "not a valid published identity"),
        (tar_of(regular("device.pub.json", _doc(deviceId="0" * 64))), "SHA-256"),
        (tar_of(regular("device.pub.json", _doc(publicKey="AAAA"))), "not a valid published identity"),
        (
            tar_of(regular("device.pub.json", json.dumps(IDENTITY.to_record()).encode())),
            "contains a private key",
        ),
    ],
)
def test_bad_archives_are_refused_with_a_reason(archive: bytes, message: str) -> None:
    with pytest.raises(IdentityUnavailable, match=message):
        parse_identity_archive(archive, PATH)


def test_reason_names_the_path() -> None:
    with pytest.raises(IdentityUnavailable, match=r"^/home/node/\.openclaw/identity/device\.pub\.json"):
        parse_identity_archive(tar_of(regular("device.pub.json", b"{}")), PATH)
