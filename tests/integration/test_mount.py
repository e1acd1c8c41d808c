"""sessionarchiverfs on real FUSE mounts (issue 4): the tree from the
index, byte-identical reads from the store, extended attributes, the
generated status files, the control files and every way a write to them is
refused, permissions, and every way to mount and unmount. Issue 13: the
same reads on a kernel without openat2 (sa-noopenat2.so preloaded; with
SA_FS_NO_OPENAT2=1 for every daemon here), and EROFS for changes.

The daemon runs from SA_BUILD (the ASan build under `make test`); the
harness (harness/fusemount.py) always unmounts and fails a test whose
daemon did not exit 0 or printed a sanitizer report.

Run: make -j2 SAN=1 && \
     SA_BUILD=build/asan /usr/bin/python3 -m pytest -q \
         tests/integration/test_mount.py
     (and once more with SA_FS_NO_OPENAT2=1 in the environment)
"""
import concurrent.futures
import errno
import filecmp
import hashlib
import json
import os
import random
import re
import shlex
import shutil
import socket
import sqlite3
import stat
import struct
import subprocess
import tarfile
import tempfile
import time
import zlib

import pytest

from harness.backups import backup_xml, make_tgz
from harness.build import (CLI, FSBIN, fs_env, real_fixtures, run_cli,
                           sanitizer_env)
from harness.fusemount import (daemon_pids, is_mounted, need_fuse,
                                unmount)

SESSION = "2025-2026"
SESSION_FILES = {"status", "status.json", "control", "plan", "report",
                 "log"}
ROOT_FILES = {"status", "status.json"}
EXIT_NOSTORE, EXIT_MOUNTPOINT, EXIT_USAGE = 7, 9, 2
CONTROL_MAX = 1024
# fs/daemon.h FSD_REFUSALS_LOGGED, indexer/runs.h RUNS_REFUSED_KEPT
REFUSALS_LOGGED, REFUSED_KEPT = 50, 10
VERBS = ("archive", "restore", "verify", "purge", "pause", "resume",
         "cancel", "index")


# ------------------------------------------------------------ backups
def make_mbz(path, cid, shortname=None):
    """A small but complete Moodle backup of course cid."""
    shortname = shortname or f"C{cid}"
    course = (f'<?xml version="1.0" encoding="UTF-8"?>\n'
              f'<course id="{cid}" contextid="{cid + 1000}">\n'
              f"  <shortname>{shortname}</shortname>\n"
              f"  <fullname>Course {cid}</fullname>\n"
              f"</course>\n").encode()
    return make_tgz(path, [
        (".ARCHIVE_INDEX", b"Moodle archive file index. Count: 3\n"),
        ("course/course.xml", course),
        ("files/aa/aabbcc", f"content of {cid} ".encode() * 50),
        ("moodle_backup.xml", backup_xml(cid, shortname, f"Course {cid}")),
        ("moodle_backup.log", b"")], level=9)


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


# ------------------------------------------------------------ the store
class Store:
    """A store made by `init` with one session, and its index in tmp_path
    (never the per-user default)."""

    def __init__(self, tmp_path):
        self.root = tmp_path / "store"
        run_cli("init", "--store", self.root, check=0)
        self.sess = self.root / SESSION
        self.meta = self.sess / ".session"
        self.meta.mkdir(parents=True)
        self.index = tmp_path / "index.db"

    def cli(self, *args, check=0):
        return run_cli("--store", self.root, "--index", self.index, *args,
                       check=check)

    def reindex(self):
        self.cli("index", "-q")

    def courses(self, session=SESSION):
        out = self.cli("list", "--json", session).stdout
        return json.loads(out)

    def journal(self, *events, site="abc"):
        with open(self.meta / f"journal-{site}.jsonl", "a") as f:
            for e in events:
                f.write(json.dumps({"v": 1, **e}) + "\n")

    def db(self):
        db = sqlite3.connect(self.index, timeout=10)
        db.execute("PRAGMA busy_timeout = 10000")
        return db

    def runs(self):
        with self.db() as db:
            rows = db.execute("SELECT operation, state, pid, last_error "
                              "FROM runs ORDER BY id").fetchall()
        db.close()
        return rows

    def non_refused_runs(self):
        return [r for r in self.runs() if r[1] != "refused"]

    def log_text(self):
        host = socket.gethostname()
        p = self.meta / f"log-{host}.txt"
        return (p.read_text(errors="surrogateescape") if p.exists()
                else "")


@pytest.fixture
def store(built, tmp_path):
    s = Store(tmp_path)
    make_mbz(s.sess / "Sciences" / "Maths" / "MATH101.mbz", 101)
    make_mbz(s.sess / "Sciences" / "PHY1.mbz", 102)
    make_mbz(s.sess / "Top.mbz", 103)
    s.reindex()
    return s


@pytest.fixture
def mounted(store, fuse_mount):
    """The store mounted with no periodic re-scan: only what the test does
    changes the index."""
    return fuse_mount(store.root, store.index, ["rescan=0"])


def write_control(path, data):
    """One write to a control file as `echo cmd > control` does it:
    open(O_WRONLY|O_TRUNC), write. Returns 0 or the errno."""
    if isinstance(data, str):
        data = data.encode()
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        n = os.write(fd, data)
        assert n == len(data)
        return 0
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)


def read_status(m, session=SESSION):
    """<session>/status as a dict of its key: value lines."""
    with open(m.path(session, "status")) as f:
        text = f.read()
    return dict(line.split(": ", 1) for line in text.splitlines())


def last_refused(m, session=SESSION):
    """The reason of the latest refusal status shows (its last_refused
    line, after the time), or None."""
    v = read_status(m, session)["last_refused"]
    if v == "-":
        return None
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", v), v
    return v[20:]


