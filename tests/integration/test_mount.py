"""sessionarchiverfs on a real FUSE mount: the store's sessions, categories
and backups, read-only, with the store's own files hidden and nothing
outside the store reachable."""
import filecmp
import os
import shutil
import subprocess

import pytest

from harness.build import FSBIN, real_fixtures, run_cli, sanitizer_env


@pytest.fixture
def store(tmp_path, built):
    st = tmp_path / "store"
    run_cli("init", "--store", st, check=0)
    maths = st / "2025-2026" / "Sciences" / "Maths"
    maths.mkdir(parents=True)
    (st / "2025-2026" / ".session").mkdir()
    (st / "2025-2026" / ".session" / "manifest.jsonl").write_text("{}\n")
    (maths / ".MATH101.mbz.tmp-1-0").write_bytes(b"partial")
    (maths / "upload.part").write_bytes(b"partial")
    (st / "2025-2026" / "escape").symlink_to("/etc")
    return st


def test_tree_hides_store_metadata_and_partials(store, fuse_mount, tmp_path):
    fixture = real_fixtures()[0]
    shutil.copy(fixture, store / "2025-2026" / "Sciences" / "Maths"
                / "GEN-XS-1.mbz")
    m = fuse_mount(store)
    mnt = m.mountpoint
    assert os.listdir(mnt) == ["2025-2026"]
    assert os.listdir(f"{mnt}/2025-2026") == ["Sciences"]
    assert os.listdir(f"{mnt}/2025-2026/Sciences/Maths") == ["GEN-XS-1.mbz"]
    for hidden in (".sessionarchiver", "2025-2026/.session",
                   "2025-2026/escape",
                   "2025-2026/Sciences/Maths/.MATH101.mbz.tmp-1-0",
                   "2025-2026/Sciences/Maths/upload.part"):
        assert not os.path.exists(f"{mnt}/{hidden}"), hidden
    assert not os.path.exists(f"{mnt}/2025-2026/escape/passwd")


def test_reads_are_byte_identical(store, fuse_mount):
    maths = store / "2025-2026" / "Sciences" / "Maths"
    for fixture in real_fixtures():
        shutil.copy(fixture, maths / fixture.name)
    m = fuse_mount(store)
    for fixture in real_fixtures():
        through = f"{m.mountpoint}/2025-2026/Sciences/Maths/{fixture.name}"
        assert os.path.getsize(through) == fixture.stat().st_size
        assert filecmp.cmp(through, fixture, shallow=False)


def test_mount_is_read_only(store, fuse_mount):
    m = fuse_mount(store)
    with pytest.raises(OSError) as err:
        open(f"{m.mountpoint}/2025-2026/new.mbz", "w")
    assert err.value.errno == 30  # EROFS
    with pytest.raises(OSError):
        os.mkdir(f"{m.mountpoint}/2025-2026/NewCat")
    st = os.stat(f"{m.mountpoint}/2025-2026")
    assert st.st_mode & 0o777 == 0o555


def test_not_a_store_is_refused(tmp_path, built):
    (tmp_path / "mnt").mkdir()
    proc = subprocess.run([str(FSBIN), str(tmp_path), str(tmp_path / "mnt")],
                          capture_output=True, text=True,
                          env=sanitizer_env(), timeout=30)
    assert proc.returncode == 7
    assert "is not a sessionarchiver store" in proc.stderr
    assert not os.path.ismount(tmp_path / "mnt")


def test_fs_help_version_usage(built):
    for flag in ("--help", "-h"):
        proc = subprocess.run([str(FSBIN), flag], capture_output=True,
                              text=True, env=sanitizer_env())
        assert proc.returncode == 0
        assert proc.stdout.startswith("usage: sessionarchiverfs")
    proc = subprocess.run([str(FSBIN), "--version"], capture_output=True,
                          text=True, env=sanitizer_env())
    assert proc.returncode == 0 and "libfuse 3." in proc.stdout
    proc = subprocess.run([str(FSBIN)], capture_output=True, text=True,
                          env=sanitizer_env())
    assert proc.returncode == 2 and "usage:" in proc.stderr
