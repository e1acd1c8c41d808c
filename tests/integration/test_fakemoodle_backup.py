"""The fake site's admin/cli/backup.php: its output, .mbz files shaped like the
real backups of shared/fixtures/moodle-real, file names, and its faults.

Run: /usr/bin/python3 -m pytest -q tests/integration/test_fakemoodle_backup.py
"""

import gzip
import hashlib
import os
import re
import resource
import signal
import subprocess
import tarfile
import time
import xml.etree.ElementTree as ET

import pytest

from harness.fakesites import backup, needs_php_cli, only_mbz, plain_course, real_mbz, top_sequence
from harness.fakesites import _no_faults, sites_root, src  # noqa: F401 (fixtures)

pytestmark = needs_php_cli


# ------------------------------------------------------------------ backup.php
LINE1 = "== Performing backup... =="


def test_backup_output_and_archive(src, tmp_path):
    c = plain_course(src)
    dest = str(tmp_path / "out")
    r = backup(src, c["id"], dest)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == LINE1 and lines[2] == "Backup completed." and len(lines) == 3
    m = re.fullmatch(re.escape("Writing %s/backup-moodle2-course-%d-" % (dest, c["id"])) +
                     re.escape(c["shortname"].lower()) + r"-(\d{8}-\d{4})\.mbz", lines[1])
    assert m, lines[1]
    path = only_mbz(dest)
    assert lines[1] == "Writing " + path
    with open(path, "rb") as f:
        assert f.read(2) == b"\x1f\x8b"
    raw = gzip.open(path).read()
    assert len(raw) % 512 == 0 and raw[-1024:] == b"\0" * 1024
    assert raw[257:263] == b"ustar\0"
    with tarfile.open(path) as tf:
        names = tf.getnames()
        assert names[0] == ".ARCHIVE_INDEX" and names[-1] == "moodle_backup.log"
        assert tf.getmember("moodle_backup.log").size == 0
        idx = tf.extractfile(".ARCHIVE_INDEX").read().decode().splitlines()
        assert idx[0] == "Moodle archive file index. Count: %d" % (len(names) - 1)
        for line, mem in zip(idx[1:], tf.getmembers()[1:]):
            p, kind, size, mtime = line.split("\t")
            assert p.rstrip("/") == mem.name
            assert kind == ("d" if mem.isdir() else "f") and int(size) == mem.size
            assert mtime == ("?" if mem.isdir() else str(mem.mtime))
        for n in names:
            if n.endswith(".xml"):
                ET.fromstring(tf.extractfile(n).read())
        cx = ET.fromstring(tf.extractfile("course/course.xml").read())
        assert cx.get("id") == str(c["id"]) and cx.get("contextid") == str(src.context(50, c["id"])["id"])
        assert cx.findtext("shortname") == c["shortname"] and cx.findtext("fullname") == c["fullname"]
        for tag in ("idnumber", "startdate", "enddate", "visible", "format", "summary"):
            assert cx.find(tag) is not None
        # files/ holds each distinct content once: equals the DB estimate
        blobs = [m for m in tf.getmembers() if m.name.startswith("files/") and m.isfile()]
        assert sum(m.size for m in blobs) == src.course_estimate(c["id"]) == c["estimate"]
        assert len(blobs) == len({r["contenthash"] for r in src.course_files(c["id"])})
        for m in blobs:
            assert m.name == "files/%s/%s" % (m.name.split("/")[-1][:2], m.name.split("/")[-1])
            assert hashlib.sha1(tf.extractfile(m).read()).hexdigest() == m.name.split("/")[-1]
    # the zero-size row left in the course backup area
    bk = src.query("SELECT * FROM {files} WHERE component = 'backup' AND contextid = %s",
                   (src.context(50, c["id"])["id"],))
    assert bk and all(f["filesize"] == 0 and f["filename"] == "." for f in bk)