def wait_for(pred, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, f"timeout waiting for {what}"
        time.sleep(0.05)


def children(pid):
    """Child processes of pid (what the daemon started)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


def clean_text(data, outlen):
    """fs/daemon.c's clean_text(): valid UTF-8, control characters and
    stray bytes as \\xNN, cut with "..." to fit outlen bytes."""
    out, i = b"", 0
    while i < len(data):
        c, n = data[i], 1
        if 0x20 <= c < 0x7F:
            piece = bytes([c])
        else:
            piece = b"\\x%02x" % c
            if c >= 0x80:
                for k in (2, 3, 4):
                    try:
                        data[i:i + k].decode("utf-8")
                    except UnicodeDecodeError:
                        continue
                    if len(data[i:i + k]) == k:
                        piece, n = data[i:i + k], k
                    break
        if len(out) + len(piece) + 4 > outlen:
            return (out + b"...").decode()
        out += piece
        i += n
    return out.decode()


def quote_command(data):
    """The command as the daemon's log shows it (fs/daemon.c)."""
    if data.endswith(b"\n"):
        data = data[:-1]
    return clean_text(data, 128)


# ------------------------------------------------------------ the tree
def walk_mount(mnt):
    """Files and folders below each session of the mount, relative to the
    session, without the generated files."""
    tree = {}
    for session in sorted(set(os.listdir(mnt)) - ROOT_FILES):
        files, dirs = set(), set()
        top = os.path.join(mnt, session)
        for d, dnames, fnames in os.walk(top):
            rel = os.path.relpath(d, top)
            for n in dnames:
                dirs.add(os.path.normpath(os.path.join(rel, n)))
            for n in fnames:
                if rel == "." and n in SESSION_FILES:
                    continue
                files.add(os.path.normpath(os.path.join(rel, n)))
        tree[session] = (files, dirs)
    return tree


def test_listing_is_the_index_and_hides_work_in_progress(store, fuse_mount,
                                                          tmp_path):
    s = store.sess
    # work in progress and the store's own files, which never show
    (s / "Sciences" / "Maths" / ".MATH102.mbz.tmp-1-0").write_bytes(b"x")
    (s / "Sciences" / "Maths" / "MATH103.mbz.part").write_bytes(b"x")
    (s / "Sciences" / "Maths" / "MATH104.mbz.tmp").write_bytes(b"x")
    make_mbz(s / "Sciences" / ".Hidden.mbz", 104)
    make_mbz(s / ".Dotdir" / "D.mbz", 105)
    make_mbz(s / "Upload.part" / "U.mbz", 106)
    (store.meta / "manifest.jsonl").write_text("")
    (store.root / ".Trash").mkdir()
    # symlinks: to a folder and to a backup outside the store
    outside = tmp_path / "outside"
    make_mbz(outside / "Outside.mbz", 107)
    (s / "escape").symlink_to("/etc")
    (s / "Linked.mbz").symlink_to(outside / "Outside.mbz")
    (s / "Empty" / "Deeper").mkdir(parents=True)
    store.reindex()
    # one backup the mount's own first scan finds: its log line tells us
    # that scan is over
    make_mbz(s / "Lettres" / "L1.mbz", 108)
    m = fuse_mount(store.root, store.index, ["rescan=0"])
    m.wait_log("scan: 1 backups read")
    mnt = m.mountpoint

    assert sorted(os.listdir(mnt)) == [SESSION, "status", "status.json"]
    assert set(os.listdir(m.path(SESSION))) == SESSION_FILES | {
        "Sciences", "Top.mbz", "Empty", "Lettres"}
    files, dirs = walk_mount(mnt)[SESSION]
    listed = {c["file"] for c in store.courses() if c["on_disk"]}
    assert files == listed == {
        "Sciences/Maths/MATH101.mbz", "Sciences/PHY1.mbz", "Top.mbz",
        "Lettres/L1.mbz"}
    assert dirs == {"Sciences", "Sciences/Maths", "Empty", "Empty/Deeper",
                    "Lettres"}
    for c in store.courses():
        st = os.stat(m.path(SESSION, c["file"]))
        assert st.st_size == c["size"]
        assert stat.S_ISREG(st.st_mode)
    for hidden in (".sessionarchiver", ".Trash", f"{SESSION}/.session",
                   f"{SESSION}/.session/manifest.jsonl",
                   f"{SESSION}/escape", f"{SESSION}/escape/passwd",
                   f"{SESSION}/Linked.mbz", f"{SESSION}/.Dotdir",
                   f"{SESSION}/.Dotdir/D.mbz", f"{SESSION}/Upload.part",
                   f"{SESSION}/Upload.part/U.mbz",
                   f"{SESSION}/Sciences/.Hidden.mbz",
                   f"{SESSION}/Sciences/Maths/.MATH102.mbz.tmp-1-0",
                   f"{SESSION}/Sciences/Maths/MATH103.mbz.part",
                   f"{SESSION}/Sciences/Maths/MATH104.mbz.tmp"):
        assert not os.path.lexists(m.path(hidden)), hidden

    # what only the index knows shows too: a session whose folder is gone
    # and categories known from Moodle with no folder (yet)
    with store.db() as db:
        db.execute("INSERT INTO sessions(name, on_disk) VALUES "
                   "('2024-2025', 0)")
        sid = db.execute("SELECT id FROM sessions WHERE name = ?",
                         (SESSION,)).fetchone()[0]
        sci = db.execute("SELECT id FROM categories WHERE session_id = ? "
                         "AND path = 'Sciences'", (sid,)).fetchone()[0]
        db.execute("INSERT INTO categories(session_id, parent_id, name, "
                   "path, source_category_id) VALUES (?, ?, 'Physique', "
                   "'Sciences/Physique', 42)", (sid, sci))
        db.execute("INSERT INTO categories(session_id, parent_id, name, "
                   "path, source_category_id) VALUES (?, NULL, 'Langues', "
                   "'Langues', 43)", (sid,))
    db.close()
    assert not (s / "Langues").exists()
    assert sorted(os.listdir(mnt)) == ["2024-2025", SESSION, "status",
                                       "status.json"]
    assert set(os.listdir(m.path("2024-2025"))) == SESSION_FILES
    assert "Langues" in os.listdir(m.path(SESSION))
    assert os.listdir(m.path(SESSION, "Langues")) == []
    assert sorted(os.listdir(m.path(SESSION, "Sciences"))) == [
        "Maths", "PHY1.mbz", "Physique"]
    assert stat.S_ISDIR(os.stat(m.path(SESSION, "Sciences/Physique"))
                        .st_mode)
    assert read_status(m, "2024-2025")["state"] == "idle"
    files, dirs = walk_mount(mnt)[SESSION]
    assert files == listed
    assert {"Langues", "Sciences/Physique"} <= dirs


def check_symlinks_not_followed(store, mounted, tmp_path):
    secret = tmp_path / "secret.mbz"
    secret.write_bytes(b"not for the mount\n")
    target = store.sess / "Top.mbz"
    target.unlink()
    target.symlink_to(secret)
    with pytest.raises(OSError) as e:
        open(mounted.path(SESSION, "Top.mbz"), "rb").read()
    assert e.value.errno in (errno.ENOENT, errno.ELOOP)
    # a symlinked folder inside the session neither
    shutil.rmtree(store.sess / "Sciences" / "Maths")
    (store.sess / "Sciences" / "Maths").symlink_to(tmp_path)
    with pytest.raises(OSError):
        open(mounted.path(SESSION, "Sciences/Maths/MATH101.mbz"),
             "rb").read()
    # a refusal is an answer: the daemon is still there
    assert read_all(mounted.path(SESSION, "Sciences/PHY1.mbz")) == (
        store.sess / "Sciences" / "PHY1.mbz").read_bytes()
    assert mounted.alive()


def test_symlinked_backup_is_not_followed(store, mounted, tmp_path):
    """The index says the file is there; the store now holds a symlink in
    its place: the mount refuses to follow it."""
    check_symlinks_not_followed(store, mounted, tmp_path)


def test_symlinked_backup_is_not_followed_without_openat2(store, fuse_mount,
                                                          tmp_path):
    """The same refusals by the component walk that replaces openat2 on
    kernels before 5.6 (issue 13)."""
    m = fuse_mount(store.root, store.index, ["rescan=0"], no_openat2=True)
    check_symlinks_not_followed(store, m, tmp_path)
    assert "openat2 refused (Function not implemented)" in m.log()


@pytest.mark.parametrize("refusal", [errno.ENOSYS, errno.EPERM],
                         ids=["ENOSYS", "EPERM"])
def test_reads_without_openat2(store, fuse_mount, refusal):
    """Issue 13: Linux before 5.6 and valgrind answer openat2 with ENOSYS,
    some seccomp filters with EPERM. Backups still read byte for byte, and
    the daemon stays up: once it passed ENOSYS on to the kernel, which
    then sent reads with no handle and the daemon crashed."""
    m = fuse_mount(store.root, store.index, ["rescan=0"],
                   env={"SA_NOOPENAT2_ERRNO": str(refusal)},
                   no_openat2=True)
    for rel in ("Top.mbz", "Sciences/Maths/MATH101.mbz", "Top.mbz"):
        got = subprocess.run(["cat", m.path(SESSION, rel)],
                             capture_output=True, check=True).stdout
        assert got == (store.sess / rel).read_bytes(), rel
    assert read_all(m.path(SESSION, "status")).decode() == store.cli(
        "status", SESSION).stdout
    assert read_all(m.path("status")).decode() == store.cli(
        "status").stdout
    assert m.alive(), m.log()
    assert set(os.listdir(m.path(SESSION))) == SESSION_FILES | {
        "Sciences", "Top.mbz"}
    # said once, when the first backup was opened
    assert m.log().count(
        f"openat2 refused ({os.strerror(refusal)})") == 1, m.log()


def test_real_backups_read_byte_identical(built, tmp_path, fuse_mount):
    fixtures = real_fixtures()
    st = Store(tmp_path)
    dirs = ["Sciences/Maths", "Histoire & Géographie", ".", "A/B/C/D"]
    placed = []
    for i, fx in enumerate(fixtures):
        dest = st.sess / dirs[i % len(dirs)] / fx.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(fx, dest)
        placed.append((fx, os.path.normpath(os.path.join(
            dirs[i % len(dirs)], fx.name))))
    st.reindex()
    m = fuse_mount(st.root, st.index, ["rescan=0"])
    rng = random.Random(4)
    for fx, rel in placed:
        through = m.path(SESSION, rel)
        assert os.path.getsize(through) == fx.stat().st_size
        assert filecmp.cmp(through, fx, shallow=False), rel
        assert subprocess.run(["cmp", str(fx), through]).returncode == 0
        data = fx.read_bytes()
        # reads at odd offsets and sizes, past the end too
        with open(through, "rb", buffering=0) as f:
            for _ in range(50):
                off = rng.randrange(0, len(data) + 10)
                n = rng.choice((1, 7, 4096, 65537, 200000))
                assert os.pread(f.fileno(), n, off) == data[off:off + n]
    assert {c["file"] for c in st.courses()} == {r for _, r in placed}


# ------------------------------------------------------------ xattrs
XA = "user.sessionarchiver."


def test_xattrs_from_the_index(store, mounted):
    s = store.sess
    bad = s / "Sciences" / "Bad.mbz"
    bad.write_text("plain text, not a backup\n")
    store.reindex()
    good = mounted.path(SESSION, "Sciences/Maths/MATH101.mbz")
    wait_for(lambda: os.path.exists(mounted.path(SESSION,
                                                 "Sciences/Bad.mbz")),
             what="Bad.mbz")

    names = set(os.listxattr(good))
    assert names == {XA + n for n in ("state", "sha256", "source_id",
                                      "shortname")}
    assert os.getxattr(good, XA + "state") == b"archived"
    assert os.getxattr(good, XA + "sha256").decode() == sha256(
        s / "Sciences/Maths/MATH101.mbz")
    assert os.getxattr(good, XA + "source_id") == b"101"
    assert os.getxattr(good, XA + "shortname") == b"C101"
    # names the mount does not have
    for name in (XA + "archive_id", XA + "error", XA + "nope", XA,
                 "user.other", "security.selinux", XA + "state.x"):
        with pytest.raises(OSError) as e:
            os.getxattr(good, name)
        assert e.value.errno == errno.ENODATA, name

    badm = mounted.path(SESSION, "Sciences/Bad.mbz")
    assert os.getxattr(badm, XA + "state") == b"failed"
    err = os.getxattr(badm, XA + "error").decode()
    assert "not a Moodle backup" in err
    assert XA + "error" in os.listxattr(badm)
    failed = [c for c in store.courses() if c["file"] == "Sciences/Bad.mbz"]
    assert failed[0]["error"] == err

    # a restore in the journal, then `sessionarchiver index`
    store.journal({"time": 100, "event": "restore", "source_course_id": 101,
                   "archive_course_id": 9101})
    store.reindex()
    assert os.getxattr(good, XA + "archive_id") == b"9101"
    assert os.getxattr(good, XA + "state") == b"restored"
    assert XA + "archive_id" in os.listxattr(good)

    # folders and generated files have none
    for p in (mounted.path(SESSION), mounted.path(SESSION, "Sciences"),
              mounted.path(SESSION, "status"), mounted.mountpoint):
        assert os.listxattr(p) == []
        with pytest.raises(OSError) as e:
            os.getxattr(p, XA + "state")
        assert e.value.errno == errno.ENODATA
    # the mount is read-only for xattrs too
    with pytest.raises(OSError):
        os.setxattr(good, XA + "state", b"purged")


# ------------------------------------------------------------ status files
def read_all(path):
    with open(path, "rb") as f:
        return f.read()


def test_status_files_match_the_cli(store, mounted):
    m = mounted
    # a refusal, so that last_refused is not empty
    assert write_control(m.path(SESSION, "control"), "archve\n") == \
        errno.EINVAL
    cases = [
        (m.path("status"), store.cli("status").stdout),
        (m.path("status.json"), store.cli("status", "--json").stdout),
        (m.path(SESSION, "status"), store.cli("status", SESSION).stdout),
        (m.path(SESSION, "status.json"),
         store.cli("status", "--json", SESSION).stdout),
    ]
    for path, want in cases:
        got = read_all(path)
        assert got.decode() == want, path
        assert os.stat(path).st_size == len(got), path
    assert json.loads(read_all(m.path("status.json")))["running"] is False
    one = json.loads(read_all(m.path(SESSION, "status.json")))
    # a refusal is no operation
    assert one["session"] == SESSION and one["state"] == "idle"
    st = read_status(m)
    for key in ("operation", "state", "started", "done", "failed",
                "remaining", "total", "bytes", "eta", "current", "window",
                "last_error", "last_refused"):
        assert key in st, key
    assert (st["last_error"], one["last_error"]) == ("-", None)
    assert last_refused(m) == one["last_refused"]["reason"] == (
        "unknown command 'archve' (archive, restore, verify, purge, "
        "pause, resume, cancel, index)")
    assert st["last_refused"].startswith(one["last_refused"]["time"])
    assert (st["done"], st["total"], st["remaining"]) == ("3", "3", "0")

    # plan and report: a placeholder, then the session's files
    assert read_all(m.path(SESSION, "plan")) == (
        f"no plan yet for {SESSION}: archive writes one when it "
        f"starts\n").encode()
    assert read_all(m.path(SESSION, "report")) == (
        f"no verify report yet for {SESSION}\n").encode()
    (store.meta / "plan.txt").write_text("3 courses, 12 KiB\n")
    (store.meta / "report.txt").write_text("verify: 3 ok\n" * 100)
    assert read_all(m.path(SESSION, "plan")) == b"3 courses, 12 KiB\n"
    assert read_all(m.path(SESSION, "report")) == b"verify: 3 ok\n" * 100

    log = read_all(m.path(SESSION, "log"))
    assert log.decode() == store.log_text()
    assert b"control 'archve' refused: unknown command 'archve'" in log
    # a second host's log is shown too, each under its name
    (store.meta / "log-zz-other.txt").write_text("from the other host\n")
    log = read_all(m.path(SESSION, "log")).decode()
    assert "== log-zz-other.txt ==\nfrom the other host\n" in log
    assert f"== log-{socket.gethostname()}.txt ==" in log

    # sizes are right (tail and less rely on them), every file
    for name in SESSION_FILES:
        p = m.path(SESSION, name)
        assert os.stat(p).st_size == len(read_all(p)), name
        if name == "control":
            continue
        tail = subprocess.run(["tail", "-c", "17", p], capture_output=True,
                              check=True).stdout
        assert tail == read_all(p)[-17:], name
    for name in ROOT_FILES:
        assert os.stat(m.path(name)).st_size == len(read_all(m.path(name)))
    # status files are never stale: a change in the index shows at once
    store.journal({"time": 100, "event": "restore", "source_course_id": 101,
                   "archive_course_id": 9101})
    store.reindex()
    assert read_all(m.path(SESSION, "status")).decode() == store.cli(
        "status", SESSION).stdout
    assert "1 restored" in read_status(m)["courses"]
    # reading control shows the grammar
    assert read_all(m.path(SESSION, "control")).startswith(
        b"# write one command to this file")


def test_changes_are_refused_read_only(store, mounted):
    """Creating, removing, renaming or re-moding anything says "Read-only
    file system", not "Function not implemented" (issue 13); the control
    file still takes writes."""
    m = mounted
    top = m.path(SESSION, "Top.mbz")
    tries = {
        "mkdir": lambda: os.mkdir(m.path(SESSION, "x")),
        "mkdir at the root": lambda: os.mkdir(m.path("x")),
        "create": lambda: open(m.path(SESSION, "new.mbz"), "w"),
        "create excl": lambda: os.open(m.path("new"),
                                       os.O_WRONLY | os.O_CREAT | os.O_EXCL),
        "mknod": lambda: os.mknod(m.path(SESSION, "fifo"),
                                  stat.S_IFIFO | 0o600),
        "unlink": lambda: os.unlink(top),
        "unlink control": lambda: os.unlink(m.path(SESSION, "control")),
        "rmdir": lambda: os.rmdir(m.path(SESSION, "Sciences", "Maths")),
        "rename": lambda: os.rename(top, m.path(SESSION, "Moved.mbz")),
        "symlink": lambda: os.symlink("Top.mbz", m.path(SESSION, "l")),
        "link": lambda: os.link(top, m.path(SESSION, "Hard.mbz")),
        "chmod": lambda: os.chmod(top, 0o644),
        "chown": lambda: os.chown(top, 1, 1),
        "utime": lambda: os.utime(top, (0, 0)),
        "setxattr": lambda: os.setxattr(top, "user.x", b"1"),
        "removexattr": lambda: os.removexattr(
            top, "user.sessionarchiver.state"),
    }
    for what, f in tries.items():
        with pytest.raises(OSError) as e:
            f()
        assert e.value.errno == errno.EROFS, (what, e.value)
    src = m.mountpoint + ".src"
    with open(src, "w") as f:
        f.write("x\n")
    for argv in (["cp", src, m.path(SESSION)], ["mkdir", m.path("d")]):
        proc = subprocess.run(argv, capture_output=True, text=True)
        assert proc.returncode != 0, argv
        assert "Read-only file system" in proc.stderr, proc.stderr
    assert read_all(top) == (store.sess / "Top.mbz").read_bytes()
    assert sorted(os.listdir(m.mountpoint)) == [SESSION, "status",
                                                "status.json"]
    # a write still reaches the control file, which answers it
    assert write_control(m.path(SESSION, "control"), "archve\n") == \
        errno.EINVAL
    assert m.alive()


def test_modes_and_owner(store, mounted):
    m = mounted
    ctl = os.stat(m.path(SESSION, "control"))
    assert stat.S_IMODE(ctl.st_mode) == 0o600
    assert (ctl.st_uid, ctl.st_gid) == (os.getuid(), os.getgid())
    for p in [m.path(n) for n in ROOT_FILES] + [
            m.path(SESSION, n) for n in SESSION_FILES - {"control"}] + [
            m.path(SESSION, "Top.mbz")]:
        st = os.stat(p)
        assert stat.S_IMODE(st.st_mode) == 0o444, p
        assert st.st_uid == os.getuid()
    for p in (m.mountpoint, m.path(SESSION), m.path(SESSION, "Sciences")):
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o555
    # read-only apart from control
    for p, flags in ((m.path(SESSION, "status"), os.O_WRONLY),
                     (m.path(SESSION, "Top.mbz"), os.O_RDWR),
                     (m.path(SESSION, "New.mbz"), os.O_WRONLY | os.O_CREAT)):
        with pytest.raises(OSError):
            os.close(os.open(p, flags, 0o644))
    with pytest.raises(OSError):
        os.mkdir(m.path(SESSION, "NewCat"))
    with pytest.raises(OSError):
        os.unlink(m.path(SESSION, "Top.mbz"))
    with pytest.raises(OSError):
        os.rename(m.path(SESSION, "Top.mbz"), m.path(SESSION, "T.mbz"))


# ------------------------------------------------------------ the index
def index_files(index):
    return [f"{index}{suffix}" for suffix in ("", "-wal", "-shm")]


def busy_reads(m, seconds):
    """Reads from several threads at once for a while, so that many of
    the daemon's threads (each with its own index connection) run."""
    def reader(_):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            os.listdir(m.path(SESSION, "Sciences"))
            read_all(m.path(SESSION, "status"))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(reader, range(8)))


