"""The index through the command line: `index` (incremental and --rebuild),
`list`, `status` and `check` on stores built here, on the real Moodle
backups and on backups made by the fake site's backup.php. The C code runs
as built in SA_BUILD (the ASan build under `make test`), so a crash or a
leak on hostile input fails the test that fed it.

Run: make SAN=1 -j2 all unit-tests && \
     SA_BUILD=build/asan /usr/bin/python3 -m pytest -q tests/integration/test_index.py
"""
import hashlib
import json
import os
import pathlib
import shutil
import socket
import sqlite3
import subprocess
import time

import pytest

from harness.backups import backup_xml, make_tgz
from harness.build import real_fixtures, run_cli

EXIT_FAILURE, EXIT_USAGE, EXIT_NOSTORE = 1, 2, 7
SESSION = "2025-2026"
MIB = 1024 * 1024


# ------------------------------------------------------------------ helpers
def course_xml(cid, shortname, fullname):
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<course id="{cid}" contextid="{cid + 1000}">\n'
            f"  <shortname>{shortname}</shortname>\n"
            f"  <fullname>{fullname}</fullname>\n"
            f"  <startdate>1700000000</startdate>\n"
            f"</course>\n").encode()


def make_mbz(path, cid, shortname=None, fullname=None, blob=None, level=6):
    """A small but complete Moodle backup of course cid."""
    shortname = shortname or f"C{cid}"
    fullname = fullname or f"Course {cid}"
    blob = blob if blob is not None else f"content of {cid} ".encode() * 50
    return make_tgz(path, [
        (".ARCHIVE_INDEX", b"Moodle archive file index. Count: 3\n"),
        ("course/course.xml", course_xml(cid, shortname, fullname)),
        ("files/aa/aabbcc", blob),
        ("moodle_backup.xml", backup_xml(cid, shortname, fullname)),
        ("moodle_backup.log", b""),
    ], level=level)


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def manifest_line(sess, rel, cid, sha=None, shortname=None):
    entry = {"v": 1, "time": 1795676950, "source_course_id": cid,
             "file": rel, "sha256": sha or sha256(sess / rel),
             "size": (sess / rel).stat().st_size if (sess / rel).exists()
             else 0, "shortname": shortname or f"C{cid}",
             "fullname": f"Course {cid}"}
    return json.dumps(entry) + "\n"