@pytest.mark.parametrize("fixture_id,kind", [(6, "files"), (9, "empty"), (2, "files")])
def test_member_order_matches_real(src, tmp_path, fixture_id, kind):
    real = real_mbz(fixture_id)
    with tarfile.open(real) as tf:
        real_seq = top_sequence(tf.getnames())
    cid = src.session["empty_course"] if kind == "empty" else src.session["tricky"]["slash"]
    r = backup(src, cid, tmp_path / "o")
    assert r.returncode == 0, r.stdout
    with tarfile.open(only_mbz(tmp_path / "o")) as tf:
        names = tf.getnames()
        ours = top_sequence(names)
        hdr = tf.getmembers()
    if fixture_id == 2:   # fixture 2 has activities and files, like ours: same top-level layout
        assert ours == real_seq
        return
    assert ours == real_seq
    if kind == "empty":
        with tarfile.open(real) as tf:
            assert len(tf.getnames()) == len(names)   # 38 members for an empty 4-section course
    # directory members and .ARCHIVE_INDEX dated 2013-01-01 as in the real ones
    for m in hdr:
        if m.isdir() or m.name == ".ARCHIVE_INDEX":
            assert m.mtime == 1356998400


def test_moodle_backup_xml_like_real(src, tmp_path):
    real = real_mbz(8)
    with tarfile.open(real) as tf:
        real_info = ET.fromstring(tf.extractfile("moodle_backup.xml").read()).find("information")
    html = src.session["tricky"]["html"]
    r = backup(src, html, tmp_path / "h")
    assert r.returncode == 0
    with tarfile.open(only_mbz(tmp_path / "h")) as tf:
        raw = tf.extractfile("moodle_backup.xml").read().decode()
        info = ET.fromstring(raw).find("information")
        course_raw = tf.extractfile("course/course.xml").read().decode()
    assert [e.tag for e in info] == [e.tag for e in real_info]
    assert info.findtext("original_site_identifier_hash") == hashlib.md5(src.siteidentifier.encode()).hexdigest()
    assert info.findtext("original_course_id") == str(html)
    assert info.findtext("original_course_contextid") == str(src.context(50, html)["id"])
    assert info.findtext("original_wwwroot") == "http://localhost/src"
    assert info.findtext("moodle_release") == "4.5.6 (Build: 20250811)"
    assert info.findtext("original_system_contextid") == "1"
    d = info.find("details/detail")
    assert re.fullmatch(r"[0-9a-f]{32}", d.get("backup_id"))
    assert (d.findtext("type"), d.findtext("format"), d.findtext("mode")) == ("course", "moodle2", "10")
    assert [e.tag for e in info.find("settings")[0]] == [e.tag for e in real_info.find("settings")[0]]
    assert {s.findtext("name") for s in info.find("settings") if s.findtext("level") == "root"} == \
        {s.findtext("name") for s in real_info.find("settings") if s.findtext("level") == "root"}
    assert info.find("contents/activities/activity/title").text == 'Étiquette "citation" & co'
    assert len(info.findall("contents/sections/section")) == 4
    # escaping like Moodle: & and < escaped, quotes not
    assert '<original_course_fullname>Histoire "moderne" &amp; Géographie &lt;b&gt;</original_course_fullname>' in raw
    assert "&quot;" not in raw and "&quot;" not in course_raw
    assert '<shortname>HIST "Moderne" &amp; Géo 2026</shortname>' in course_raw


@pytest.mark.parametrize("tag,expected", [
    ("slash", "phychim-2026"),
    ("html", "hist_moderne_amp;_géo_2026"),
    ("accent", "éco-gestion_été_2026"),
    ("quote", "langlais_daujourdhui_2026"),
    ("dot", ".cache-2026"),
    ("empty", "vide-2026"),
])
def test_backup_filename_cleaning(src, tmp_path, tag, expected):
    cid = src.session["tricky"][tag]
    r = backup(src, cid, tmp_path / "n")
    assert r.returncode == 0
    name = os.path.basename(only_mbz(tmp_path / "n"))
    assert re.fullmatch(re.escape("backup-moodle2-course-%d-%s-" % (cid, expected)) + r"\d{8}-\d{4}\.mbz", name), name


def test_backup_colliding_shortnames(src, tmp_path):
    a, b = src.session["tricky"]["collide"]
    names = []
    for cid in (a, b):
        r = backup(src, cid, tmp_path / str(cid))
        assert r.returncode == 0
        names.append(re.sub(r"-\d+-ab-2026-", "-N-ab-2026-", os.path.basename(only_mbz(tmp_path / str(cid)))))
    assert names[0][:-17] == names[1][:-17]   # same name apart from the id


def test_backup_long_shortname_stays_in_backup_area(src, tmp_path):
    cid = src.session["tricky"]["long"]
    r = backup(src, cid, tmp_path / "l")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0] == LINE1 and lines[1].startswith("Writing %s/backup-moodle2-course-%d-long-" % (tmp_path / "l", cid))
    assert lines[2] == ("Destination directory does not exist or is not writable. "
                        "Leaving the backup in the course backup file area.")
    assert os.listdir(tmp_path / "l") == []