def test_a_deleted_and_rebuilt_index_is_read(store, mounted):
    """The administrator deletes the index and a CLI run makes a new one
    at the same path: the mount reads the new file (within a second or
    two), not the deleted one it still had open, and its writes go there
    too; closing its connections to the old file harms neither file."""
    m = mounted
    maths = m.path(SESSION, "Sciences", "Maths")
    busy_reads(m, 0.5)
    assert os.listdir(maths) == ["MATH101.mbz"]
    old = os.stat(store.index)
    for p in index_files(store.index):
        if os.path.exists(p):
            os.unlink(p)
    assert not os.path.exists(store.index)
    make_mbz(store.sess / "Sciences" / "Maths" / "MATH201.mbz", 201)
    store.reindex()
    new = os.stat(store.index)
    assert (new.st_dev, new.st_ino) != (old.st_dev, old.st_ino)
    wait_for(lambda: sorted(os.listdir(maths)) == ["MATH101.mbz",
                                                  "MATH201.mbz"],
             timeout=5, what="the new index in the listing")
    wait_for(lambda: read_status(m)["courses"].startswith("4 courses"),
             timeout=5, what="the new index in status")
    busy_reads(m, 1.5)
    assert read_all(m.path(SESSION, "status")).decode() == store.cli(
        "status", SESSION).stdout
    assert filecmp.cmp(os.path.join(maths, "MATH201.mbz"),
                       store.sess / "Sciences/Maths/MATH201.mbz",
                       shallow=False)
    # a refusal the mount records lands in the new index
    assert write_control(m.path(SESSION, "control"), "archve\n") == \
        errno.EINVAL
    assert [r[1] for r in store.runs()] == ["refused"]
    # every thread leaves the old file: nothing of the new one is lost
    busy_reads(m, 1.5)
    assert m.stop() == 0
    assert not any(s in m.log() for s in ("Sanitizer", "runtime error"))
    assert "was replaced: reading the new file" in m.log()
    with store.db() as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    assert [r[1] for r in store.runs()] == ["refused"]
    assert len(store.courses()) == 4


