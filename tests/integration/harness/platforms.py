"""What the tests that drive sessionarchiver against fake Moodle sites
share: private (0600) files and config files written from a dict of
sections, a store with its index and config file whose CLI runs with that
config (Workspace), a source and an archive site around one (TwoSites),
and `php -S` serving a fake site (its webservice/rest/server.php).

Not a plugin (no fixtures): conftest.py only has its asserts rewritten.
"""
import contextlib
import itertools
import os
import pathlib
import shutil
import socket
import subprocess
import time

import pytest

from fakesite import FakeSite
from harness.build import CLI, run_cli, sanitizer_env

PHP = shutil.which("php") or "/usr/bin/php"
SESSION = "2025-2026"

needs_php = pytest.mark.skipif(shutil.which("php") is None,
                               reason="php-cli is not installed")

_names = itertools.count()


def unique(prefix):
    """prefix<pid>_<n>: a name no other site of this run has."""
    return "%s%d_%d" % (prefix, os.getpid(), next(_names))


# ------------------------------------------------------------------ files
def write_private(path, text):
    """Writes text to path with mode 0600 (as the tool wants a file that
    names a secret); returns path."""
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(str(path), 0o600)
    return path


def write_secret(path, value):
    """A secret file: value and a newline, mode 0600."""
    return write_private(path, value + "\n")


def write_config(path, sections):
    """A config file (0600) from {section: {key: value}}, in that order;
    a section that is None or empty is left out. Returns path."""
    text = "".join("[%s]\n" % name
                   + "".join("%s = %s\n" % kv for kv in keys.items())
                   for name, keys in sections.items() if keys)
    return write_private(path, text)


def mail_conf(url, **kw):
    """A [mail] section for the test SMTP server at url."""
    m = {"url": url, "from": "sa@example.org", "to": "admin@example.org",
         "every": "50%", "starttls": "no"}
    m.update(kw)
    return m


# ------------------------------------------------------------------ time
def wait_until(pred, timeout=20.0, step=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out waiting for " + what)


def hhmm(t):
    lt = time.localtime(t)
    return "%02d:%02d" % (lt.tm_hour, lt.tm_min)


# ------------------------------------------------------------------ a store
class Workspace:
    """In tmp_path: a store made by `init` (tmp_path/store unless given),
    an index, a config file, and the CLI run with that config."""

    def __init__(self, tmp_path, store=None):
        self.tmp = tmp_path
        self.store = pathlib.Path(store) if store else tmp_path / "store"
        self.index = tmp_path / "index.db"
        self.conf = tmp_path / "sa.conf"
        run_cli("init", "--store", self.store, check=0)

    def write_config(self, sections):
        """sa.conf (0600): [store] path and index, then sections."""
        return write_config(self.conf, {"store": {"path": self.store,
                                                  "index": self.index},
                                        **sections})

    def sa(self, *args, check=None, env=None, timeout=120):
        return run_cli("-c", self.conf, *args, check=check, env=env,
                       timeout=timeout)

    def popen(self, *args, env=None):
        """The CLI in the background; stderr to a file (read by .finish())."""
        log = open(self.tmp / ("bg-%d.log" % next(_names)), "w+")
        proc = subprocess.Popen([str(CLI), "-c", str(self.conf), *args],
                                stdout=subprocess.DEVNULL, stderr=log,
                                env=sanitizer_env(env))
        proc.logfile = log
        return proc

    @staticmethod
    def finish(proc, timeout=60):
        rc = proc.wait(timeout=timeout)
        proc.logfile.seek(0)
        err = proc.logfile.read()
        proc.logfile.close()
        assert "Sanitizer" not in err, err
        return rc, err


class TwoSites(Workspace):
    """A source site (src) and an archive site (arc) with a target
    category Archives (idnumber ARCH), named <prefix>src<n> and
    <prefix>arc<n>, and a Workspace. The config is for the subclass to
    write."""

    def __init__(self, mariadb, tmp_path, prefix):
        tag = unique("")
        self.src = FakeSite.create(mariadb, tmp_path / "sites",
                                   prefix + "src" + tag)
        self.arc = FakeSite.create(mariadb, tmp_path / "sites",
                                   prefix + "arc" + tag)
        self.target = self.arc.add_category("Archives", 0, idnumber="ARCH")
        super().__init__(tmp_path)

    def destroy(self):
        for s in (self.src, self.arc):
            s.destroy()


# ------------------------------------------------------------------ php -S
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def php_server(docroot, log):
    """`php -S 127.0.0.1:PORT -t docroot`, its output in log; yields the
    base URL. Always stopped."""
    port = free_port()
    with open(log, "ab") as out:
        proc = subprocess.Popen([PHP, "-S", "127.0.0.1:%d" % port, "-t",
                                 str(docroot)], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT,
                                cwd=str(docroot))
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, \
                "php -S exited: %s" % pathlib.Path(log).read_text()
            try:
                socket.create_connection(("127.0.0.1", port),
                                         timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, \
                    "php -S does not listen on port %d" % port
                time.sleep(0.05)
        yield "http://127.0.0.1:%d" % port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def php_running(script, *args, wait=3.0):
    """The pids of processes running script (the end of an argument, e.g.
    "backup.php") with every one of args, after up to wait seconds for
    them to go: a run killed with -9 must not leave Moodle's CLI behind."""
    deadline = time.monotonic() + wait
    while True:
        found = []
        for d in pathlib.Path("/proc").iterdir():
            try:
                argv = (d / "cmdline").read_bytes().split(b"\0")
            except (OSError, ValueError):
                continue
            if any(a.endswith(script.encode()) for a in argv) and \
                    all(a.encode() in argv for a in args):
                found.append(int(d.name))
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)