def test_backup_by_shortname_and_without_destination(src, tmp_path):
    c = plain_course(src)
    os.makedirs(tmp_path / "s")
    r = src.php("backup.php", "--courseshortname=" + c["shortname"], "--destination=%s" % (tmp_path / "s"))
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "Backup completed."
    only_mbz(tmp_path / "s")
    r = src.php("backup.php", "--courseid=%d" % c["id"])
    assert r.returncode == 0
    assert r.stdout.splitlines()[-1] == "Backup completed, the new file is listed in the backup area of the given course"
    rows = src.query("SELECT * FROM {files} WHERE component = 'backup' AND filename LIKE %s", ("%.mbz",))
    assert rows and os.path.exists(src.filedir_path(rows[-1]["contenthash"]))
    src.query("DELETE FROM {files} WHERE id = %s", (rows[-1]["id"],))


def test_backup_help_and_failures(src, tmp_path):
    r = src.php("backup.php", "-h")
    assert r.returncode == 0 and "Perform backup of the given course." in r.stdout
    r = src.php("backup.php", "--courseid=%d" % plain_course(src)["id"], "--destination=%s" % (tmp_path / "nope"))
    assert r.returncode == 0 and r.stdout == "Destination directory does not exists or not writable.\n"
    assert not (tmp_path / "nope").exists()
    r = backup(src, 99999, tmp_path / "x")
    assert r.returncode == 1 and r.stdout == "!!! Can't find data record in database table course. !!!\n"
    assert os.listdir(tmp_path / "x") == []


# ------------------------------------------------------------------ backup faults
def test_fault_exit1_and_nofile(src, tmp_path):
    c = plain_course(src)
    src.set_fault(c["id"], "backup", "exit1")
    r = backup(src, c["id"], tmp_path / "a")
    assert r.returncode == 1 and r.stdout.splitlines()[0] == LINE1 and r.stdout.splitlines()[1].startswith("!!!")
    assert os.listdir(tmp_path / "a") == []
    src.set_fault(c["id"], "backup", "nofile")
    r = backup(src, c["id"], tmp_path / "b")
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "Backup completed."
    assert r.stdout.splitlines()[1].startswith("Writing ")
    assert os.listdir(tmp_path / "b") == []
    other = src.session["courses"][1]["id"]
    r = backup(src, other, tmp_path / "c")   # faults are per course
    assert r.returncode == 0 and len(os.listdir(tmp_path / "c")) == 1


def test_fault_hang(src, tmp_path):
    c = plain_course(src)
    src.set_fault(c["id"], "backup", "hang")
    os.makedirs(tmp_path / "h")
    p = subprocess.Popen(["php", src.cli("backup.php"), "--courseid=%d" % c["id"], "--destination=%s" % (tmp_path / "h")],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().rstrip("\n") == LINE1
        with pytest.raises(subprocess.TimeoutExpired):
            p.wait(1.5)
    finally:
        p.kill()
        p.wait()
    assert os.listdir(tmp_path / "h") == []


def test_fault_die_leaves_half_a_file(src, tmp_path):
    c = src.session["tricky"]["slash"]
    src.set_fault(c, "backup", "die")
    r = backup(src, c, tmp_path / "d")
    assert r.returncode == -signal.SIGKILL
    assert r.stdout.splitlines()[0] == LINE1 and "Backup completed." not in r.stdout
    path = only_mbz(tmp_path / "d")
    assert os.path.getsize(path) > 0
    with pytest.raises((EOFError, OSError, tarfile.TarError)):
        with tarfile.open(path) as tf:
            for m in tf:
                if m.isfile():
                    tf.extractfile(m).read()


def test_fault_slow_and_cpu(src, tmp_path):
    c = src.session["empty_course"]
    src.set_fault(c, "backup", "slow:1.2")
    t = time.monotonic()
    r = backup(src, c, tmp_path / "s")
    assert r.returncode == 0 and time.monotonic() - t >= 1.2
    src.set_fault(c, "backup", "cpu:1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = backup(src, c, tmp_path / "c")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert r.returncode == 0 and len(os.listdir(tmp_path / "c")) == 1
    assert (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime) >= 0.8