# ------------------------------------------------------------ control


def check_refused(store, m, data, err, why):
    """Writes data to control: fails with err, why (a regex, or text) is
    last_refused of status and is in the log; nothing was started."""
    before_runs = store.non_refused_runs()
    before_log = store.log_text()
    got = write_control(m.path(SESSION, "control"), data)
    assert got == err, (data, errno.errorcode.get(got, got), why)
    last = last_refused(m)
    if isinstance(why, re.Pattern):
        assert why.fullmatch(last), (data, last)
    else:
        assert last == why, (data, last)
    raw = data.encode() if isinstance(data, str) else data
    new_log = store.log_text()[len(before_log):]
    assert new_log.count("\n") == 1, new_log
    assert new_log.rstrip("\n").endswith(
        f"sessionarchiverfs: control '{quote_command(raw)}' refused: "
        f"{last}"), new_log
    assert read_all(m.path(SESSION, "log")).decode().endswith(new_log)
    assert children(m.pid) == []
    assert store.non_refused_runs() == before_runs
    assert store.runs()[-1][1:] == ("refused", m.pid, last)
    return last


EINVAL_CASES = [
    ("archve\n", "unknown command 'archve' (archive, restore, verify, "
                 "purge, pause, resume, cancel, index)"),
    ("INDEX\n", "unknown command 'INDEX' (archive, restore, verify, "
                "purge, pause, resume, cancel, index)"),
    ("\n", "empty command"),
    ("   \t \n", "empty command"),
    ("index now\n", "index takes no argument"),
    ("cancel all\n", "cancel takes no argument"),
    ("archive jobs=0\n", "jobs must be a number from 1 to 64, not '0'"),
    ("archive jobs=65\n", "jobs must be a number from 1 to 64, not '65'"),
    ("archive jobs=4x\n", "jobs must be a number from 1 to 64, not '4x'"),
    ("archive jobs=2 jobs=3\n", "option 'jobs' given twice"),
    ("archive window=25:00-06:00\n",
     "window must be HH:MM-HH:MM (e.g. 20:00-06:00), not '25:00-06:00'"),
    ("archive fast\n",
     "unexpected 'fast' after archive (options are key=value)"),
    ("archive target=1\n", "archive takes no option 'target'"),
    ("restore\n", "restore needs target=<category>, e.g. restore "
                  "target=path:/Archives"),
    ("restore target=id:x\n", "target must be a category id, id:N, "
                              "idnumber:X or path:/A/B, not 'id:x'"),
    ("verify shallow\n", "verify takes only 'deep'"),
    ("purge source\n", "purge needs a side and a mode: purge "
                       "source|archive preview|dry-run|confirm"),
    ("purge both confirm\n", "purge needs a side and a mode: purge "
                             "source|archive preview|dry-run|confirm"),
    ("index\nindex\n", "one command per write: found a second line"),
    ("ind\x01ex\n", "control character 0x01 in command"),
    (b"index\x00\n", "control character 0x00 in command"),
    (b"\xff\xfe\n", "unknown command '\\xff\\xfe' (archive, restore, "
                    "verify, purge, pause, resume, cancel, index)"),
    # the word is cut at 32 bytes, in the middle of a character
    ("a" + "\u00e9" * 20, "unknown command 'a" + "\u00e9" * 15 + "\\xc3' "
     "(archive, restore, verify, purge, pause, resume, cancel, index)"),
    ("\u00e9t\u00e9\n", "unknown command '\u00e9t\u00e9' (archive, "
     "restore, verify, purge, pause, resume, cancel, index)"),
    # long and escaped: the log line is cut
    ("a" * 122 + "\x01" * 10, "control character 0x01 in command"),
    ("a b c d e f g h i\n", "too many words in command"),
    ("index" + " " * (CONTROL_MAX - 5) + "x",
     f"command longer than {CONTROL_MAX} bytes"),
    ("x" * 5000, f"command longer than {CONTROL_MAX} bytes"),
    ("cancel\n", f"cancel: no operation is running on '{SESSION}'"),
    ("pause\n", f"pause: no operation is running on '{SESSION}'"),
    ("resume\n", f"resume: no operation is running on '{SESSION}'"),
]


