"""The fake Moodle site's database, files and layout against the real-MariaDB
fixture: its MariaDB user, config.php, the schema and seed rows of a real
4.5.6 install, category and context paths, the file pool, the session
generator and fakesite.py's command line (shared/MOODLE.md).

Run: /usr/bin/python3 -m pytest -q tests/integration/test_fakemoodle_site.py
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import time

import pytest

from harness.fakesites import REAL, REPO, backup, needs_php_cli, only_mbz
from harness.fakesites import _no_faults, sites_root, src  # noqa: F401 (fixtures)

pytestmark = needs_php_cli


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
