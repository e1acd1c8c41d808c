"""The fake Moodle site (tests/fakemoodle) against the real-MariaDB fixture.

Checks that the fake behaves like Moodle 4.5.6 as shared/MOODLE.md and the real
backups in shared/fixtures/moodle-real describe it.

Run: cd /work/main && /usr/bin/python3 -m pytest -q tests/integration/test_fakemoodle.py
"""

import glob
import gzip
import hashlib
import json
import os
import pathlib
import re
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
for p in (HERE, REPO / "tests", REPO / "tests" / "fakemoodle"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from fakesite import FakeSite, generate_session  # noqa: E402

SHARED = REPO.parent / "shared"
REAL = SHARED / "fixtures" / "moodle-real"

pytestmark = pytest.mark.skipif(shutil.which("php") is None, reason="php-cli is not installed")


def real_mbz(courseid):
    if not REAL.is_dir():
        pytest.skip("real Moodle fixtures not found at %s" % REAL)
    found = glob.glob(str(REAL / ("backup-moodle2-course-%d-*.mbz" % courseid)))
    if not found:
        pytest.skip("real fixture for course %d missing" % courseid)
    return found[0]


def top_sequence(names):
    """Top-level layout of an .mbz: first component of each member, consecutive duplicates merged."""
    seq = []
    for n in names:
        top = n.split("/")[0] + ("/" if "/" in n or n in ("activities", "course", "files", "sections") else "")
        if not seq or seq[-1] != top:
            seq.append(top)
    return seq


def only_mbz(d):
    files = [f for f in os.listdir(d) if f.endswith(".mbz")]
    assert len(files) == 1, files
    return os.path.join(d, files[0])


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def sites_root(tmp_path_factory):
    return tmp_path_factory.mktemp("fm")


@pytest.fixture(scope="module")
def src(mariadb, sites_root):
    site = FakeSite.create(mariadb, sites_root, "fm_src", wwwroot="http://localhost/src")
    site.session = generate_session(site, "2025-2026", n_categories=12, n_courses=20,
                                    file_sizes=(100, 30000), seed=1)
    yield site
    site.destroy()


@pytest.fixture(scope="module")
def dst(mariadb, sites_root):
    site = FakeSite.create(mariadb, sites_root, "fm_dst", prefix="arc_", wwwroot="http://localhost/arc")
    site.archive_cat = site.add_category("Archives 2025-2026", 0, idnumber="ARC-2025-2026")
    yield site
    site.destroy()


@pytest.fixture(autouse=True)
def _no_faults(request):
    yield
    for name in ("src", "dst"):
        if name in request.fixturenames:
            request.getfixturevalue(name).clear_faults()


def backup(site, courseid, dest, **kw):
    os.makedirs(dest, exist_ok=True)
    return site.php("backup.php", "--courseid=%s" % courseid, "--destination=%s" % dest, **kw)


def plain_course(site):
    """A normal generated course with at least one file."""
    for c in site.session["courses"]:
        if not c["tags"] and c["estimate"] > 0:
            return c
    raise AssertionError("no plain course with files")


# ------------------------------------------------------------------ MariaDB harness
def test_mariadb_fixture_and_site_user(mariadb, src):
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        assert "MariaDB" in cur.fetchone()[0]
    conn.close()
    assert len(mariadb.socket) < 108
    import pymysql
    c = pymysql.connect(unix_socket=mariadb.socket, user=src.dbuser, password=src.dbpass, database=src.dbname)
    with c.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM %scourse" % src.prefix)
        assert cur.fetchone()[0] >= 2
        with pytest.raises(pymysql.err.OperationalError):
            cur.execute("SELECT * FROM mysql.user")
    c.close()
    with pytest.raises(pymysql.err.OperationalError):
        pymysql.connect(unix_socket=mariadb.socket, user=src.dbuser, password="wrong")


# ------------------------------------------------------------------ site layout
def test_config_php_abort_after_config(src):
    code = ('define("CLI_SCRIPT", true); define("ABORT_AFTER_CONFIG", true); require "%s/config.php";'
            ' echo json_encode([$CFG->dbtype, $CFG->dblibrary, $CFG->dbhost, $CFG->dbname, $CFG->dbuser,'
            ' $CFG->dbpass, $CFG->prefix, $CFG->dboptions, $CFG->wwwroot, $CFG->dataroot, $CFG->admin,'
            ' $CFG->directorypermissions, isset($DB)]);' % src.site_dir)
    r = subprocess.run(["php", "-r", code], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    v = json.loads(r.stdout)
    assert v[:7] == ["mariadb", "native", "localhost", src.dbname, src.dbuser, src.dbpass, "mdl_"]
    assert v[7] == {"dbpersist": 0, "dbport": "", "dbsocket": src.server.socket, "dbcollation": "utf8mb4_unicode_ci"}
    assert v[8:12] == ["http://localhost/src", src.dataroot, "admin", 0o777]
    assert v[12] is False   # no DB connection made
    assert not os.path.islink(os.path.join(src.site_dir, "admin"))
    assert src.dbuser != "root" and src.dbpass


def test_schema_matches_real_columns(src):
    schema = REAL / "schema-moodle-4.5.6.sql"
    if not schema.exists():
        pytest.skip("real schema dump not found at %s" % schema)
    text = schema.read_text()
    for m in re.finditer(r"CREATE TABLE `mdl_(\w+)` \((.*?)\n\) ENGINE", text, re.S):
        table, body = m.group(1), m.group(2)
        real = [(c, t) for c, t in re.findall(r"^\s+`(\w+)` (\w+(?:\(\d+(?:,\d+)?\))?)", body, re.M)]
        rows = src.query("SELECT column_name AS c, column_type AS t FROM information_schema.columns"
                         " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                         (src.dbname, src.prefix + table))
        assert [(r["c"], r["t"]) for r in rows] == real, table


def test_seed_rows_like_a_real_install(src):
    cfg = {r["name"]: r["value"] for r in src.query("SELECT name, value FROM {config}")}
    assert re.fullmatch(r"[A-Za-z0-9]{32}localhost", cfg["siteidentifier"])
    assert cfg["siteidentifier"] == src.siteidentifier
    assert cfg["release"] == "4.5.6 (Build: 20250811)" and cfg["version"] == "2024100706"
    assert src.context(10, 0) == {"id": 1, "contextlevel": 10, "instanceid": 0, "path": "/1", "depth": 1,
                                  "locked": 0}
    site = src.course(1)
    assert site["category"] == 0 and site["format"] == "site"
    assert src.context(50, 1)["path"] == "/1/%d" % src.context(50, 1)["id"]
    mods = {r["name"] for r in src.query("SELECT name FROM {modules}")}
    assert {"assign", "forum", "page", "resource", "folder", "label", "quiz", "url"} <= mods


def test_category_and_context_paths(src):
    cats = {c["id"]: c for c in src.categories()}
    for c in cats.values():
        ids = [int(x) for x in c["path"].strip("/").split("/")]
        assert ids[-1] == c["id"] and len(ids) == c["depth"]
        if c["parent"]:
            assert c["path"] == cats[c["parent"]]["path"] + "/%d" % c["id"]
        ctx = src.context(40, c["id"])
        pctx = src.context(40, c["parent"]) if c["parent"] else src.context(10, 0)
        assert ctx["path"] == "%s/%d" % (pctx["path"], ctx["id"]) and ctx["depth"] == pctx["depth"] + 1
        n = src.query("SELECT COUNT(*) AS n FROM {course} WHERE category = %s", (c["id"],))[0]["n"]
        assert c["coursecount"] == n
    for co in src.courses():
        cctx = src.context(50, co["id"])
        catctx = src.context(40, co["category"])
        assert cctx["path"] == "%s/%d" % (catctx["path"], cctx["id"])
        for cm in src.query("SELECT id FROM {course_modules} WHERE course = %s", (co["id"],)):
            mctx = src.context(70, cm["id"])
            assert mctx["path"] == "%s/%d" % (cctx["path"], mctx["id"]) and mctx["depth"] == cctx["depth"] + 1
    sess = src.session
    assert "2025-2026/Sciences/Maths" in sess["categories"]


def test_file_storage_like_moodle(src):
    course = src.session["courses"][0]
    rows = src.course_files(course["id"], include_dirs=True)
    for f in rows:
        assert f["pathnamehash"] == hashlib.sha1(("/%d/%s/%s/%d%s%s" % (
            f["contextid"], f["component"], f["filearea"], f["itemid"], f["filepath"], f["filename"])).encode()
        ).hexdigest()
        if f["filename"] == ".":
            assert f["filesize"] == 0 and f["contenthash"] == hashlib.sha1(b"").hexdigest()
            continue
        path = src.filedir_path(f["contenthash"])
        assert os.path.getsize(path) == f["filesize"]
        with open(path, "rb") as fh:
            assert hashlib.sha1(fh.read()).hexdigest() == f["contenthash"]
    # every area with files has its '.' row
    areas = {(f["contextid"], f["component"], f["filearea"]) for f in rows if f["filename"] != "."}
    dirs = {(f["contextid"], f["component"], f["filearea"]) for f in rows if f["filename"] == "." and
            f["filepath"] == "/"}
    assert areas <= dirs


def test_shared_content_stored_once(src):
    slash = src.session["tricky"]["slash"]
    rows = src.course_files(slash)
    hashes = [r["contenthash"] for r in rows]
    assert len(hashes) == 4 and len(set(hashes)) == 3          # two identical files in the folder
    naive = sum(r["filesize"] for r in rows)
    assert src.course_estimate(slash) < naive
    # shared contents across courses
    allrows = src.query("SELECT contenthash, COUNT(DISTINCT c.path) AS n FROM {files} f JOIN {context} c"
                        " ON c.id = f.contextid WHERE f.filename <> '.' GROUP BY contenthash HAVING n > 1")
    assert allrows, "generate_session(shared_files=True) made no shared content"


def test_big_file_is_streamed(src, tmp_path):
    cat = src.session["session_category"]
    t = time.time()
    cid = src.add_course(cat, "BIG-1", "Gros fichier", files=[("big.bin", 60 * 1024 * 1024)])
    assert time.time() - t < 10
    assert src.course_estimate(cid) == 60 * 1024 * 1024
    r = backup(src, cid, tmp_path / "b")
    assert r.returncode == 0, r.stdout
    with tarfile.open(only_mbz(tmp_path / "b")) as tf:
        assert sum(m.size for m in tf.getmembers() if m.name.startswith("files/") and m.isfile()) == 60 << 20
    src.delete_course(cid)
    assert src.course(cid) is None


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


# ------------------------------------------------------------------ restore_backup.php
def restore(site, path, cat=None):
    return site.php("restore_backup.php", "--file=%s" % path, "--categoryid=%d" % (cat or site.archive_cat))


def parse_restore(site, r):
    lines = r.stdout.splitlines()
    m = re.fullmatch(r"== Extracting backup file to: (.*)/temp/backup/([0-9a-f]{32}) ==", lines[0])
    assert m and m.group(1) == site.dataroot, lines
    assert lines[1] == "== Preprocessing backup file =="
    return lines, os.path.join(site.dataroot, "temp", "backup", m.group(2))


def test_restore_and_collisions(src, dst, tmp_path):
    c = src.session["tricky"]["slash"]
    r = backup(src, c, tmp_path / "r")
    mbz = only_mbz(tmp_path / "r")
    src_course = src.course(c)
    got = []
    for i in range(3):
        r = restore(dst, mbz)
        assert r.returncode == 0, r.stdout + r.stderr
        lines, tmp = parse_restore(dst, r)
        m = re.fullmatch(r"== Restored course ID: (\d+) ==", lines[2])
        assert m and len(lines) == 3
        assert not os.path.exists(tmp)
        got.append(dst.course(int(m.group(1))))
    assert [g["shortname"] for g in got] == ["PHY/CHIM-2026", "PHY/CHIM-2026_1", "PHY/CHIM-2026_2"]
    assert [g["fullname"] for g in got] == ["Physique/Chimie 2026", "Physique/Chimie 2026 copy 1",
                                            "Physique/Chimie 2026 copy 2"]
    g = got[0]
    assert g["category"] == dst.archive_cat and g["idnumber"] == ""
    assert g["startdate"] == src_course["startdate"]
    assert dst.course_counts(g["id"]) == src.course_counts(c)
    assert dst.course_estimate(g["id"]) == src.course_estimate(c)
    cat = [x for x in dst.categories() if x["id"] == dst.archive_cat][0]
    assert cat["coursecount"] >= 3
    for g in got:
        ctx = dst.context(50, g["id"])
        assert ctx["path"] == dst.context(40, dst.archive_cat)["path"] + "/%d" % ctx["id"]


def test_restore_html_fullname_fails(src, dst, tmp_path):
    """MOODLE.md: the PARAM_TEXT check of the course_fullname setting refuses a fullname that
    holds a tag, with Moodle's own lines; no course is kept, the extraction folder goes."""
    before = len(dst.courses())
    r = backup(src, src.session["tricky"]["html"], tmp_path / "h")
    for mbz in [only_mbz(tmp_path / "h")] + ([real_mbz(8)] if REAL.is_dir() else []):
        r = restore(dst, mbz)
        assert r.returncode == 1
        lines, tmp = parse_restore(dst, r)
        assert lines[2:] == ["== Cleaning temp data ==", "!!! Exception - error/setting_invalid_text !!!"]
        assert len(dst.courses()) == before
        assert not os.path.exists(tmp)


@pytest.mark.parametrize("fixture_id,shortname,sections,activities,estimate", [
    (2, "GEN-XS-1", 3, 5, 9280),
    (6, "PHY/CHIM-2024", 4, 2, 322033),
    (9, "VIDE-2024", 4, 0, 0),
])
def test_restore_real_fixtures(dst, fixture_id, shortname, sections, activities, estimate):
    r = restore(dst, real_mbz(fixture_id))
    assert r.returncode == 0, r.stdout
    lines, _ = parse_restore(dst, r)
    cid = int(re.fullmatch(r"== Restored course ID: (\d+) ==", lines[2]).group(1))
    c = dst.course(cid)
    assert c["shortname"] == shortname and c["idnumber"] == ""
    s, a = dst.course_counts(cid)
    assert a == activities and s >= 1
    assert dst.course_estimate(cid) == estimate


def test_restore_failures(dst, src, tmp_path):
    before = len(dst.courses())
    r = restore(dst, tmp_path / "missing.mbz")
    assert (r.returncode, r.stdout) == (1, "!!! Sorry, the requested file could not be found !!!\n")
    c = src.session["tricky"]["slash"]
    backup(src, c, tmp_path / "t")
    mbz = only_mbz(tmp_path / "t")
    r = restore(dst, mbz, cat=99999)
    assert (r.returncode, r.stdout) == (1, "!!! Incorrect category ID! !!!\n")
    data = open(mbz, "rb").read()
    for cut in (len(data) // 2, len(data) - 20):
        trunc = tmp_path / ("trunc%d.mbz" % cut)
        trunc.write_bytes(data[:cut])
        r = restore(dst, trunc)
        assert r.returncode == 1, r.stdout
        lines, tmp = parse_restore(dst, r)
        assert re.fullmatch(r"!!! .+ !!!", lines[2])
        assert os.path.isdir(tmp)        # the extraction folder stays in temp/backup
    junk = tmp_path / "junk.mbz"
    junk.write_bytes(b"this is not an archive" * 10)
    r = restore(dst, junk)
    assert r.returncode == 1 and "!!! " in r.stdout
    assert len(dst.courses()) == before
    r = dst.php("restore_backup.php", "-h")
    assert r.returncode == 0 and "--categoryid" in r.stdout


def test_restore_faults(src, dst, tmp_path):
    c = src.session["tricky"]["accent"]
    backup(src, c, tmp_path / "f")
    mbz = only_mbz(tmp_path / "f")
    n0 = len(dst.courses())
    dst.set_fault(c, "restore", "exception")
    r = restore(dst, mbz)
    assert r.returncode == 1 and r.stdout.splitlines()[-1] == "!!! Exception - error/setting_invalid_text !!!"
    assert len(dst.courses()) == n0
    dst.set_fault(c, "restore", "die-placeholder")
    r = restore(dst, mbz)
    assert r.returncode == -signal.SIGKILL and "Restored course ID" not in r.stdout
    left = [x for x in dst.courses() if x["fullname"].startswith("Course restoration in progress")]
    assert len(left) == 1 and left[0]["shortname"].startswith("restoring")
    dst.set_fault(c, "restore", "die-after-restore")
    r = restore(dst, mbz)
    assert r.returncode == -signal.SIGKILL and "Restored course ID" not in r.stdout
    full = [x for x in dst.courses() if x["shortname"] == src.course(c)["shortname"]]
    assert len(full) == 1 and dst.course_counts(full[0]["id"]) == src.course_counts(c)
    dst.clear_faults()
    for x in left + full:
        dst.delete_course(x["id"])


# ------------------------------------------------------------------ delete_course.php
DELETED_BEFORE_THE_CRASH = ["Course completion data", "Grades", "Blocks"]
DELETED_AFTER_THE_MODULES = ["Activities", "Reports", "Course reports", "Course formats", "Question bank",
                             "Enrolment methods", "Groupings", "Groups"]
DELETED_AFTER_THE_FORMAT = ["Filters", "Notes", "Comments", "Ratings", "Course sections", "Files"]


def recycled(site, cid):
    rb = os.path.join(site.dataroot, "recyclebin")
    return [f for f in os.listdir(rb) if f.startswith("course-%d-" % cid)] if os.path.isdir(rb) else []


def test_delete_course_without_recyclebin_dies_half_way(src):
    """MOODLE.md's trap: delete_course.php does not load course/lib.php; with --disablerecyclebin
    nothing else does, and delete_course() dies at course_get_format(), the course partly emptied."""
    cat = src.session["session_category"]
    cid = src.add_course(cat, "DEL-0", "À moitié", files=[("a.txt", b"hello")], activities=["page"])
    sections = src.course_counts(cid)[0]
    r = src.php("delete_course.php", "--courseid=%d" % cid, "--non-interactive", "--disablerecyclebin")
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.splitlines() == (
        ["Deleting course id %d" % cid, "Course name: À moitié", "Short name: DEL-0", "Disabling recycle bin..."]
        + ["++ Deleted - %s ++" % w for w in DELETED_BEFORE_THE_CRASH + ["Page", "Resource"]
           + DELETED_AFTER_THE_MODULES]
        + ["!!! Exception - Call to undefined function course_get_format() !!!"])
    assert src.course(cid) is not None
    assert src.course_counts(cid) == (sections, 0)      # activities gone, sections left
    assert not recycled(src, cid)
    # the same delete through Moodle's API with course/lib.php loaded finishes it
    src.delete_course(cid)
    assert src.course(cid) is None and src.context(50, cid) is None


def test_delete_course(src, tmp_path):
    cat = src.session["session_category"]
    cid = src.add_course(cat, "DEL-1", "À supprimer", files=[("a.txt", b"hello"), ("b.txt", 3000)],
                         activities=["page"])
    ctx = src.context(50, cid)
    # the recycle bin (on by default) backs the course up first, which loads course/lib.php
    r = src.php("delete_course.php", "--courseid=%d" % cid, "--non-interactive")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[:3] == ["Deleting course id %d" % cid, "Course name: À supprimer", "Short name: DEL-1"]
    assert lines[3:-2] == ["++ Deleted - %s ++" % w for w in DELETED_BEFORE_THE_CRASH + ["Page", "Resource"]
                           + DELETED_AFTER_THE_MODULES + DELETED_AFTER_THE_FORMAT]
    assert 17 <= len(lines[3:-2]) <= 20
    assert lines[-2:] == ["Updating course count in categories...", "Done!"]
    assert src.course(cid) is None
    assert not src.query("SELECT id FROM {context} WHERE id = %s OR path LIKE %s", (ctx["id"], ctx["path"] + "/%"))
    assert not src.query("SELECT id FROM {files} WHERE contextid = %s", (ctx["id"],))
    assert not src.query("SELECT id FROM {course_sections} WHERE course = %s", (cid,))
    assert not src.query("SELECT id FROM {course_modules} WHERE course = %s", (cid,))
    n = src.query("SELECT COUNT(*) AS n FROM {course} WHERE category = %s", (cat,))[0]["n"]
    assert [c for c in src.categories() if c["id"] == cat][0]["coursecount"] == n
    mine = recycled(src, cid)
    assert len(mine) == 1
    with tarfile.open(os.path.join(src.dataroot, "recyclebin", mine[0])) as tf:
        assert tf.getnames()[0] == ".ARCHIVE_INDEX"
    # the category bin switched off in config_plugins: nothing is backed up, and (course/lib.php
    # never loaded) the delete dies as with --disablerecyclebin
    src.query("UPDATE {config_plugins} SET value = '0' WHERE plugin = 'tool_recyclebin'")
    try:
        cid = src.add_course(cat, "DEL-4", "Sans corbeille")
        r = src.php("delete_course.php", "--courseid=%d" % cid, "--non-interactive")
        assert r.returncode == 1 and "course_get_format" in r.stdout.splitlines()[-1]
        assert src.course(cid) is not None and not recycled(src, cid)
    finally:
        src.query("UPDATE {config_plugins} SET value = '1' WHERE plugin = 'tool_recyclebin'")


def test_delete_not_found_and_confirmation(src):
    cat = src.session["session_category"]
    cid = src.add_course(cat, "DEL-2", "Corbeille", files=[("c.txt", 2000)])
    # without --non-interactive: asks; end of input or "n" is a no, exit 0, nothing deleted
    for answer in ("", "n\n"):
        r = src.php("delete_course.php", "--courseid=%d" % cid, input=answer)
        assert r.returncode == 0 and src.course(cid) is not None
        assert "Are you sure you wish to delete this course? (y/N)" in r.stdout
    r = src.php("delete_course.php", "--courseid=%d" % cid, "--non-interactive")
    assert r.returncode == 0 and src.course(cid) is None
    r = src.php("delete_course.php", "--courseid=%d" % cid, "--non-interactive")
    assert r.returncode == 1 and r.stderr.strip() == "Course not found" and r.stdout == ""
    # interactive "y" works
    cid = src.add_course(cat, "DEL-3", "Oui")
    r = src.php("delete_course.php", "--courseid=%d" % cid, input="y\n")
    assert r.returncode == 0 and src.course(cid) is None


# ------------------------------------------------------------------ generator / CLI
def test_generator_description(src):
    s = src.session
    assert s["categories"]["2025-2026"] == s["session_category"]
    t = s["tricky"]
    for tag in ("slash", "html", "accent", "quote", "long", "dot", "empty"):
        assert tag in t
    assert len(t["collide"]) == 2
    assert len(src.course(t["long"])["shortname"].encode()) == 250
    assert src.course_estimate(t["empty"]) == 0 and src.course_counts(t["empty"])[1] == 0
    assert src.course(t["html"])["fullname"] == 'Histoire "moderne" & Géographie <b>'
    assert len(s["courses"]) == 20
    ids = {c["id"] for c in src.courses()}
    assert {c["id"] for c in s["courses"]} <= ids


def test_fakesite_cli(mariadb, tmp_path):
    r = subprocess.run([sys.executable if "pyenv" not in sys.executable else "/usr/bin/python3",
                        str(REPO / "tests" / "fakemoodle" / "fakesite.py"), "create", "--socket", mariadb.socket,
                        "--root", str(tmp_path), "--name", "fm_cli", "--session", "2024-2025", "--courses", "12"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["dbname"] == "fm_fm_cli" and os.path.exists(d["config"])
    assert len(d["session"]["courses"]) == 12
    conn = mariadb.connect()
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE fm_fm_cli")
        cur.execute("DROP USER fm_fm_cli@localhost")
    conn.close()