def test_control_refusals(store, mounted):
    m = mounted
    for data, why in EINVAL_CASES:
        check_refused(store, m, data, errno.EINVAL, why)
        raw = data.encode() if isinstance(data, str) else data
        first = raw.split()[0].decode(errors="replace") if raw.split() \
            else ""
        # steering with nothing to steer names the command; a write that
        # does not parse names no operation
        want = first if why.startswith(f"{first}: no operation") \
            else "control"
        assert store.runs()[-1][0] == want, (data, store.runs()[-1])
    # refusals are no operation; the index keeps the latest few
    st = read_status(m)
    assert (st["operation"], st["state"], st["last_error"]) == (
        "-", "idle", "-")
    assert len(store.runs()) == REFUSED_KEPT
    check_refused(store, m, "verify shallow", errno.EINVAL,
                  "verify takes only 'deep'")
    st = read_status(m)
    assert (st["operation"], st["state"]) == ("-", "idle")

    # refused by a safety rule: never verified, verify failed, restored
    # after the latest verify
    never = ("purge of the source refused: the session was never verified "
             "(run verify first)")
    check_refused(store, m, "purge source confirm\n", errno.EPERM, never)
    store.journal({"time": 100, "event": "verify_report", "passed": False})
    store.reindex()
    check_refused(store, m, "purge source confirm", errno.EPERM,
                  "purge of the source refused: the latest verify of the "
                  "session failed")
    store.journal({"time": 200, "event": "verify_report", "passed": True},
                  {"time": 300, "event": "restore", "source_course_id": 101,
                   "archive_course_id": 9101})
    store.reindex()
    check_refused(store, m, "purge source confirm\n", errno.EPERM,
                  "purge of the source refused: courses were restored "
                  "after the latest verify (run verify again)")
    assert m.alive()
    assert all(r[1] == "refused" for r in store.runs())


def test_control_busy(store, mounted):
    """A live run of the session (this test process, as far as the index
    can tell) makes every command that would start something EBUSY."""
    m = mounted
    with store.db() as db:
        sid = db.execute("SELECT id FROM sessions WHERE name = ?",
                         (SESSION,)).fetchone()[0]
        db.execute("INSERT INTO runs(session_id, operation, state, pid, "
                   "host, started, updated) VALUES (?, 'archive', "
                   "'running', ?, ?, ?, ?)",
                   (sid, os.getpid(), socket.gethostname(),
                    int(time.time()), int(time.time())))
    db.close()
    try:
        st = read_status(m)
        assert (st["operation"], st["state"], st["pid"]) == (
            "archive", "running", str(os.getpid()))
        # never cancel, pause or resume here: the "run" is pytest itself
        for cmd in ("index", "archive", "verify deep",
                    "purge source confirm", "restore target=3"):
            op = cmd.split()[0]
            check_refused(store, m, cmd + "\n", errno.EBUSY,
                          f"{op} refused: archive is already running on "
                          f"'{SESSION}' (pid {os.getpid()})")
            assert read_status(m)["state"] == "running"
        # a malformed command is still EINVAL, busy or not
        check_refused(store, m, "index x\n", errno.EINVAL,
                      "index takes no argument")
        assert store.non_refused_runs() == [
            ("archive", "running", os.getpid(), None)]
    finally:
        with store.db() as db:
            db.execute("DELETE FROM runs WHERE state = 'running'")
        db.close()


