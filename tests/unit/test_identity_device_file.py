"""The v1 key file store (`sidecar.identity.device_file`) and its crash-safety primitives (`fsutil`).

Concurrency and crash tests use real processes: 20 at once must agree on one identity, and a
process killed with SIGKILL between writing its temp file and linking it must leave no partial file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from sidecar.errors import IdentityCorrupt
from sidecar.identity import fsutil
from sidecar.identity.device_file import load_or_create, read_identity_file
from sidecar.identity.keys import DeviceIdentity

REPO = Path(__file__).resolve().parents[2]


def skip_or_fail(reason: str) -> None:
    """Skip on a developer machine; fail where skipping is forbidden (OPENCLAW_TEST_REQUIRE=1 / CI=true)."""
    if os.environ.get("OPENCLAW_TEST_REQUIRE") == "1" or os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (skipping is forbidden here)")
    pytest.skip(reason)


def run_python(code: str, *args: str, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,  # type: ignore[call-overload]
    )


def test_created_then_existing_with_private_modes(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "identity.json"
    first, source1 = load_or_create(path)
    second, source2 = load_or_create(path)
    assert (source1, source2) == ("created", "existing")
    assert first.device_id == second.device_id
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert path.parent.parent.stat().st_mode & 0o777 == 0o700
    record = json.loads(path.read_text())
    assert set(record) == {"version", "deviceId", "publicKeyPem", "privateKeyPem", "createdAtMs"}
    assert path.read_text().endswith("}\n")
    assert '\n  "version": 1,' in path.read_text()


def test_reads_openclaw_vector_record(tmp_path: Path) -> None:
    ident = DeviceIdentity.from_seed(bytes(range(32)), created_at_ms=1737264000000)
    path = tmp_path / "device.json"
    path.write_text(json.dumps(ident.to_record()))
    loaded, source = load_or_create(path)
    assert source == "existing"
    assert loaded.device_id == "56475aa75463474c0285df5dbf2bcab73da651358839e9b77481b2eab107708c"


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b'{"version": 1}',
        b"\xff\xfe",
        b'{"privateKeyPem": "-----BEGIN PRIVATE KEY-----\\nAAAA"}',
    ],
)
def test_corrupt_file_is_kept_and_named(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "device.json"
    path.write_bytes(content)
    with pytest.raises(IdentityCorrupt) as info:
        load_or_create(path)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    assert "mv " in str(info.value)
    assert path.read_bytes() == content  # never replaced


def test_record_with_wrong_device_id_is_corrupt(tmp_path: Path) -> None:
    record = DeviceIdentity.generate().to_record() | {"deviceId": "0" * 64}
    path = tmp_path / "device.json"
    path.write_text(json.dumps(record))
    with pytest.raises(IdentityCorrupt, match="deviceId"):
        read_identity_file(path)


def test_exclusive_write_never_replaces(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    fsutil.atomic_write(path, b"one", exclusive=True)
    with pytest.raises(FileExistsError):
        fsutil.atomic_write(path, b"two", exclusive=True)
    assert path.read_bytes() == b"one"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temp left behind


def test_move_aside_keeps_every_copy(tmp_path: Path) -> None:
    path = tmp_path / "device.json"
    moved = []
    for n in range(3):
        path.write_text(str(n))
        moved.append(fsutil.move_aside(path))
    assert not path.exists()
    assert sorted(p.read_text() for p in moved) == ["0", "1", "2"]
    assert all(".corrupt-" in p.name for p in moved)


def test_twenty_processes_create_exactly_one_identity(tmp_path: Path) -> None:
    path = tmp_path / "vol" / "sidecar.json"
    start = time.time() + 1.0
    code = """
        import sys, time
        from pathlib import Path
        from sidecar.identity.device_file import load_or_create
        while time.time() < float(sys.argv[2]):
            time.sleep(0.001)
        identity, source = load_or_create(Path(sys.argv[1]))
        print(identity.device_id, source)
    """
    procs = [run_python(code, str(path), str(start)) for _ in range(20)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append(out.split())
    assert len({device for device, _ in results}) == 1
    assert sorted(source for _, source in results).count("created") == 1
    assert sorted(p.name for p in path.parent.iterdir()) == [".sidecar.json.lock", "sidecar.json"]


def test_sigkill_between_temp_write_and_link_leaves_no_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "device.json"
    code = """
        import os, signal, sys
        from pathlib import Path
        from sidecar.identity.device_file import load_or_create
        os.link = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)  # die right before publishing
        load_or_create(Path(sys.argv[1]))
    """
    proc = run_python(code, str(path))
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not path.exists()
    leftovers = [p.name for p in tmp_path.iterdir() if fsutil.TEMP_MARK in p.name]
    assert len(leftovers) == 1  # the killed writer really had written its temp file
    _identity, source = load_or_create(path)
    assert source == "created"
    assert read_identity_file(path) is not None
    assert not [p for p in tmp_path.iterdir() if fsutil.TEMP_MARK in p.name]  # cleaned under the lock


def test_sigkill_at_random_points_never_leaves_a_partial_file(tmp_path: Path) -> None:
    code = """
        import sys
        from pathlib import Path
        from sidecar.identity.device_file import load_or_create
        for n in range(10_000):
            load_or_create(Path(sys.argv[1]) / f"id{n}.json")
    """
    proc = run_python(code, str(tmp_path))
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    files = sorted(tmp_path.glob("id*.json"), key=lambda p: int(p.stem[2:]))
    assert len(files) > 5
    for path in files:
        assert read_identity_file(path) is not None, path  # complete or absent, never partial


def test_read_only_dir(tmp_path: Path) -> None:
    """A real read-only bind mount (private mount namespace): reading works, creating is refused."""
    vol = tmp_path / "vol"
    vol.mkdir()
    existing, _ = load_or_create(vol / "have.json")
    code = f"""
        mount --bind {vol} {vol} && mount -o remount,bind,ro {vol} &&
        exec {sys.executable} -c '
import sys
from pathlib import Path
from sidecar.errors import IdentityReadOnly
from sidecar.identity.device_file import load_or_create
print(load_or_create(Path("{vol}/have.json"))[0].device_id)
try:
    load_or_create(Path("{vol}/new.json"))
except IdentityReadOnly as exc:
    print("READONLY", exc)
'"""
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0 and "unshare" in result.stderr:
        skip_or_fail(f"cannot create a mount namespace here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first == existing.device_id
    assert second.startswith("READONLY")
    assert "read-only" in second
    assert f"{vol}" in second
    assert not (vol / "new.json").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged uid")
def test_permission_denied_is_reported_as_read_only() -> None:
    base = Path(tempfile.mkdtemp(prefix="ocp-perm-"))
    try:
        base.chmod(0o755)
        vol = base / "vol"
        vol.mkdir(mode=0o555)
        code = """
            import os, sys
            from pathlib import Path
            from sidecar.errors import IdentityReadOnly
            from sidecar.identity.device_file import load_or_create
            os.setresgid(65534, 65534, 65534); os.setresuid(65534, 65534, 65534)
            try:
                load_or_create(Path(sys.argv[1]))
            except IdentityReadOnly as exc:
                print(exc)
        """
        proc = run_python(code, str(vol / "x.json"))
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "permission denied" in out
        assert "OPENCLAW_UID" in out
        assert str(vol) in out
    finally:
        shutil.rmtree(base)
