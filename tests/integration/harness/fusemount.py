"""FUSE mounts of a store for tests.

Mount(store, mountpoint, index=...) runs sessionarchiverfs in the
foreground (-f) under the build being tested (SA_BUILD: the ASan build
under `make test`), waits until the kernel shows the mount, and stop()
always unmounts with `fusermount3 -u` (lazily if the mount is busy) and
returns the daemon's own exit status, so a crash, a leak or a sanitizer
report at exit fails the test. With SA_FS_NO_OPENAT2=1, or no_openat2=True
for one mount, the daemon runs with sa-noopenat2.so preloaded: a kernel
without openat2 (harness/build.py, fs_env).

The fuse_mount fixture makes such mounts and undoes every one of them at
teardown, also when the test failed; fuse_mount.track(mountpoint) adds a
mount made some other way (daemonised, `mount -t`, fstab, `sessionarchiver
mount`) to be unmounted at teardown and checked for a daemon left behind.
"""
import glob
import os
import shutil
import subprocess
import time

import pytest

from harness.build import FSBIN, fs_env

# What a sanitizer or a crash leaves in an output.
SANITIZER_MARKS = ("Sanitizer", "runtime error:", "AddressSanitizer",
                   "LeakSanitizer")


def need_fuse():
    if not os.path.exists("/dev/fuse"):
        pytest.skip("/dev/fuse is missing: FUSE cannot run here")
    if shutil.which("fusermount3") is None:
        pytest.skip("fusermount3 missing (Debian package fuse3)")


def is_mounted(mountpoint):
    """Whether mountpoint is in our mount table: unlike os.path.ismount,
    also true for a FUSE mount whose daemon died (ENOTCONN)."""
    mountpoint = os.path.realpath(str(mountpoint))
    with open("/proc/self/mountinfo") as f:
        for line in f:
            target = line.split()[4]
            for esc, ch in (("\\040", " "), ("\\011", "\t"),
                            ("\\012", "\n"), ("\\134", "\\")):
                target = target.replace(esc, ch)
            if target == mountpoint:
                return True
    return False


def fusermount_u(mountpoint):
    """fusermount3 -u, lazily when busy or when the daemon is gone."""
    if not is_mounted(mountpoint):
        return
    rc = subprocess.run(["fusermount3", "-u", str(mountpoint)],
                        capture_output=True).returncode
    if rc != 0:
        subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)],
                       capture_output=True)


def daemon_pids(mountpoint):
    """Pids of sessionarchiverfs processes serving mountpoint (by their
    command line), whoever started them."""
    mountpoint = os.path.realpath(str(mountpoint))
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0].endswith(b"sessionarchiverfs"):
            continue
        args = [os.fsdecode(a) for a in argv[1:]]
        if any(os.path.realpath(a) == mountpoint
               for a in args if a.startswith("/")):
            pids.append(int(d))
    return pids


def unmount(mountpoint, timeout=10):
    """fusermount3 -u (lazy when busy), then waits until no daemon serves
    mountpoint any more. Returns the pids still there (empty when clean)."""
    mountpoint = str(mountpoint)
    fusermount_u(mountpoint)
    deadline = time.monotonic() + timeout
    while daemon_pids(mountpoint) and time.monotonic() < deadline:
        time.sleep(0.05)
    return daemon_pids(mountpoint)


def store_logs_problems(store):
    """Sanitizer reports written by the operations the daemon started:
    their output goes to the session logs of the store."""
    problems = []
    for log in glob.glob(os.path.join(str(store), "*", ".session",
                                      "log-*.txt")):
        with open(log, errors="replace") as f:
            text = f.read()
        if any(m in text for m in SANITIZER_MARKS):
            problems.append(f"{log}:\n{text[-4000:]}")
    return problems


class Mount:
    """sessionarchiverfs STORE MOUNTPOINT -f -o index=INDEX [-o opt]...;
    env adds to the daemon's environment, no_openat2 overrides
    SA_FS_NO_OPENAT2."""

    def __init__(self, store, mountpoint, index, options=(), env=None,
                 no_openat2=None):
        self.store = str(store)
        self.mountpoint = str(mountpoint)
        self.index = str(index)
        self.options = list(options)
        self.env = fs_env(env, no_openat2)
        self.proc = None
        self._log = None
        self.stderr_path = os.path.join(os.path.dirname(self.mountpoint),
                                        os.path.basename(self.mountpoint)
                                        + ".daemon.log")

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, timeout=20):
        need_fuse()
        os.makedirs(self.mountpoint, exist_ok=True)
        args = [str(FSBIN), self.store, self.mountpoint, "-f",
                "-o", f"index={self.index}"]
        for opt in self.options:
            args += ["-o", opt]
        self._log = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(args, stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     env=self.env)
        deadline = time.monotonic() + timeout
        while not os.path.ismount(self.mountpoint):
            if self.proc.poll() is not None:
                self._log.close()
                fusermount_u(self.mountpoint)
                status, self.proc = self.proc.returncode, None
                raise AssertionError(
                    f"sessionarchiverfs exited {status} before "
                    f"mounting:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"mount not ready after {timeout}s:\n"
                                     + self.log())
            time.sleep(0.02)
        return self

    def log(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def wait_log(self, text, timeout=10):
        """Waits until the daemon's stderr holds text."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            assert self.alive(), f"daemon died:\n{self.log()}"
            assert time.monotonic() < deadline, (
                f"{text!r} not in the daemon's output after {timeout}s:\n"
                + self.log())
            time.sleep(0.02)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def path(self, *parts):
        return os.path.join(self.mountpoint, *parts)

    def stop(self, timeout=20):
        """Unmounts and returns the daemon's exit status."""
        if self.proc is None:
            return None
        fusermount_u(self.mountpoint)
        try:
            status = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("sessionarchiverfs did not exit after "
                                 "unmount:\n" + self.log())
        finally:
            self._log.close()
        self.proc = None
        return status


@pytest.fixture
def fuse_mount(tmp_path):
    """mount(store, index, options=(), name="mnt", env=None,
    no_openat2=None) -> Mount, in the foreground (env and no_openat2: see
    Mount). mount.track(mountpoint, store=None) registers a mount made
    otherwise. Every mount is undone at teardown, also when the test
    failed; a daemon that did not exit 0, printed a sanitizer report, or
    stayed behind after unmount fails the test."""
    mounts, tracked = [], []

    def mount(store, index, options=(), name="mnt", env=None,
              no_openat2=None):
        m = Mount(store, tmp_path / name, index, options, env, no_openat2)
        mounts.append(m)
        return m.start()

    def track(mountpoint, store=None):
        tracked.append((str(mountpoint), store))

    mount.track = track
    yield mount
    problems = []
    for m in mounts:
        status = m.stop()
        if status is None:
            continue
        log = m.log()
        if status != 0 or any(s in log for s in SANITIZER_MARKS):
            problems.append(f"daemon exited {status}:\n{log}")
        problems += store_logs_problems(m.store)
    for mountpoint, store in tracked:
        left = unmount(mountpoint)
        if left:
            problems.append(f"sessionarchiverfs still running after "
                            f"unmounting {mountpoint}: pids {left}")
            # ours: started by this test for this mountpoint
            for pid in left:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
        if store:
            problems += store_logs_problems(store)
    assert not problems, "\n".join(problems)