def parse_status_until(m, pred, timeout=20):
    return wait_for(lambda: pred(read_status(m)) and read_status(m),
                    timeout, "status")


def test_echo_index_from_a_shell(store, mounted):
    m = mounted
    ctl = m.path(SESSION, "control")
    proc = subprocess.run(f"echo index > '{ctl}'", shell=True,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    runs = wait_for(lambda: [r for r in store.runs() if r[0] == "index"],
                    what="the index run")
    assert len(runs) == 1 and runs[0][2] > 0
    st = parse_status_until(m, lambda st: st["state"] == "finished")
    assert st["operation"] == "index" and st["pid"] == "-"
    assert store.runs()[-1][:2] == ("index", "finished")
    log = read_all(m.path(SESSION, "log")).decode()
    pid = runs[0][2]
    assert f"started index (pid {pid})" in log
    assert f"index (pid {pid}) ended: exit status 0" in log
    wait_for(lambda: children(m.pid) == [], what="the child to be reaped")

    # a backup copied into the store shows after `echo index > control`
    make_mbz(store.root / "new.mbz.tmp", 201)
    os.rename(store.root / "new.mbz.tmp",
              store.sess / "Sciences" / "Maths" / "MATH201.mbz")
    maths = m.path(SESSION, "Sciences", "Maths")
    time.sleep(1.2)  # past any kernel cache
    assert os.listdir(maths) == ["MATH101.mbz"]  # rescan=0: not yet
    proc = subprocess.run(f"echo index > '{ctl}'", shell=True,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    wait_for(lambda: "MATH201.mbz" in subprocess.run(
        ["ls", maths], capture_output=True, text=True).stdout,
        timeout=5, what="MATH201.mbz in ls")
    assert filecmp.cmp(os.path.join(maths, "MATH201.mbz"),
                       store.sess / "Sciences/Maths/MATH201.mbz",
                       shallow=False)
    parse_status_until(m, lambda st: st["state"] == "finished")
    assert [r[:2] for r in store.non_refused_runs()] == [
        ("index", "finished")] * 2
    # the CLI the daemon ran said what it did, into the log
    assert "indexed 1 session(s)" in store.log_text()


def slow_mbz(path, gib=16):
    """A backup that takes long to read: a tar member of gib GiB of zeros,
    gzip'd (16 MiB on disk, built in a fraction of a second by repeating
    one flushed deflate block). Its CRC is wrong: it is never read to the
    end."""
    ti = tarfile.TarInfo("files/aa/huge")
    ti.size, ti.mode = gib << 30, 0o644
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff",
           c.compress(ti.tobuf(format=tarfile.GNU_FORMAT)),
           c.flush(zlib.Z_FULL_FLUSH)]
    zeros = bytes(1 << 20)
    out.append(c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH))
    again = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    out += [again] * ((gib << 10) - 1)
    out += [c.flush(), struct.pack("<II", 0, 0)]
    path.write_bytes(b"".join(out))


def test_cancel_a_running_index(store, mounted):
    m = mounted
    ctl = m.path(SESSION, "control")
    slow_mbz(store.sess / "Slow.mbz")
    assert write_control(ctl, "index\n") == 0
    st = parse_status_until(m, lambda st: st["state"] == "running",
                            timeout=10)
    pid = int(st["pid"])
    assert children(m.pid) == [pid]
    assert st["operation"] == "index"
    # while it runs: a second start is refused, index cannot be paused
    assert write_control(ctl, "index\n") == errno.EBUSY
    assert write_control(ctl, "pause\n") == errno.EINVAL
    assert last_refused(m) == "pause: 'index' cannot be paused or resumed"
    st = read_status(m)
    assert (st["operation"], st["state"]) == ("index", "running"), (
        "index finished before it could be cancelled")
    assert write_control(ctl, "cancel\n") == 0
    # the run ends as failed (killed) or cancelled
    run = wait_for(lambda: [r for r in store.runs() if r[0] == "index" and
                            r[1] in ("failed", "cancelled")],
                   what="the index run to end")
    assert run[0][2] == pid
    assert read_status(m)["state"] != "running"
    wait_for(lambda: children(m.pid) == [], what="the child to end")
    log = store.log_text()
    assert f"cancel sent to index (pid {pid})" in log
    assert f"index (pid {pid}) ended: killed by signal 15" in log
    # nothing runs any more: cancel again is refused
    assert write_control(ctl, "cancel\n") == errno.EINVAL
    assert last_refused(m) == (
        f"cancel: no operation is running on '{SESSION}'")
    # and status still shows the run, not the refusals after it
    assert read_status(m)["operation"] == "index"


# ------------------------------------------------------------ fuzzing
def control_valid(data):
    """The control grammar (fs/control.c), to keep fuzz inputs invalid."""
    if not data or data == b"\n" or len(data) > CONTROL_MAX:
        return False
    if data.endswith(b"\n"):
        data = data[:-1]
    if data.endswith(b"\r"):
        data = data[:-1]
    if any((c < 0x20 and c != 9) or c == 0x7F for c in data):
        return False
    words = data.replace(b"\t", b" ").split()
    if not words or len(words) > 8:
        return False
    verb, args = words[0].decode("latin-1"), words[1:]
    if verb not in VERBS:
        return False
    # err on the side of "valid": such inputs are simply not sent
    if verb in ("pause", "resume", "cancel", "index"):
        return not args
    if verb == "verify":
        return args in ([], [b"deep"])
    if verb == "purge":
        return len(args) == 2
    return all(b"=" in a for a in args)


def fuzz_inputs(rng, n):
    valid = ["archive", "archive jobs=4", "archive window=20:00-06:00",
             "restore target=id:3", "restore target=path:/A/B jobs=2",
             "verify", "verify deep", "purge source preview",
             "purge archive confirm", "index", "pause", "resume", "cancel"]
    words = ["deepx", "now", "please", "x", "jobs", "=", "--", "rm -rf /",
             "$(reboot)", "`id`", ";", "&&", "|", "'", '"', "%s%n%x",
             "../../etc/passwd", "\u00e9t\u00e9", "\U0001f600", "null"]
    out = []
    while len(out) < n:
        kind = rng.randrange(8)
        base = rng.choice(valid).encode()
        if kind == 0:       # random bytes
            data = bytes(rng.randrange(256)
                         for _ in range(rng.randrange(1, 200)))
        elif kind == 1:     # a valid command and a stray word
            w = rng.choice(words + ["".join(rng.choice("abcdefghij")
                                            for _ in range(5))])
            data = base + b" " + w.encode()
        elif kind == 2:     # the verb misspelled
            b = bytearray(base)
            i = rng.randrange(0, base.find(b" ") if b" " in base
                              else len(base))
            b[i] = rng.randrange(33, 127)
            data = bytes(b)
        elif kind == 3:     # a control character inside
            i = rng.randrange(1, len(base))
            c = rng.choice([0, 1, 7, 8, 11, 12, 13, 27, 127])
            data = base[:i] + bytes([c]) + base[i:]
        elif kind == 4:     # bad option values
            data = rng.choice([
                b"archive jobs=%d" % rng.choice([0, 65, -1, 99999999999]),
                b"archive jobs=" + os.urandom(3).hex().encode(),
                b"archive window=%02d:%02d-%02d:%02d" % (
                    rng.randrange(24, 99), rng.randrange(100),
                    rng.randrange(100), rng.randrange(100)),
                b"restore target=id:" + rng.choice([b"", b"x", b"1x"]),
                b"restore jobs=2", b"purge source " + rng.choice(
                    [b"now", b"", b"confirm confirm", b"PREVIEW"]),
                b"%s=%s" % (rng.choice([b"jobs", b"window", b"x"]),
                            rng.choice([b"1", b""])),
            ])
        elif kind == 5:     # too long
            data = base + b" " * rng.randrange(CONTROL_MAX, 3000)
        elif kind == 6:     # two lines, or several commands
            data = base + rng.choice([b"\n", b"\r\n", b";"]) + \
                   rng.choice(valid).encode()
        else:               # random words only
            data = " ".join(rng.choice(words) for _ in
                            range(rng.randrange(1, 12))).encode()
        if rng.random() < 0.5:
            data += b"\n"
        if control_valid(data):
            continue
        out.append(data)
    return out