def append(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(text)


class Store:
    """A store made by `init`, one session, and an index in tmp_path."""

    def __init__(self, tmp_path):
        self.root = tmp_path / "store"
        run_cli("init", "--store", self.root, check=0)
        self.sess = self.root / SESSION
        self.meta = self.sess / ".session"
        self.meta.mkdir(parents=True)
        self.index = tmp_path / "index.db"

    def cli(self, *args, check=None, **kw):
        return run_cli("--store", self.root, "--index", self.index, *args,
                       check=check, **kw)

    def reindex(self, *args):
        return self.cli("index", "-q", *args, check=0)

    def courses(self):
        out = self.cli("list", "--json", SESSION, check=0).stdout
        return {c["file"]: c for c in json.loads(out)}

    def status(self):
        out = self.cli("status", "--json", SESSION, check=0).stdout
        return json.loads(out)

    @property
    def manifest(self):
        return self.meta / "manifest.jsonl"

    def journal(self, site="abc"):
        return self.meta / f"journal-{site}.jsonl"


@pytest.fixture
def store(built, tmp_path):
    return Store(tmp_path)


def store_id(root):
    ini = (root / ".sessionarchiver" / "store.ini").read_text()
    return [l.split(" = ")[1] for l in ini.splitlines()
            if l.startswith("id = ")][0]


# ------------------------------------------------------------------ index
def test_incremental_new_changed_vanished(store):
    a = make_mbz(store.sess / "Sciences" / "Maths" / "A.mbz", 11)
    make_mbz(store.sess / "B.mbz", 12, level=0)
    out = store.cli("index", check=0).stderr
    assert "2 backups, 2 read" in out
    c = store.courses()
    assert set(c) == {"Sciences/Maths/A.mbz", "B.mbz"}
    assert c["Sciences/Maths/A.mbz"]["sha256"] == sha256(a)
    assert c["Sciences/Maths/A.mbz"]["size"] == a.stat().st_size
    assert c["Sciences/Maths/A.mbz"]["source_course_id"] == 11
    assert c["B.mbz"]["state"] == "archived"

    # nothing changed: nothing read
    assert "2 backups, 0 read" in store.cli("index", check=0).stderr
    # a new file
    make_mbz(store.sess / "C.mbz", 13)
    assert "3 backups, 1 read" in store.cli("index", check=0).stderr
    # size changes
    make_mbz(a, 11, blob=b"longer content " * 500)
    assert "3 backups, 1 read" in store.cli("index", check=0).stderr
    assert store.courses()["Sciences/Maths/A.mbz"]["sha256"] == sha256(a)
    # only the mtime changes
    st = a.stat()
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert "3 backups, 1 read" in store.cli("index", check=0).stderr
    # only the inode changes (same size and mtime: replaced by rename)
    b = store.sess / "B.mbz"
    st = b.stat()
    make_mbz(store.sess / "B.mbz.new", 14, level=0)  # only cid differs
    os.utime(store.sess / "B.mbz.new", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (store.sess / "B.mbz.new").stat().st_size == st.st_size
    os.rename(store.sess / "B.mbz.new", b)
    assert b.stat().st_ino != st.st_ino
    assert "3 backups, 1 read" in store.cli("index", check=0).stderr
    assert store.courses()["B.mbz"]["source_course_id"] == 14
    # a vanished file (not in any manifest) leaves the index
    os.unlink(store.sess / "C.mbz")
    assert "1 gone" in store.cli("index", check=0).stderr
    assert set(store.courses()) == {"Sciences/Maths/A.mbz", "B.mbz"}


def test_new_manifest_and_journal_lines(store):
    make_mbz(store.sess / "A.mbz", 21)
    make_mbz(store.sess / "B.mbz", 22)
    append(store.manifest, manifest_line(store.sess, "A.mbz", 21))
    store.reindex()
    c = store.courses()
    assert c["A.mbz"]["in_manifest"] == 1 and c["B.mbz"]["in_manifest"] == 0
    append(store.manifest, manifest_line(store.sess, "B.mbz", 22))
    append(store.journal(), json.dumps(
        {"v": 1, "time": 100, "event": "restore", "source_course_id": 22,
         "archive_course_id": 122}) + "\n")
    out = store.cli("index", check=0).stderr
    assert "2 journal lines" in out
    c = store.courses()
    assert c["B.mbz"]["in_manifest"] == 1
    assert c["B.mbz"]["state"] == "restored"
    assert c["B.mbz"]["archive_course_id"] == 122
    assert "0 journal lines" in store.cli("index", check=0).stderr


def test_partial_line_waits_for_its_newline(store):
    make_mbz(store.sess / "A.mbz", 31)
    store.reindex()
    line = json.dumps({"v": 1, "time": 5, "event": "restore",
                       "source_course_id": 31, "archive_course_id": 131})
    append(store.journal(), line[:20])
    proc = store.cli("index", check=0)
    assert "skipped" not in proc.stderr
    assert store.courses()["A.mbz"]["state"] == "archived"
    append(store.journal(), line[20:])          # still no newline
    store.reindex()
    assert store.courses()["A.mbz"]["state"] == "archived"
    append(store.journal(), "\n")
    proc = store.cli("index", check=0)
    assert "skipped" not in proc.stderr and "1 journal lines" in proc.stderr
    assert store.courses()["A.mbz"]["state"] == "restored"


def test_garbage_lines_skipped_with_file_and_line(store):
    make_mbz(store.sess / "A.mbz", 41)
    make_mbz(store.sess / "B.mbz", 42)
    append(store.manifest, manifest_line(store.sess, "A.mbz", 41))
    append(store.manifest, '{"file": "x.mbz"}\n')          # not an entry
    append(store.manifest, "this is not json\n")
    append(store.manifest, '[1, 2]\n')
    append(store.manifest, '{"v":1,"source_course_id":9,"file":"../x.mbz",'
                           '"sha256":"00"}\n')
    append(store.manifest, "\x00\xff\n")
    append(store.manifest, manifest_line(store.sess, "B.mbz", 42))
    append(store.journal(), '{"v":1,"source_course_id":41}\n{oops\n')
    append(store.journal(), json.dumps({"event": "restore",
                                        "source_course_id": 41,
                                        "archive_course_id": 141}) + "\n")
    err = store.cli("index", check=0).stderr
    m = f"{SESSION}/.session/manifest.jsonl"
    j = f"{SESSION}/.session/journal-abc.jsonl"
    for where in (f"{m}:2: skipped", f"{m}:3: skipped, not a JSON object",
                  f"{m}:4: skipped", f"{m}:5: skipped", f"{m}:6: skipped",
                  f"{j}:1: skipped", f"{j}:2: skipped"):
        assert where in err, (where, err)
    assert f"{m}:1:" not in err and f"{m}:7:" not in err
    c = store.courses()
    assert c["A.mbz"]["state"] == "restored"
    assert c["B.mbz"]["in_manifest"] == 1
    assert set(c) == {"A.mbz", "B.mbz"}
    # skipped lines are not warned about again
    assert "skipped" not in store.cli("index", check=0).stderr


def test_manifest_replaced_by_shorter_one_is_reread(store):
    make_mbz(store.sess / "A.mbz", 51)
    make_mbz(store.sess / "B.mbz", 52)
    append(store.manifest, manifest_line(store.sess, "A.mbz", 51))
    append(store.manifest, manifest_line(store.sess, "B.mbz", 52))
    append(store.manifest, manifest_line(store.sess, "Gone.mbz", 53,
                                         sha="0" * 64))
    store.reindex()
    c = store.courses()
    assert c["Gone.mbz"]["state"] == "failed"
    assert c["Gone.mbz"]["error"] == "backup file missing from the store"
    # replaced (atomic rename) by a shorter one naming only B
    tmp = store.meta / ".manifest.jsonl.tmp"
    tmp.write_text(manifest_line(store.sess, "B.mbz", 52))
    os.rename(tmp, store.manifest)
    store.reindex()
    c = store.courses()
    assert c["A.mbz"]["in_manifest"] == 0 and c["B.mbz"]["in_manifest"] == 1
    assert "Gone.mbz" not in c, c.get("Gone.mbz")
    # truncated in place to nothing: every course leaves the manifest
    store.manifest.write_text("")
    store.reindex()
    assert all(v["in_manifest"] == 0 for v in store.courses().values())
    # and the result is what a rebuild from the store gives
    before = store.cli("list", "--json", SESSION, check=0).stdout
    store.reindex("--rebuild")
    assert store.cli("list", "--json", SESSION, check=0).stdout == before


def test_journal_replaced_forgets_its_events(store):
    make_mbz(store.sess / "A.mbz", 55)
    append(store.journal(), json.dumps({"event": "restore",
                                        "source_course_id": 55,
                                        "archive_course_id": 9}) + "\n")
    store.reindex()
    assert store.courses()["A.mbz"]["state"] == "restored"
    store.journal().unlink()
    append(store.journal(), "\n")      # a new, empty journal
    store.reindex()
    assert store.courses()["A.mbz"]["state"] == "archived"


def build_varied_session(store):
    """Every state at once: archived, restored, purged, failed (unreadable,
    checksum, missing, restore_failed), plus two files no line names
    (unknown)."""
    s = store.sess
    for cid, rel in ((61, "Sciences/Maths/M1.mbz"), (62, "Sciences/P1.mbz"),
                     (63, "Lettres/L1.mbz"), (64, "Lettres/L2.mbz"),
                     (65, "Arts/A1.mbz"), (66, "Arts/A2.mbz")):
        make_mbz(s / rel, cid)
        append(store.manifest, manifest_line(s, rel, cid))
    append(store.manifest, manifest_line(s, "Gone/G1.mbz", 67, sha="1" * 64))
    make_mbz(s / "Arts/A3.mbz", 68)
    append(store.manifest, manifest_line(s, "Arts/A3.mbz", 68, sha="2" * 64))
    (s / "Arts/Bad.mbz").write_text("plain text, not a backup\n")
    make_mbz(s / "Unlisted.mbz", 69)
    ev = [
        {"time": 10, "event": "restore", "source_course_id": 62,
         "archive_course_id": 162},
        {"time": 11, "event": "restore", "source_course_id": 63,
         "archive_course_id": 163},
        {"time": 12, "event": "purge", "source_course_id": 63},
        {"time": 13, "event": "purge", "source_course_id": 64,
         "dry_run": True},
        {"time": 14, "event": "restore_failed", "source_course_id": 65,
         "error": "error/setting_invalid_text"},
        {"time": 15, "event": "restore_failed", "source_course_id": 66,
         "error": "first try failed"},
        {"time": 16, "event": "restore", "source_course_id": 66,
         "archive_course_id": 166},
    ]
    for e in ev:
        append(store.journal("abc"), json.dumps({"v": 1, **e}) + "\n")
    append(store.journal("def"), json.dumps(
        {"v": 1, "time": 17, "event": "verify", "source_course_id": 61,
         "result": "ok"}) + "\n")


def test_course_states(store):
    build_varied_session(store)
    store.reindex()
    c = store.courses()
    want = {
        "Sciences/Maths/M1.mbz": ("verified", None),
        "Sciences/P1.mbz": ("restored", None),
        "Lettres/L1.mbz": ("purged", None),
        "Lettres/L2.mbz": ("archived", None),
        "Arts/A1.mbz": ("failed", "error/setting_invalid_text"),
        "Arts/A2.mbz": ("restored", None),
        "Gone/G1.mbz": ("failed", "backup file missing from the store"),
        "Arts/A3.mbz": ("failed", "checksum mismatch: the file differs "
                                  "from the manifest"),
        "Unlisted.mbz": ("unknown", "named by no manifest or journal line:"
                                    " not a course of this session"),
    }
    for f, (state, error) in want.items():
        assert (c[f]["state"], c[f]["error"]) == (state, error), (f, c[f])
    # in no manifest or journal line either: unknown, its read error kept
    bad = c["Arts/Bad.mbz"]
    assert bad["state"] == "unknown" and "not a Moodle backup" in bad["error"]
    assert c["Sciences/P1.mbz"]["archive_course_id"] == 162
    for f, v in c.items():
        for key in ("file", "size", "sha256", "source_course_id",
                    "shortname", "fullname", "state", "error"):
            assert key in v, (f, key)
        if f not in ("Gone/G1.mbz", "Arts/Bad.mbz"):
            assert v["sha256"] == sha256(store.sess / f)
            assert v["size"] == (store.sess / f).stat().st_size
            assert v["shortname"] == f"C{v['source_course_id']}"
            assert v["fullname"] == f"Course {v['source_course_id']}"

    # a later restore_failed fails a restored course, a later restore
    # brings it back
    append(store.journal(), json.dumps(
        {"time": 20, "event": "restore_failed", "source_course_id": 62,
         "error": "timeout"}) + "\n")
    store.reindex()
    assert (store.courses()["Sciences/P1.mbz"]["state"],
            store.courses()["Sciences/P1.mbz"]["error"]) == ("failed",
                                                             "timeout")
    append(store.journal(), json.dumps(
        {"time": 21, "event": "restore", "source_course_id": 62,
         "archive_course_id": 262}) + "\n")
    store.reindex()
    p1 = store.courses()["Sciences/P1.mbz"]
    assert (p1["state"], p1["error"], p1["archive_course_id"]) == (
        "restored", None, 262)

    # list in text: one line per course, errors shown
    text = store.cli("list", SESSION, check=0).stdout.splitlines()
    assert len(text) == len(c)
    assert any("Gone/G1.mbz" in l and "backup file missing" in l
               for l in text)


def test_rebuild_from_the_store_alone(store, tmp_path):
    build_varied_session(store)
    store.reindex()
    # history: a file that rots after it was indexed, one that vanishes
    make_mbz(store.sess / "Rot.mbz", 70)
    append(store.manifest, manifest_line(store.sess, "Rot.mbz", 70))
    store.reindex()
    data = bytearray((store.sess / "Rot.mbz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (store.sess / "Rot.mbz").write_bytes(data)
    os.unlink(store.sess / "Unlisted.mbz")
    store.reindex()
    assert store.courses()["Rot.mbz"]["state"] == "failed"
    before = store.cli("list", "--json", SESSION, check=0).stdout
    status_before = store.status()

    # delete the index file and rebuild
    for suffix in ("", "-wal", "-shm"):
        pathlib.Path(str(store.index) + suffix).unlink(missing_ok=True)
    store.reindex("--rebuild")
    assert store.cli("list", "--json", SESSION, check=0).stdout == before
    # in place
    store.reindex("--rebuild")
    assert store.cli("list", "--json", SESSION, check=0).stdout == before
    assert store.status()["courses"] == status_before["courses"]
    # --rebuild is for the whole store
    proc = store.cli("index", "--rebuild", SESSION, check=EXIT_USAGE)
    assert "whole store" in proc.stderr


def test_deeply_nested_folders_do_not_stop_the_scan(store):
    make_mbz(store.sess / "A.mbz", 71)
    deep = store.sess.joinpath(*[f"d{i}" for i in range(40)])
    deep.mkdir(parents=True)
    make_mbz(deep / "Deep.mbz", 72)
    proc = store.cli("index", check=0)
    assert "nested deeper" in proc.stderr
    assert "A.mbz" in store.courses()


# ------------------------------------------------------------------ status
def insert_run(index, pid, state="running", **kw):
    db = sqlite3.connect(index)
    sid = db.execute("SELECT id FROM sessions WHERE name = ?",
                     (SESSION,)).fetchone()[0]
    now = int(time.time())
    row = dict(session_id=sid, operation="archive", state=state, pid=pid,
               host=socket.gethostname(), started=now - 60, updated=now,
               done=3, failed=1, total=10, last_error="boom on C7")
    row.update(kw)
    db.execute("DELETE FROM runs")
    db.execute(f"INSERT INTO runs({','.join(row)}) VALUES "
               f"({','.join('?' * len(row))})", tuple(row.values()))
    db.commit()
    db.close()


def test_status_counts_and_runs(store):
    build_varied_session(store)
    store.reindex()
    st = store.status()
    assert st["session"] == SESSION
    # the two files no line names are none of the session's courses
    assert st["courses"] == {"pending": 0, "archived": 1, "restored": 2,
                             "verified": 1, "purged": 1, "failed": 3,
                             "unknown": 2}
    assert st["courses_total"] == 8
    sizes = sum(v["size"] or 0 for v in store.courses().values())
    assert st["bytes_stored"] == sizes
    assert st["state"] == "idle" and st["pid"] is None
    assert st["done"] + st["failed"] + st["remaining"] == st["total"]
    assert st["remaining"] == st["courses"]["pending"]

    whole = json.loads(store.cli("status", "--json", check=0).stdout)
    assert whole["running"] is False
    assert [s["session"] for s in whole["sessions"]] == [SESSION]

    # a run whose process is alive on this host: running, with its pid
    insert_run(store.index, os.getpid())
    st = store.status()
    assert (st["state"], st["pid"], st["operation"]) == (
        "running", os.getpid(), "archive")
    assert (st["done"], st["failed"], st["total"], st["remaining"]) == (
        3, 1, 10, 6)
    assert st["last_error"] == "boom on C7"
    whole = json.loads(store.cli("status", "--json", check=0).stdout)
    assert whole["running"] is True
    text = store.cli("status", check=0).stdout
    assert "running: yes" in text
    assert f"archive running (pid {os.getpid()})" in text
    assert "last error: boom on C7" in text
    detail = store.cli("status", SESSION, check=0).stdout
    assert f"pid: {os.getpid()}\n" in detail and "state: running\n" in detail

    # the same row with a dead pid: interrupted, not running
    child = subprocess.Popen(["true"])
    child.wait()
    insert_run(store.index, child.pid)
    st = store.status()
    assert st["state"] == "interrupted" and st["pid"] is None
    whole = json.loads(store.cli("status", "--json", check=0).stdout)
    assert whole["running"] is False
    text = store.cli("status", check=0).stdout
    assert "running: no" in text and "archive interrupted" in text
    # a live pid on another host is not ours to call running
    insert_run(store.index, os.getpid(), host="elsewhere.invalid")
    assert store.status()["state"] == "interrupted"

    # unknown session
    proc = store.cli("status", "nope", check=EXIT_FAILURE)
    assert "no session 'nope'" in proc.stderr
    proc = store.cli("list", "nope", check=EXIT_FAILURE)
    assert "no session 'nope'" in proc.stderr


# ------------------------------------------------------------------ check
def test_check_clean_session_exits_0(store):
    for cid in (81, 82):
        make_mbz(store.sess / f"C{cid}.mbz", cid)
        append(store.manifest, manifest_line(store.sess, f"C{cid}.mbz", cid))
    out = store.cli("check", "--json", check=0).stdout
    rep = json.loads(out)
    assert rep["ok"] is True and rep["checked"] == 2 and rep["good"] == 2
    assert rep["problems"] == []
    assert "OK:" in store.cli("check", SESSION, check=0).stdout
    # a session without a manifest has no unknown files
    make_mbz(store.root / "other" / "X.mbz", 83)
    store.cli("check", "other", check=0)


def test_check_finds_every_kind_of_problem(store):
    s = store.sess
    for cid, rel in ((91, "Good.mbz"), (92, "Flip.mbz"), (93, "Short.mbz"),
                     (94, "Differs.mbz"), (95, "Gone.mbz")):
        # stored (not deflated) so that a flipped byte is a CRC error
        make_mbz(s / rel, cid, blob=b"MARKER" + bytes(range(256)) * 20,
                 level=0)
        append(store.manifest, manifest_line(s, rel, cid))
    make_mbz(s / "Unknown.mbz", 96)
    store.reindex()
    # bit rot after indexing: size and mtime unchanged
    flip = s / "Flip.mbz"
    st = flip.stat()
    data = bytearray(flip.read_bytes())
    data[data.index(b"MARKER") + 100] ^= 0x04
    flip.write_bytes(data)
    os.utime(flip, ns=(st.st_atime_ns, st.st_mtime_ns))
    short = s / "Short.mbz"
    short.write_bytes(short.read_bytes()[:short.stat().st_size // 2])
    make_mbz(s / "Differs.mbz", 94, blob=b"another content")
    os.unlink(s / "Gone.mbz")

    proc = store.cli("check", "--json", check=EXIT_FAILURE)
    rep = json.loads(proc.stdout)
    assert rep["ok"] is False
    got = {p["file"]: p["problem"] for p in rep["problems"]}
    assert got == {"Flip.mbz": "corrupted", "Short.mbz": "truncated",
                   "Differs.mbz": "corrupted", "Gone.mbz": "missing",
                   "Unknown.mbz": "unknown"}, rep["problems"]
    flip_detail = [p["detail"] for p in rep["problems"]
                   if p["file"] == "Flip.mbz"][0]
    assert "CRC" in flip_detail
    assert all(p["session"] == SESSION for p in rep["problems"])
    text = store.cli("check", check=EXIT_FAILURE).stdout
    assert f"missing\t{SESSION}/Gone.mbz\t" in text
    assert text.splitlines()[-1].startswith("FAIL:")
    # a bit flip inside the deflated stream of a real-shaped backup
    real = make_mbz(s / "Deflated.mbz", 97, blob=os.urandom(4000))
    append(store.manifest, manifest_line(s, "Deflated.mbz", 97))
    data = bytearray(real.read_bytes())
    data[len(data) // 2] ^= 0x01
    real.write_bytes(data)
    rep = json.loads(store.cli("check", "--json", check=EXIT_FAILURE).stdout)
    got = {p["file"]: p["problem"] for p in rep["problems"]}
    assert got["Deflated.mbz"] == "corrupted", rep["problems"]


# ------------------------------------------------------------------ bad input
def test_bad_input_fails_per_file(store):
    s = store.sess
    good = make_mbz(s / "Good.mbz", 101)
    data = good.read_bytes()
    (s / "Truncated.mbz").write_bytes(data[:len(data) // 2])
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0x20
    (s / "Flipped.mbz").write_bytes(flipped)
    (s / "Empty.mbz").write_bytes(b"")
    (s / "Text.mbz").write_text("Hello, this is not a backup.\n" * 10)
    make_tgz(s / "NoBackupXml.mbz", [
        ("course/course.xml", course_xml(102, "NB", "No backup xml")),
        ("files/aa/aa", b"x" * 100)])
    # a zip bomb: moodle_backup.xml of more than 64 MiB of spaces
    pad = b" " * (64 * MIB + 1024)
    make_tgz(s / "Bomb.mbz", [
        ("course/course.xml", course_xml(103, "BOMB", "Bomb")),
        ("moodle_backup.xml", backup_xml(103, "BOMB", "Bomb", pad=pad))],
        level=9)
    del pad
    assert (s / "Bomb.mbz").stat().st_size < MIB
    make_mbz(s / "After.mbz", 104)
    proc = store.cli("index", "--threads", "2", check=0)
    assert "8 backups, 8 read (6 unreadable)" in proc.stderr, proc.stderr
    c = store.courses()
    assert c["Good.mbz"]["state"] == c["After.mbz"]["state"] == "archived"
    for f in ("Truncated.mbz", "Flipped.mbz", "Empty.mbz", "Text.mbz",
              "NoBackupXml.mbz", "Bomb.mbz"):
        assert c[f]["state"] == "failed", c[f]
        assert c[f]["error"], c[f]
        assert c[f]["sha256"] is None
    assert "empty" in c["Empty.mbz"]["error"]
    assert "not a Moodle backup" in c["Text.mbz"]["error"]
    assert "moodle_backup.xml" in c["NoBackupXml.mbz"]["error"]
    assert "larger than" in c["Bomb.mbz"]["error"]
    st = store.status()
    assert st["courses"]["failed"] == 6 and st["courses"]["archived"] == 2


# ------------------------------------------------------------------ options
def test_global_options_anywhere_and_default_index(store, tmp_path):
    make_mbz(store.sess / "A.mbz", 111)
    state = tmp_path / "xdg"
    env = {"XDG_STATE_HOME": str(state)}
    # no --index and no configuration file: the per-user state file
    run_cli("--store", store.root, "index", "-q", check=0, env=env)
    db = state / "sessionarchiver" / f"{store_id(store.root)}.db"
    assert db.is_file()
    out = run_cli("list", "--json", SESSION, "--store", store.root,
                  env=env, check=0).stdout
    assert [c["file"] for c in json.loads(out)] == ["A.mbz"]
    # -c/--config before or after the command (its [store] index is used)
    idx = tmp_path / "from-config.db"
    conf = tmp_path / "sa.conf"
    conf.write_text(f"[store]\nindex = {idx}\n")
    run_cli("-c", conf, "--store", store.root, "index", "-q", check=0,
            env=env)
    assert idx.is_file()
    out = run_cli("status", "--store", store.root, "--json", "--config",
                  conf, env=env, check=0).stdout
    assert json.loads(out)["sessions"][0]["session"] == SESSION
    # --index before and after the command
    idx = tmp_path / "elsewhere.db"
    run_cli("--index", idx, "index", "--store", store.root, "-q", check=0,
            env=env)
    out = run_cli("list", SESSION, "--store", store.root, "--index", idx,
                  env=env, check=0).stdout
    assert "A.mbz" in out
    assert not store.index.exists()


def test_exit_codes_for_stores_and_indexes(store, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    for cmd in ("index", "list", "status", "check"):
        args = [cmd, SESSION] if cmd == "list" else [cmd]
        proc = run_cli("--store", plain, *args, check=EXIT_NOSTORE)
        assert "not a sessionarchiver store" in proc.stderr
    ini = store.root / ".sessionarchiver" / "store.ini"
    good_ini = ini.read_text()
    ini.write_text(good_ini.replace("format = 1", "format = 3"))
    proc = store.cli("index", check=EXIT_NOSTORE)
    assert "format version 3" in proc.stderr and "up to 2" in proc.stderr
    ini.write_text(good_ini)

    make_mbz(store.sess / "A.mbz", 121)
    store.reindex()
    other = tmp_path / "other"
    run_cli("init", "--store", other, check=0)
    (other / SESSION).mkdir()
    for args in (["index"], ["check"], ["list", SESSION], ["status"]):
        proc = run_cli("--store", other, "--index", store.index, *args,
                       check=EXIT_FAILURE)
        assert "belongs to another store" in proc.stderr, (args, proc.stderr)
    # the index was left as it was
    assert "A.mbz" in store.courses()


def test_index_schema_newer_refused_untouched(store, tmp_path):
    newer = tmp_path / "newer.db"
    db = sqlite3.connect(newer)
    db.execute("CREATE TABLE x(y)")
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    before = newer.read_bytes()
    proc = run_cli("--store", store.root, "--index", newer, "index",
                   check=EXIT_FAILURE)
    assert "schema version 99" in proc.stderr and "up to 3" in proc.stderr
    assert newer.read_bytes() == before
    # an old one (version 0, some other table) is brought up to date
    old = tmp_path / "old.db"
    db = sqlite3.connect(old)
    db.execute("CREATE TABLE notes(text)")
    db.execute("INSERT INTO notes VALUES ('keep me')")
    db.commit()
    db.close()
    make_mbz(store.sess / "A.mbz", 131)
    run_cli("--store", store.root, "--index", old, "index", "-q", check=0)
    db = sqlite3.connect(old)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    assert db.execute("SELECT text FROM notes").fetchall() == [("keep me",)]
    assert db.execute("SELECT file FROM courses").fetchall() == [("A.mbz",)]
    db.close()


# ------------------------------------------------------------------ real backups
def test_real_fixtures_indexed(store):
    fixtures = real_fixtures()
    want = {2: "GEN-XS-1", 6: "PHY/CHIM-2024", 8: 'HIST "Moderne" & Géo',
            9: "VIDE-2024"}
    files = {}
    for f in fixtures:
        cid = int(f.name.split("-")[3])
        rel = f"Cat {cid}/{f.name}"
        (store.sess / f"Cat {cid}").mkdir()
        shutil.copy(f, store.sess / rel)
        files[rel] = (cid, sha256(f))
    store.reindex()
    c = store.courses()
    assert set(c) == set(files)
    for rel, (cid, digest) in files.items():
        assert c[rel]["source_course_id"] == cid
        assert c[rel]["shortname"] == want[cid]
        assert c[rel]["sha256"] == digest
        assert c[rel]["state"] == "archived", c[rel]
        append(store.manifest, manifest_line(store.sess, rel, cid,
                                             shortname=want[cid]))
    store.cli("check", check=0)


@pytest.fixture(scope="module")
def fake_site(mariadb, tmp_path_factory):
    if shutil.which("php") is None:
        pytest.skip("php-cli is not installed")
    from fakesite import FakeSite
    site = FakeSite.create(mariadb, tmp_path_factory.mktemp("fmidx"),
                           "fm_idx", wwwroot="http://localhost/idx")
    yield site
    site.destroy()


def test_fake_site_backups_indexed(store, fake_site, tmp_path):
    cat = fake_site.add_category("Sciences")
    courses = {}
    for short, full, files in (
            ("IDX-1", "Index un", [("a.txt", b"hello" * 100)]),
            ("IDX/2 é", "Index deux & co", [("b.bin", 3000)])):
        cid = fake_site.add_course(cat, short, full, files=files)
        courses[cid] = short
    dest = store.sess / "Sciences"
    dest.mkdir()
    for cid in courses:
        r = fake_site.php("backup.php", f"--courseid={cid}",
                          f"--destination={dest}")
        assert r.returncode == 0, r.stdout + r.stderr
    store.reindex()
    c = store.courses()
    assert len(c) == len(courses)
    for rel, v in c.items():
        assert rel.startswith("Sciences/backup-moodle2-course-")
        assert v["state"] == "archived", v
        assert courses[v["source_course_id"]] == v["shortname"]
        assert v["sha256"] == sha256(store.sess / rel)
