"""FUSE mounts of a store for tests: mount, wait until the kernel shows the
mount, and always unmount with `fusermount3 -u` (lazily if the mount is
busy), then check that the daemon exited by itself with status 0 and
without a sanitizer report."""
import os
import shutil
import subprocess
import time

import pytest

from harness.build import FSBIN, sanitizer_env


class Mount:
    def __init__(self, store, mountpoint, options=()):
        self.store = str(store)
        self.mountpoint = str(mountpoint)
        self.options = list(options)
        self.proc = None
        self.stderr_path = os.path.join(os.path.dirname(self.mountpoint),
                                        os.path.basename(self.mountpoint)
                                        + ".daemon.log")

    def start(self, timeout=20):
        if not os.path.exists("/dev/fuse"):
            pytest.skip("/dev/fuse is missing: FUSE cannot run here")
        if shutil.which("fusermount3") is None:
            pytest.skip("fusermount3 missing (Debian package fuse3)")
        os.makedirs(self.mountpoint, exist_ok=True)
        args = [str(FSBIN), self.store, self.mountpoint, "-f"]
        for opt in self.options:
            args += ["-o", opt]
        self._log = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(args, stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     env=sanitizer_env())
        deadline = time.monotonic() + timeout
        while not os.path.ismount(self.mountpoint):
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"sessionarchiverfs exited {self.proc.returncode} "
                    f"before mounting:\n{self.log()}")
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError(f"mount not ready after {timeout}s:\n"
                                     + self.log())
            time.sleep(0.02)
        return self

    def log(self):
        with open(self.stderr_path) as f:
            return f.read()

    def stop(self, timeout=20):
        """Unmounts and returns the daemon's exit status."""
        if self.proc is None:
            return None
        if os.path.ismount(self.mountpoint):
            rc = subprocess.run(["fusermount3", "-u", self.mountpoint],
                                capture_output=True).returncode
            if rc != 0:
                subprocess.run(["fusermount3", "-u", "-z", self.mountpoint],
                               capture_output=True)
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
    """Returns a function mount(store, options=()) -> Mount; every mount
    made is undone at teardown, also when the test failed."""
    mounts = []

    def mount(store, options=(), name="mnt"):
        m = Mount(store, tmp_path / name, options).start()
        mounts.append(m)
        return m

    yield mount
    problems = []
    for m in mounts:
        status = m.stop()
        log = m.log()
        if status not in (0, None) or "Sanitizer" in log:
            problems.append(f"daemon exited {status}:\n{log}")
    assert not problems, "\n".join(problems)