def test_fuzz_control_writes(store, mounted):
    m = mounted
    rng = random.Random(20261126)
    inputs = fuzz_inputs(rng, 1000)
    ctl = m.path(SESSION, "control")
    t0 = time.monotonic()
    fd = os.open(ctl, os.O_WRONLY | os.O_TRUNC)
    try:
        for i, data in enumerate(inputs):
            try:
                os.write(fd, data)
            except OSError as e:
                assert e.errno == errno.EINVAL, (i, data, e)
            else:
                raise AssertionError(f"write {i} accepted: {data!r}")
            if i % 100 == 0:
                assert children(m.pid) == [], (i, data)
    finally:
        os.close(fd)
    elapsed = time.monotonic() - t0
    assert elapsed < 20, f"1000 control writes took {elapsed:.1f}s"
    assert m.alive(), m.log()
    assert children(m.pid) == []
    # the index keeps the latest refusals only, the log a bounded number
    runs = store.runs()
    assert len(runs) == REFUSED_KEPT
    assert all(r[1] == "refused" for r in runs)
    assert read_all(m.path(SESSION, "status")).decode() == store.cli(
        "status", SESSION).stdout
    assert read_status(m)["state"] == "idle"
    log = read_all(m.path(SESSION, "log")).decode()
    logged = log.count(" refused: ")
    assert REFUSALS_LOGGED <= logged <= REFUSALS_LOGGED * (
        int(elapsed // 60) + 1), logged
    untold = re.findall(r" (\d+) more refused control writes not logged",
                        log)
    assert logged + sum(map(int, untold)) == len(inputs), (logged, untold)
    assert all(len(l) < 2048 for l in log.splitlines())
    # and the mount still works
    assert write_control(ctl, "index\n") == 0
    parse_status_until(m, lambda st: st["state"] == "finished")


# ------------------------------------------------------------ access
def as_nobody(code):
    """Runs python code as nobody (uid/gid 65534, no groups)."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv missing (util-linux)")
    if os.getuid() != 0:
        pytest.skip("needs root to switch to nobody")
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                           "--clear-groups", "/usr/bin/python3", "-c", code],
                          capture_output=True, text=True, timeout=30)


NOBODY_PROBE = r"""
import errno, os, sys
mnt = sys.argv[1] if len(sys.argv) > 1 else %r
out = []
def probe(what, f):
    try:
        f()
        out.append(what + "=ok")
    except OSError as e:
        out.append(what + "=" + errno.errorcode[e.errno])
probe("stat", lambda: os.stat(mnt + "/2025-2026/status"))
probe("status", lambda: open(mnt + "/2025-2026/status").read())
probe("backup", lambda: open(mnt + "/2025-2026/Top.mbz", "rb").read())
probe("ls", lambda: os.listdir(mnt + "/2025-2026"))
probe("write", lambda: os.close(os.open(mnt + "/2025-2026/control",
                                        os.O_WRONLY | os.O_TRUNC)))
probe("readctl", lambda: open(mnt + "/2025-2026/control").read())
print(" ".join(out))
"""


@pytest.fixture
def open_dir():
    """A folder every user can traverse (tmp_path is root's only)."""
    d = tempfile.mkdtemp(prefix="sa-mount-")
    os.chmod(d, 0o755)
    yield d
    for name in os.listdir(d):
        p = os.path.join(d, name)
        if os.path.ismount(p):
            unmount(p)
    shutil.rmtree(d, ignore_errors=True)


def test_allow_other_reads_but_not_control(store, fuse_mount, open_dir):
    need_fuse()
    from harness.fusemount import Mount
    private = Mount(store.root, os.path.join(open_dir, "private"),
                    store.index, ["rescan=0"]).start()
    try:
        proc = as_nobody(NOBODY_PROBE % private.mountpoint)
        assert proc.returncode == 0, proc.stderr
        # the mount is private: other users do not even see it
        assert "stat=EACCES" in proc.stdout and "ls=EACCES" in proc.stdout
    finally:
        assert private.stop() == 0
        assert "Sanitizer" not in private.log()

    shared = Mount(store.root, os.path.join(open_dir, "shared"),
                   store.index, ["rescan=0", "allow_other"]).start()
    try:
        proc = as_nobody(NOBODY_PROBE % shared.mountpoint)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == [
            "stat=ok", "status=ok", "backup=ok", "ls=ok", "write=EACCES",
            "readctl=EACCES"]
        # root, the owner, still writes it
        assert write_control(os.path.join(shared.mountpoint, SESSION,
                                          "control"), "bogus\n") == \
            errno.EINVAL
        assert store.non_refused_runs() == []
    finally:
        assert shared.stop() == 0
        assert "Sanitizer" not in shared.log()


# ------------------------------------------------------------ mounting
def run_fs(*args, env=None, timeout=30):
    return subprocess.run([str(FSBIN), *map(str, args)],
                          capture_output=True, text=True,
                          env=fs_env(env), timeout=timeout)


def test_mount_errors(store, tmp_path, mounted):
    mnt = tmp_path / "m2"
    mnt.mkdir()
    idx = f"index={store.index}"
    # not a store
    proc = run_fs(tmp_path, mnt, "-o", idx)
    assert proc.returncode == EXIT_NOSTORE, proc.stderr
    assert f"'{tmp_path}' is not a sessionarchiver store" in proc.stderr
    proc = run_fs(tmp_path / "nowhere", mnt, "-o", idx)
    assert proc.returncode == EXIT_NOSTORE, proc.stderr
    assert "nowhere" in proc.stderr
    # missing mountpoint, not a folder, already mounted
    proc = run_fs(store.root, tmp_path / "missing", "-o", idx)
    assert proc.returncode == EXIT_MOUNTPOINT, proc.stderr
    assert (f"mountpoint '{tmp_path / 'missing'}': No such file or "
            f"directory") in proc.stderr
    (tmp_path / "afile").write_text("")
    proc = run_fs(store.root, tmp_path / "afile", "-o", idx)
    assert proc.returncode == EXIT_MOUNTPOINT, proc.stderr
    assert "Not a directory" in proc.stderr
    proc = run_fs(store.root, mounted.mountpoint, "-o", idx)
    assert proc.returncode == EXIT_MOUNTPOINT, proc.stderr
    assert (f"mountpoint '{mounted.mountpoint}' is busy: something is "
            f"mounted there already") in proc.stderr
    assert mounted.alive() and os.listdir(mounted.path(SESSION))
    # usage, help, version
    proc = run_fs(store.root)
    assert proc.returncode == EXIT_USAGE and "usage:" in proc.stderr
    proc = run_fs(store.root, mnt, "-o", "bogus_option_xyz", "-o", idx)
    assert proc.returncode != 0
    assert not os.path.ismount(mnt)
    for flag in ("-h", "--help"):
        proc = run_fs(flag)
        assert proc.returncode == 0
        assert proc.stdout.startswith("usage: sessionarchiverfs")
    proc = run_fs("--version")
    assert proc.returncode == 0 and "libfuse 3." in proc.stdout
    assert not os.path.ismount(mnt)
    assert daemon_pids(mnt) == []


def check_daemon_mount(store, mnt, fuse_mount):
    """The mount is there and answers at once; then unmount it and check
    that no daemon stays behind."""
    fuse_mount.track(mnt, store.root)
    assert os.path.ismount(mnt)
    assert sorted(os.listdir(mnt)) == [SESSION, "status", "status.json"]
    assert "Top.mbz" in os.listdir(os.path.join(mnt, SESSION))
    assert filecmp.cmp(os.path.join(mnt, SESSION, "Top.mbz"),
                       store.sess / "Top.mbz", shallow=False)
    pids = daemon_pids(mnt)
    assert len(pids) == 1, pids
    with open(os.path.join(mnt, SESSION, "status")) as f:
        assert "state: idle" in f.read()
    assert unmount(mnt) == []
    assert not os.path.ismount(mnt)


def test_daemonised_mount_is_ready_on_return(store, tmp_path, fuse_mount):
    need_fuse()
    mnt = tmp_path / "bg"
    mnt.mkdir()
    fuse_mount.track(mnt, store.root)
    proc = run_fs(store.root, mnt, "-o", f"index={store.index}")
    assert proc.returncode == 0, proc.stderr
    # no wait: the command returned once the kernel had the mount
    check_daemon_mount(store, mnt, fuse_mount)


def need_mount_helper():
    need_fuse()
    if os.getuid() != 0:
        pytest.skip("mount(8) with a FUSE type needs root")
    if not os.path.exists("/sbin/mount.fuse3"):
        pytest.skip("mount.fuse3 missing (Debian package fuse3)")
    for tool in ("unshare", "nsenter"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} missing (util-linux)")


def mount_via_helper(store, tmp_path, mnt, mount_cmd):
    """Runs mount_cmd (mount -t fuse.sessionarchiverfs, or mount -T
    fstab) so that mount.fuse3 runs `sessionarchiverfs` from PATH, then
    checks the mount and unmounts it.

    mount(8) drops PATH from the helper's environment, so a directory put
    first on PATH is not enough: mount.fuse3's shell searches the default
    PATH. The test therefore runs in a private mount namespace whose
    /usr/local/sbin holds a symlink to the build's sessionarchiverfs;
    nothing changes outside it."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sessionarchiverfs").symlink_to(FSBIN)
    q = shlex.quote
    top = f"{mnt}/{SESSION}/Top.mbz"
    script = "\n".join([
        "set -e",
        f"mount --bind {q(str(bindir))} /usr/local/sbin",
        " ".join(q(str(a)) for a in mount_cmd),
        # answered at once, and of the right type
        f"ls {q(str(mnt))}",
        f"awk '$5 == \"{mnt}\" {{ for (i = 7; i < NF; i++) "
        f"if ($i == \"-\") {{ print \"type:\", $(i + 1); break }} }}' "
        f"/proc/self/mountinfo",
        f"cat {q(str(mnt))}/{SESSION}/status",
        f"cmp {q(top)} {q(str(store.sess / 'Top.mbz'))}",
        f"fusermount3 -u {q(str(mnt))}",
        "echo unmounted",
    ])
    env = sanitizer_env({"PATH": f"{bindir}:{os.environ['PATH']}"})
    try:
        proc = subprocess.run(["unshare", "-m", "--propagation", "private",
                               "sh", "-c", script], capture_output=True,
                              text=True, env=env, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        lines = proc.stdout.splitlines()
        assert lines[:3] == [SESSION, "status", "status.json"], lines
        assert "type: fuse.sessionarchiverfs" in lines
        assert "state: idle" in lines
        assert lines[-1] == "unmounted"
        wait_for(lambda: daemon_pids(mnt) == [], timeout=10,
                 what="the daemon to exit after fusermount3 -u")
    finally:
        # a failed check leaves the mount in the namespace its daemon
        # keeps alive: unmount it there
        for pid in daemon_pids(mnt):
            subprocess.run(["nsenter", "-t", str(pid), "-m", "fusermount3",
                            "-u", "-z", str(mnt)], capture_output=True)
        left = unmount(mnt)
        for pid in left:
            os.kill(pid, 9)
        assert not left, f"daemon {left} still running"
    assert not is_mounted(mnt)


def test_mount_t_fuse_type(store, tmp_path):
    need_mount_helper()
    mnt = tmp_path / "viamount"
    mnt.mkdir()
    mount_via_helper(store, tmp_path, mnt, [
        "mount", "-t", "fuse.sessionarchiverfs", store.root, mnt, "-o",
        f"index={store.index},rescan=0"])


def test_mount_from_fstab(store, tmp_path):
    need_mount_helper()
    mnt = tmp_path / "viafstab"
    mnt.mkdir()
    fstab = tmp_path / "fstab"
    fstab.write_text(f"# a private fstab\n{store.root} {mnt} "
                     f"fuse.sessionarchiverfs "
                     f"noauto,index={store.index},rescan=0 0 0\n")
    mount_via_helper(store, tmp_path, mnt, ["mount", "-T", fstab, mnt])


def test_cli_mount_shortcut(store, tmp_path, fuse_mount):
    need_fuse()
    # with --store and --index
    mnt = tmp_path / "viacli"
    mnt.mkdir()
    fuse_mount.track(mnt, store.root)
    proc = store.cli("mount", mnt, check=None)
    assert proc.returncode == 0, proc.stderr
    check_daemon_mount(store, mnt, fuse_mount)
    # with a configuration naming the store and the index
    conf = tmp_path / "sa.conf"
    conf.write_text(f"[store]\npath = {store.root}\nindex = {store.index}\n")
    conf.chmod(0o600)
    proc = run_cli("--config", conf, "mount", "-o", "rescan=0", mnt)
    assert proc.returncode == 0, proc.stderr
    check_daemon_mount(store, mnt, fuse_mount)
    # its errors are sessionarchiverfs's
    proc = run_cli("--config", conf, "mount", tmp_path / "missing")
    assert proc.returncode == EXIT_MOUNTPOINT, proc.stderr
    assert "mountpoint" in proc.stderr


def test_clean_unmount_of_a_foreground_mount(store, mounted):
    """fusermount3 -u: the -f daemon exits 0 by itself, without a
    sanitizer report (checked by the harness), after doing some work."""
    m = mounted
    assert write_control(m.path(SESSION, "control"), "index\n") == 0
    parse_status_until(m, lambda st: st["state"] == "finished")
    wait_for(lambda: children(m.pid) == [], what="the child to end")
    open(m.path(SESSION, "Top.mbz"), "rb").read()
    pid = m.pid
    assert m.stop() == 0
    assert not os.path.ismount(m.mountpoint)
    assert daemon_pids(m.mountpoint) == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not any(s in m.log() for s in ("Sanitizer", "runtime error"))
