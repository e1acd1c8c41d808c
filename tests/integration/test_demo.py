"""The README's walkthrough, end to end: tests/demo/run-demo.sh (what `make
demo` runs) in a temporary SA_DEMO_DIR with the build under test, then the
stop-demo.sh it leaves behind.

The demo runs the whole annual cycle on two fake Moodle sites (init, doctor,
plan, archive, status, the mount, restore, verify, purge --preview and
--dry-run) in about ten seconds. This test is part of `make test`, hence of
CI (.ci/run): there, a missing prerequisite (php, FUSE, MariaDB) fails it
instead of skipping it, so that the walkthrough cannot silently stop being
tested.

Run: SA_BUILD=/work/main/build/asan /usr/bin/python3 -m pytest -q tests/integration/test_demo.py
"""

import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import pytest

from harness.build import BUILD, REPO, sanitizer_env
from harness.fusemount import SANITIZER_MARKS, is_mounted

DEMO = REPO / "tests" / "demo" / "run-demo.sh"
SESSION = "2025-2026"
DEMO_TIMEOUT = 150  # the demo takes ~10 s; `make demo` promises < 2 min


def _missing():
    """What the demo needs and this machine lacks (None: nothing)."""
    for prog in ("php", "fusermount3", "mountpoint", "getfattr"):
        if shutil.which(prog) is None:
            return "%s is not installed (tests/install-deps.sh)" % prog
    if not (shutil.which("mariadbd") or os.access("/usr/sbin/mariadbd", os.X_OK)):
        return "mariadbd is not installed (tests/install-deps.sh)"
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing"
    return None


@pytest.fixture
def demo_dir():
    """A short temporary SA_DEMO_DIR (MariaDB's socket path must stay under
    ~100 bytes); whatever the demo left running is stopped at teardown."""
    why = _missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail("the README walkthrough cannot run in CI: " + why)
        pytest.skip(why)
    d = pathlib.Path(tempfile.mkdtemp(prefix="sa-demo-"))
    try:
        yield d
    finally:
        stop = d / "stop-demo.sh"
        if stop.exists():
            subprocess.run([str(stop)], capture_output=True, timeout=60)
        if is_mounted(d / "mnt"):
            subprocess.run(["fusermount3", "-uz", str(d / "mnt")],
                           capture_output=True)
        if not is_mounted(d / "mnt"):
            shutil.rmtree(d, ignore_errors=True)


def processes_of(directory, names=("mariadbd", "mysqld")):
    """PIDs of the live processes called one of names whose command line
    names a path under directory."""
    pids = []
    needle = str(directory) + "/"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0]:
            continue
        if os.path.basename(argv[0].decode(errors="replace")) not in names:
            continue
        if any(needle in a.decode(errors="replace") for a in argv[1:]):
            try:
                with open("/proc/%s/stat" % entry) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                        continue  # a zombie is no server
            except OSError:
                continue
            pids.append(int(entry))
    return pids


def test_demo_walkthrough(demo_dir):
    env = sanitizer_env({"SA_DEMO_DIR": str(demo_dir)})
    start = time.monotonic()
    proc = subprocess.run([str(DEMO), str(BUILD)], capture_output=True,
                          text=True, env=env, timeout=DEMO_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    took = time.monotonic() - start
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, "demo exited %d\n%s" % (proc.returncode, out)
    for mark in SANITIZER_MARKS:
        assert mark not in out, out
    assert "STEP FAILED" not in out, out
    assert took < 120, "the demo took %.0f s (README: under 2 minutes)" % took

    # every step ran, each with its heading and its command
    for n in range(1, 10):
        assert "\n== %d. " % n in out, "step %d missing\n%s" % (n, out)
    conf = demo_dir / "sessionarchiver.conf"
    for cmd in ("doctor", "plan archive %s" % SESSION, "archive %s" % SESSION,
                "restore %s" % SESSION, "verify %s" % SESSION,
                "purge %s --side source --preview" % SESSION,
                "purge %s --side source --dry-run" % SESSION):
        assert "+ sessionarchiver -c %s %s" % (conf, cmd) in out, (cmd, out)

    # doctor: no FAIL (WARNs are expected: we run as root)
    assert ", 0 FAIL" in out, out
    # plan, archive, restore: the whole session
    assert "verdict: ok" in out, out
    assert ("archive of %s: 30 done, 0 failed, 0 aborted, 0 not started"
            % SESSION) in out, out
    assert ("restore of %s: 30 done, 0 failed, 0 aborted, 0 not started"
            % SESSION) in out, out
    assert "courses: 30 courses (30 archived)" in out, out
    assert "courses: 30 courses (30 restored)" in out, out
    # the mount: status files, the plan, the tree, the extended attributes
    mnt = demo_dir / "mnt"
    assert "+ cat %s/status" % mnt in out, out
    assert "%s: archive finished, 30/30 done, 0 failed" % SESSION in out, out
    assert "+ cat %s/%s/plan | head -8" % (mnt, SESSION) in out, out
    assert "user.sessionarchiver.state=\"archived\"" in out, out
    assert "user.sessionarchiver.state=\"restored\"" in out, out
    assert "user.sessionarchiver.state=\"verified\"" in out, out
    assert "same bytes through the mount as in the store" in out, out
    # verify passes, its report is in the mount, and through control too
    assert "\nPASS 30/30\n" in out, out
    assert "+ cat %s/%s/report\nPASS 30/30" % (mnt, SESSION) in out, out
    assert "verify (pid" in out and "ended: exit status 0" in out, out
    # purge: the preview lists the courses, the dry run deletes nothing
    assert "purge preview: session %s, source side" % SESSION in out, out
    assert "courses to delete (30," in out, out
    assert "MATH-005-2026" in out, out
    assert ("purge (dry run) of %s (source side): 30 would be deleted, "
            "0 failed, 0 kept back" % SESSION) in out, out
    # it stops before the real purge and says how to run it
    assert "purge %s --side source --confirm" % SESSION in out, out
    assert "purge source confirm" in out, out

    # what the demo left up: the mount (live) and MariaDB
    assert is_mounted(mnt), "the demo should leave %s mounted" % mnt
    assert (mnt / SESSION / "status").read_text().startswith(
        "session: %s\n" % SESSION)
    assert processes_of(demo_dir), "the demo's MariaDB should still run"
    assert processes_of(demo_dir, ("sessionarchiverfs",)), (
        "the demo's sessionarchiverfs should still run")
    # the source site still holds its courses (only a dry run happened)
    listing = os.listdir(mnt / SESSION)
    assert "Sciences" in listing and "control" in listing, listing

    # stop-demo.sh stops both, and may run twice
    stop = demo_dir / "stop-demo.sh"
    for _ in range(2):
        res = subprocess.run([str(stop)], capture_output=True, text=True,
                             timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
    assert not is_mounted(mnt), "%s still mounted after stop-demo.sh" % mnt
    with open("/proc/self/mounts") as f:
        left = [l for l in f if " %s/" % demo_dir in l]
    assert not left, left
    deadline = time.monotonic() + 10
    while processes_of(demo_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not processes_of(demo_dir), "mariadbd of %s left running" % demo_dir
    assert not processes_of(demo_dir, ("sessionarchiverfs",)), (
        "sessionarchiverfs of %s left running" % demo_dir)
