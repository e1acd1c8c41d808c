"""moodle/bridge/sessionarchiver-bridge.php against the fake Moodle site (tests/fakemoodle).

The bridge is run exactly as the C tool runs it:
    php <repo>/moodle/bridge/sessionarchiver-bridge.php --moodle=<site_dir> COMMAND --opt=value...
and its answer is read the way the C tool reads it: the line after the marker line.

Run: cd /work/main && /usr/bin/python3 -m pytest -q tests/integration/test_bridge.py
"""

import json
import os
import pathlib
import re
import shutil
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

from fakesite import FakeSite  # noqa: E402

BRIDGE = REPO / "moodle" / "bridge" / "sessionarchiver-bridge.php"
MARKER = "SESSIONARCHIVER-JSON:"

pytestmark = pytest.mark.skipif(shutil.which("php") is None, reason="php-cli is not installed")


def run_bridge(site_dir, *args, timeout=60):
    """(exit status, answer dict, stdout)."""
    r = subprocess.run(["php", str(BRIDGE), "--moodle=%s" % site_dir] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout, cwd="/")
    lines = r.stdout.split("\n")
    assert lines.count(MARKER) == 1, r.stdout + r.stderr
    i = lines.index(MARKER)
    return r.returncode, json.loads(lines[i + 1]), r.stdout


def ok(site, *args):
    rc, j, out = run_bridge(site.site_dir, *args)
    assert rc == 0 and "error" not in j, out
    return j


def fails(site, *args):
    rc, j, out = run_bridge(site.site_dir, *args)
    assert rc == 1, out
    assert set(j) == {"error", "errorcode"} and j["error"], j
    return j


@pytest.fixture(scope="module")
def site(mariadb, tmp_path_factory):
    s = FakeSite.create(mariadb, tmp_path_factory.mktemp("br"), "fm_bridge", prefix="arc_")
    yield s
    s.destroy()


def ctx(site, level, instance):
    return site.context(level, instance)


# ------------------------------------------------------------------ version, usage
def test_version(site):
    j = ok(site, "version")
    assert j == {"bridge": 1, "moodle_release": "4.5.6 (Build: 20250811)", "moodle_version": "2024100706"}


@pytest.mark.parametrize("args,msg", [
    ((), "exactly one command"),
    (("nope",), "unknown command nope"),
    (("version", "extra"), "exactly one command"),
    (("version", "--bogus=1"), "unknown option --bogus=1"),
    (("create-category", "--name=X"), "--parent=<integer>"),
    (("create-category", "--name=X", "--parent=abc"), "--parent=<integer>"),
    (("create-category", "--name", "--parent=0"), "--name=<value>"),
    (("delete-category",), "--id=<integer>"),
    (("find-course", "--category=1"), "--shortname=<value>"),
])
def test_usage_errors(site, args, msg):
    j = fails(site, *args)
    assert msg in j["error"] and j["errorcode"] == ""


def test_no_moodle_dir(tmp_path):
    rc, j, _ = run_bridge(tmp_path, "version")
    assert rc == 1 and "--moodle" in j["error"] and j["errorcode"] == ""


# ------------------------------------------------------------------ create-category
def test_create_category_top_level_and_child(site):
    top = ok(site, "create-category", "--name=Archives 2025-2026", "--parent=0", "--idnumber=ARC-2526",
             "--description=Sessions archivées")
    row = site.category(top["id"])
    assert top == {"id": row["id"], "name": "Archives 2025-2026", "idnumber": "ARC-2526", "parent": 0,
                   "path": "/%d" % row["id"], "depth": 1}
    assert row["path"] == top["path"] and row["depth"] == 1 and row["visible"] == 1
    assert row["description"] == "Sessions archivées" and row["coursecount"] == 0
    c = ctx(site, 40, top["id"])
    assert c["path"] == "/1/%d" % c["id"] and c["depth"] == 2

    # a child: names with quotes, ampersand, accents, '=' and slashes go through unchanged
    name = 'Économie & "Gestion" a=b/c'
    child = ok(site, "create-category", "--name=%s" % name, "--parent=%d" % top["id"])
    crow = site.category(child["id"])
    assert child["name"] == crow["name"] == name and child["idnumber"] is None and crow["idnumber"] is None
    assert crow["parent"] == top["id"] and crow["depth"] == 2
    assert crow["path"] == child["path"] == "%s/%d" % (top["path"], child["id"])
    cc = ctx(site, 40, child["id"])
    assert cc["path"] == "%s/%d" % (c["path"], cc["id"]) and cc["depth"] == 3
    assert crow["sortorder"] > row["sortorder"]

    grand = ok(site, "create-category", "--name=Maths", "--parent=%d" % child["id"], "--idnumber=")
    assert site.category(grand["id"])["path"] == "/%d/%d/%d" % (top["id"], child["id"], grand["id"])
    assert grand["depth"] == 3 and grand["idnumber"] is None
    gc = ctx(site, 40, grand["id"])
    assert gc["path"] == "/1/%d/%d/%d" % (c["id"], cc["id"], gc["id"]) and gc["depth"] == 4


def test_create_category_errors(site):
    ok(site, "create-category", "--name=Dup", "--parent=0", "--idnumber=DUP-1")
    before = len(site.categories())
    j = fails(site, "create-category", "--name=Dup 2", "--parent=0", "--idnumber=DUP-1")
    assert j["errorcode"] == "categoryidnumbertaken"
    j = fails(site, "create-category", "--name=Orphan", "--parent=999999")
    assert j["errorcode"] == "invalidcategoryid" and "999999" in j["error"]
    j = fails(site, "create-category", "--name=", "--parent=0")
    assert j["errorcode"] == "categorynamerequired"
    assert len(site.categories()) == before
    assert not site.query("SELECT id FROM {context} WHERE contextlevel = 40 AND instanceid NOT IN"
                          " (SELECT id FROM {course_categories})")


# ------------------------------------------------------------------ find-category
def test_find_category(site):
    parent = ok(site, "create-category", "--name=Find parent", "--parent=0")["id"]
    a = ok(site, "create-category", "--name=Twice", "--parent=%d" % parent)["id"]
    b = ok(site, "create-category", "--name=Twice", "--parent=%d" % parent)["id"]
    other = ok(site, "create-category", "--name=twice", "--parent=%d" % parent)["id"]
    elsewhere = ok(site, "create-category", "--name=Elsewhere", "--parent=0")["id"]
    assert a < b
    assert ok(site, "find-category", "--parent=%d" % parent, "--name=Twice") == {"id": a}
    assert ok(site, "find-category", "--parent=%d" % parent, "--name=twice") == {"id": other}
    assert ok(site, "find-category", "--parent=%d" % parent, "--name=Elsewhere") == {"id": None}
    assert ok(site, "find-category", "--parent=0", "--name=Elsewhere") == {"id": elsewhere}
    assert ok(site, "find-category", "--parent=0", "--name=Find parent") == {"id": parent}
    assert ok(site, "find-category", "--parent=0", "--name=Twice") == {"id": None}   # not a grandchild
    assert fails(site, "find-category", "--parent=999999", "--name=X")["errorcode"] == "invalidcategoryid"


# ------------------------------------------------------------------ delete-category
def test_delete_category(site):
    parent = ok(site, "create-category", "--name=Del parent", "--parent=0")["id"]
    child = ok(site, "create-category", "--name=Del child", "--parent=%d" % parent)["id"]
    withcourse = ok(site, "create-category", "--name=Del course", "--parent=0")["id"]
    cid = site.add_course(withcourse, "DEL-1", "Course kept")

    j = fails(site, "delete-category", "--id=%d" % parent)
    assert j == {"error": "category %d is not empty" % parent, "errorcode": "categorynotempty"}
    j = fails(site, "delete-category", "--id=%d" % withcourse)
    assert j["errorcode"] == "categorynotempty"
    assert site.category(parent) and site.category(child) and site.course(cid)

    childctx = ctx(site, 40, child)["id"]
    assert ok(site, "delete-category", "--id=%d" % child) == {"deleted": child}
    assert site.category(child) is None and ctx(site, 40, child) is None
    assert not site.query("SELECT id FROM {context} WHERE id = %s", (childctx,))
    assert ok(site, "delete-category", "--id=%d" % parent) == {"deleted": parent}
    assert site.category(parent) is None and ctx(site, 40, parent) is None

    for bad in (parent, 999999, 0):
        j = fails(site, "delete-category", "--id=%d" % bad)
        assert j["errorcode"] == "invalidcategoryid", j
    assert site.course(cid) and site.category(withcourse)


# ------------------------------------------------------------------ hide-course
def test_hide_course(site):
    cat = ok(site, "create-category", "--name=Hide", "--parent=0")["id"]
    cid = site.add_course(cat, "HIDE-1", "To hide")
    site.query("UPDATE {course} SET timemodified = 1 WHERE id = %s", (cid,))
    assert ok(site, "hide-course", "--id=%d" % cid) == {"id": cid, "visible": 0}
    row = site.course(cid)
    assert row["visible"] == 0 and row["visibleold"] == 0 and row["timemodified"] > 1
    assert ok(site, "hide-course", "--id=%d" % cid) == {"id": cid, "visible": 0}   # again: no harm
    for bad in (999999, 1):   # unknown, and the site course
        assert fails(site, "hide-course", "--id=%d" % bad)["errorcode"] == "invalidcourseid"
    assert site.course(1)["visible"] == 1


# ------------------------------------------------------------------ find-course
def test_find_course_with_renamed_shortnames(site, tmp_path):
    src = ok(site, "create-category", "--name=FC source", "--parent=0")["id"]
    dst = ok(site, "create-category", "--name=FC target", "--parent=0")["id"]
    orig = site.add_course(src, "ALG.1 (x)", "Algèbre", files=[("a.txt", b"hello")])
    out = tmp_path / "bk"
    out.mkdir()
    r = site.php("backup.php", "--courseid=%d" % orig, "--destination=%s" % out)
    assert r.returncode == 0, r.stdout + r.stderr
    mbz = str(out / os.listdir(out)[0])
    restored = []
    for _ in range(2):
        r = site.php("restore_backup.php", "--file=%s" % mbz, "--categoryid=%d" % dst)
        assert r.returncode == 0, r.stdout + r.stderr
        restored.append(int(r.stdout.strip().split("Restored course ID: ")[1].split()[0]))
    # decoys in the target category, which must not match
    for short in ("ALG.1 (x)_", "ALG.1 (x)_1a", "ALG.1 (x)-2", "alg.1 (x)_9", "ALG.1 (X)", "ALG.1 (x) _3",
                  "xALG.1 (x)", "ALG-1 (x)"):
        site.add_course(dst, short, "Decoy " + short)

    j = ok(site, "find-course", "--category=%d" % dst, "--shortname=ALG.1 (x)")
    assert j == {"courses": [{"id": restored[0], "shortname": "ALG.1 (x)_1", "fullname": "Algèbre copy 1"},
                             {"id": restored[1], "shortname": "ALG.1 (x)_2", "fullname": "Algèbre copy 2"}]}
    j = ok(site, "find-course", "--category=%d" % src, "--shortname=ALG.1 (x)")
    assert j == {"courses": [{"id": orig, "shortname": "ALG.1 (x)", "fullname": "Algèbre"}]}
    assert ok(site, "find-course", "--category=%d" % dst, "--shortname=NOPE") == {"courses": []}
    assert fails(site, "find-course", "--category=999999", "--shortname=X")["errorcode"] == "invalidcategoryid"


# ------------------------------------------------------------------ noisy or broken Moodle
def test_output_before_the_answer(site):
    cfg = pathlib.Path(site.site_dir) / "config.php"
    text = cfg.read_text()
    noisy = text.replace("require_once(__DIR__ . '/lib/setup.php');",
                         "echo \"PHP Warning: something odd {\\\"error\\\": 1}\\n\";\n"
                         "echo \"++ debugging without a newline ++\";\n"
                         "fwrite(STDERR, \"Deprecated: stderr noise\\n\");\n"
                         "require_once(__DIR__ . '/lib/setup.php');")
    assert noisy != text
    cfg.write_text(noisy)
    try:
        rc, j, out = run_bridge(site.site_dir, "find-category", "--parent=0", "--name=Category 1")
        assert rc == 0 and j == {"id": 1}
        assert out.startswith("PHP Warning") and "++ debugging without a newline ++\n%s\n" % MARKER in out
        rc, j, out = run_bridge(site.site_dir, "delete-category", "--id=999999")
        assert rc == 1 and j["errorcode"] == "invalidcategoryid"
    finally:
        cfg.write_text(text)


def test_moodle_exits_during_setup(site):
    """The database refuses the connection: Moodle prints and exits, the bridge still answers."""
    cfg = pathlib.Path(site.site_dir) / "config.php"
    text = cfg.read_text()
    cfg.write_text(text.replace("$CFG->dbpass    = '%s';" % site.dbpass, "$CFG->dbpass    = 'wrong';"))
    try:
        rc, j, out = run_bridge(site.site_dir, "version")
        assert rc != 0 and j["error"] and j["errorcode"] == ""
        assert "Database connection failed" in out.split(MARKER)[0]
    finally:
        cfg.write_text(text)
    assert ok(site, "version")["bridge"] == 1


def test_cli_get_params_double_dash(site):
    """Like Moodle's cli_get_params, nothing after '--' is read."""
    j = fails(site, "--", "version")
    assert "exactly one command" in j["error"]


def recyclebin_files(site, cid):
    rb = os.path.join(site.dataroot, "recyclebin")
    return [f for f in os.listdir(rb) if f.startswith("course-%d-" % cid)] if os.path.isdir(rb) else []


@pytest.mark.parametrize("recyclebin", ["no", "yes"])
def test_delete_course(site, recyclebin):
    """delete_course() with course/lib.php loaded: where delete_course.php --disablerecyclebin dies
    half way (MOODLE.md), the bridge deletes the course whole, the bin used only when asked."""
    cat = ok(site, "create-category", "--name=DC %s" % recyclebin, "--parent=0")["id"]
    cid = site.add_course(cat, "DC-%s" % recyclebin, "To delete", files=[("a.txt", b"x" * 100)])
    rc, j, out = run_bridge(site.site_dir, "--recyclebin=%s" % recyclebin, "delete-course", "--id=%d" % cid)
    assert rc == 0 and j == {"deleted": cid}, out
    assert site.course(cid) is None
    assert site.context(50, cid) is None
    assert bool(recyclebin_files(site, cid)) == (recyclebin == "yes")
    # a second time: gone, not an error (a run killed after the delete comes back)
    assert ok(site, "delete-course", "--id=%d" % cid) == {"gone": cid}
    assert fails(site, "delete-course", "--id=1")["errorcode"] == "invalidcourseid"   # never the site
    fails(site, "--recyclebin=maybe", "delete-course", "--id=%d" % cid)


def test_delete_course_fault_keeps_the_reason(site):
    cat = ok(site, "create-category", "--name=DC fault", "--parent=0")["id"]
    cid = site.add_course(cat, "DC-F", "Fails")
    site.set_fault(cid, "delete", "exit1")
    try:
        j = fails(site, "--recyclebin=no", "delete-course", "--id=%d" % cid)
    finally:
        site.clear_faults()
    assert "Error writing to database" in j["error"] and j["errorcode"] == "dmlwriteexception"
    assert site.course(cid) is not None


def backup_of(site, tmp_path, cid):
    out = tmp_path / ("bk%d" % cid)
    out.mkdir()
    r = site.php("backup.php", "--courseid=%d" % cid, "--destination=%s" % out)
    assert r.returncode == 0, r.stdout + r.stderr
    return str(out / os.listdir(out)[0])


def test_restore_html_fullname(site, tmp_path):
    """restore_backup.php refuses a tag in the fullname (setting_invalid_text); the bridge restores
    the same backup with the names PARAM_TEXT leaves."""
    src = ok(site, "create-category", "--name=RH source", "--parent=0")["id"]
    dst = ok(site, "create-category", "--name=RH target", "--parent=0")["id"]
    name = 'Histoire "moderne" & Géographie <b>'
    cid = site.add_course(src, "HIST<i>1</i>", name, files=[("a.txt", b"hello")])
    mbz = backup_of(site, tmp_path, cid)
    r = site.php("restore_backup.php", "--file=%s" % mbz, "--categoryid=%d" % dst)
    assert r.returncode == 1 and "setting_invalid_text" in r.stdout + r.stderr
    before = len(site.courses(dst))
    j = ok(site, "restore", "--file=%s" % mbz, "--categoryid=%d" % dst)
    assert j["fullname"] == 'Histoire "moderne" & Géographie ' and j["shortname"] == "HIST1"
    assert j["original_fullname"] == name and j["original_shortname"] == "HIST<i>1</i>" and j["cleaned"]
    c = site.course(j["id"])
    assert c["category"] == dst and c["fullname"] == j["fullname"]
    assert len(site.courses(dst)) == before + 1
    assert os.listdir(os.path.join(site.dataroot, "temp", "backup")) == []
    # a plain name is restored as it is
    plain = site.add_course(src, "PLAIN1", "Plain & simple")
    j = ok(site, "restore", "--file=%s" % backup_of(site, tmp_path, plain), "--categoryid=%d" % dst)
    assert j["fullname"] == "Plain & simple copy 1" and not j["cleaned"]   # Moodle renames a copy


def test_restore_failures_leave_nothing(site, tmp_path):
    src = ok(site, "create-category", "--name=RF source", "--parent=0")["id"]
    dst = ok(site, "create-category", "--name=RF target", "--parent=0")["id"]
    cid = site.add_course(src, "RF1", "Restore fails")
    mbz = backup_of(site, tmp_path, cid)
    assert fails(site, "restore", "--file=/nonexistent.mbz", "--categoryid=%d" % dst)["errorcode"] == "filenotfound"
    assert fails(site, "restore", "--file=%s" % mbz, "--categoryid=999999")["errorcode"] == "invalidcategoryid"
    bad = tmp_path / "bad.mbz"
    bad.write_bytes(b"not an archive")
    fails(site, "restore", "--file=%s" % bad, "--categoryid=%d" % dst)
    site.set_fault(cid, "restore", "exception")
    try:
        fails(site, "restore", "--file=%s" % mbz, "--categoryid=%d" % dst)
    finally:
        site.clear_faults()
    assert site.courses(dst) == []
    assert os.listdir(os.path.join(site.dataroot, "temp", "backup")) == []


def test_worker(site):
    """One process, many requests: answers on fd 3, Moodle's output apart on stdout."""
    cat = ok(site, "create-category", "--name=WK", "--parent=0")["id"]
    ids = [site.add_course(cat, "WK%d" % i, "Worker %d" % i) for i in range(3)]
    rfd, wfd = os.pipe()
    p = subprocess.Popen(["php", str(BRIDGE), "--moodle=%s" % site.site_dir, "--recyclebin=no",
                          "--session=S1", "worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, close_fds=False, cwd="/",
                         preexec_fn=lambda: os.dup2(wfd, 3))
    os.close(wfd)
    answers = os.fdopen(rfd)
    try:
        def ask(req):
            p.stdin.write(json.dumps(req) + "\n")
            p.stdin.flush()
            return json.loads(answers.readline())
        def ask_plain(req):
            a = ask(req)
            assert a.pop("peak_memory") >= a.pop("memory") > 0, a   # on every answer, errors too
            return a
        assert ask_plain({"command": "ping"}) == {"pong": p.pid}
        for cid in ids:
            assert ask_plain({"command": "delete-course", "id": cid}) == {"deleted": cid}
        assert ask_plain({"command": "delete-course", "id": ids[0]}) == {"gone": ids[0]}
        assert "error" in ask_plain({"command": "nosuch"})
        assert "error" in ask_plain({"nocommand": 1})
        assert ask_plain({"command": "delete-category", "id": cat}) == {"deleted": cat}
        p.stdin.close()
        assert p.wait(timeout=30) == 0
        assert "SESSIONARCHIVER-JSON" not in p.stdout.read()
    finally:
        p.kill()
        answers.close()
    assert all(site.course(c) is None for c in ids)
    assert not any(recyclebin_files(site, c) for c in ids)


# ------------------------------------------------------------------ backup, one-shot and in a worker
MIB = 1 << 20


class Worker:
    """`sessionarchiver-bridge.php worker` as the C tool runs it: requests on stdin, answers on
    fd 3, stdout and stderr together in one pipe."""

    def __init__(self, site):
        rfd, wfd = os.pipe()
        self.p = subprocess.Popen(["php", str(BRIDGE), "--moodle=%s" % site.site_dir, "--recyclebin=no",
                                   "worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, close_fds=False, cwd="/",
                                  preexec_fn=lambda: os.dup2(wfd, 3))
        os.close(wfd)
        self.answers = os.fdopen(rfd)

    def ask(self, **req):
        """The answer, or None when the worker ended without one."""
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        line = self.answers.readline()
        return json.loads(line) if line else None

    def close(self):
        """(exit status, output)."""
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        status = self.p.wait(timeout=30)
        out = self.p.stdout.read()
        self.answers.close()
        return status, out

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


@pytest.fixture
def worker(site):
    made = []

    def start():
        made.append(Worker(site))
        return made[-1]
    yield start
    for w in made:
        w.kill()
    site.clear_faults()
    site.set_costs(0, 0)


@pytest.fixture(scope="module")
def bk_courses(site):
    cat = site.add_category("Backups")
    return [site.add_course(cat, "BK-%d" % i, "Sauvegarde %d & <b>co</b>" % i,
                            files=[("a.txt", b"a" * (1000 + i)), ("b.bin", 3000 + i)], activities=("label",))
            for i in range(3)]


def normalized_members(mbz):
    """[(name, type, size, content)] of an .mbz, with what depends on the moment (times, the backup's
    random id, the date in the file name) blanked out."""
    out = []
    with tarfile.open(mbz) as tf:
        for m in tf.getmembers():
            data = tf.extractfile(m).read() if m.isfile() else b""
            data = re.sub(rb"\b1[0-9]{9}\b", b"T", data)
            data = re.sub(rb"\b[0-9]{8}-[0-9]{4}\b", b"D", data)
            data = re.sub(rb'backup_id="[0-9a-f]{32}"', b"B", data)
            out.append((m.name, m.type, m.size, data))
    return out


def backup_settings(mbz):
    with tarfile.open(mbz) as tf:
        info = ET.fromstring(tf.extractfile("moodle_backup.xml").read()).find("information")
    return [tuple(e.text for e in s) for s in info.find("settings")]


def test_backup_one_shot(site, bk_courses, tmp_path):
    cid = bk_courses[0]
    j = ok(site, "backup", "--id=%d" % cid, "--destination=%s/" % tmp_path)
    assert re.fullmatch(r"backup-moodle2-course-%d-bk-0-\d{8}-\d{4}\.mbz" % cid, j["name"]), j
    assert j["file"] == "%s/%s" % (tmp_path, j["name"]) and os.listdir(tmp_path) == [j["name"]]
    assert j["size"] == os.path.getsize(j["file"]) > 0
    assert fails(site, "backup", "--id=999999", "--destination=%s" % tmp_path)["errorcode"] == "invalidcourseid"
    assert fails(site, "backup", "--id=1", "--destination=%s" % tmp_path)["errorcode"] == "invalidcourseid"
    j = fails(site, "backup", "--id=%d" % cid, "--destination=%s/nope" % tmp_path)
    assert j == {"error": "Destination directory does not exists or not writable.", "errorcode": "invaliddestination"}
    assert "--destination=<value>" in fails(site, "backup", "--id=%d" % cid)["error"]
    # the backup area keeps only its '.' row; the content went to the trash
    rows = site.query("SELECT * FROM {files} WHERE component = 'backup' AND contextid = %s",
                      (site.context(50, cid)["id"],))
    assert rows and all(r["filename"] == "." for r in rows)


def test_backup_too_long_a_name_stays_in_the_backup_area(site, tmp_path):
    cat = site.add_category("Long names")
    cid = site.add_course(cat, "L" * 240, "Long")
    j = fails(site, "backup", "--id=%d" % cid, "--destination=%s" % tmp_path)
    assert j["errorcode"] == "cannotcopybackup"
    # backup.php's words, then PHP's reason
    assert j["error"].startswith("Destination directory does not exist or is not writable. Leaving the backup in "
                                 "the course backup file area. (")
    assert "File name too long" in j["error"]
    assert os.listdir(tmp_path) == []
    kept = site.query("SELECT * FROM {files} WHERE component = 'backup' AND contextid = %s AND filename <> '.'",
                      (site.context(50, cid)["id"],))
    assert len(kept) == 1 and kept[0]["filesize"] > 0 and kept[0]["filename"].startswith("backup-moodle2-")


def test_worker_backups_like_backup_php(site, bk_courses, tmp_path, worker):
    """Two backups by one process, each the same archive as backup.php's."""
    w = worker()
    pid = w.ask(command="ping")["pong"]
    got = []
    for cid in bk_courses[:2]:
        dest = tmp_path / ("w%d" % cid)
        dest.mkdir()
        a = w.ask(command="backup", id=cid, destination=str(dest))
        assert set(a) == {"file", "name", "size", "peak_memory", "memory"}, a
        assert os.listdir(dest) == [a["name"]] and a["file"] == str(dest / a["name"])
        assert a["size"] == os.path.getsize(a["file"])
        got.append(a)
    assert w.ask(command="ping")["pong"] == pid == w.p.pid
    assert w.close() == (0, "")

    for cid, a in zip(bk_courses, got):
        dest = tmp_path / ("cli%d" % cid)
        dest.mkdir()
        r = site.php("backup.php", "--courseid=%d" % cid, "--destination=%s" % dest)
        assert r.returncode == 0, r.stdout + r.stderr
        cli = str(dest / os.listdir(dest)[0])
        assert re.sub(r"\d{8}-\d{4}", "D", os.path.basename(cli)) == re.sub(r"\d{8}-\d{4}", "D", a["name"])
        assert normalized_members(a["file"]) == normalized_members(cli)
        settings = backup_settings(a["file"])
        assert ("root", "filename", a["name"]) in settings
        assert [x for x in settings if x[1] != "filename"] == [x for x in backup_settings(cli) if x[1] != "filename"]


def test_worker_backup_errors_keep_the_worker(site, bk_courses, tmp_path, worker):
    w = worker()
    a = w.ask(command="backup", id=999999, destination=str(tmp_path))
    assert a["errorcode"] == "invalidcourseid" and a["peak_memory"] >= a["memory"] > 0
    assert w.ask(command="backup", id=bk_courses[0], destination=str(tmp_path / "nope"))["errorcode"] \
        == "invaliddestination"
    site.set_fault(bk_courses[0], "backup", "exit1")
    a = w.ask(command="backup", id=bk_courses[0], destination=str(tmp_path))
    assert a["error"] == "Error writing to backup file" and a["errorcode"] == "errorwritingbackupfile"
    site.set_fault(bk_courses[0], "backup", "nofile")
    a = w.ask(command="backup", id=bk_courses[0], destination=str(tmp_path))
    assert "error" not in a and a["size"] == 0 and not os.path.exists(a["file"])
    assert os.listdir(tmp_path) == []
    a = w.ask(command="backup", id=bk_courses[1], destination=str(tmp_path))   # faults are per course
    assert os.listdir(tmp_path) == [a["name"]]
    assert w.ask(command="ping")["pong"] == w.p.pid
    assert w.close()[0] == 0


def test_worker_memory_figures_grow_with_a_leak(site, bk_courses, tmp_path, worker):
    w = worker()
    first = w.ask(command="ping")
    site.set_fault(bk_courses[0], "backup", "memory:50")
    a = w.ask(command="backup", id=bk_courses[0], destination=str(tmp_path))
    assert "error" not in a, a
    assert a["peak_memory"] >= first["peak_memory"] + 50 * MIB
    assert a["memory"] >= first["memory"] + 50 * MIB
    later = w.ask(command="ping")   # kept: a leak, not a peak
    assert later["memory"] >= first["memory"] + 50 * MIB and later["peak_memory"] >= a["peak_memory"]
    assert w.close()[0] == 0


@pytest.mark.parametrize("op", ["backup", "delete"])
def test_worker_fatal_error_ends_the_worker(site, bk_courses, tmp_path, worker, op):
    cat = site.add_category("Fatal %s" % op)
    cid = site.add_course(cat, "FATAL-%s" % op, "Fatal")
    w = worker()
    assert w.ask(command="ping")["pong"] == w.p.pid
    site.set_fault(cid, op, "fatal")
    if op == "backup":
        assert w.ask(command="backup", id=cid, destination=str(tmp_path)) is None
    else:
        assert w.ask(command="delete-course", id=cid) is None
    status, out = w.close()
    assert status == 255 and "PHP Fatal error" in out and "Allowed memory size" in out, (status, out)
    assert MARKER not in out
    assert os.listdir(tmp_path) == []
    assert site.course(cid) is not None


def test_backup_fatal_and_die_one_shot(site, tmp_path):
    """Faults act in the backup API: the bridge meets them as backup.php does."""
    cat = site.add_category("Fatal one-shot")
    cid = site.add_course(cat, "FATAL-1", "Fatal", files=[("a.bin", 50000)])
    site.set_fault(cid, "backup", "fatal")
    try:
        rc, j, out = run_bridge(site.site_dir, "backup", "--id=%d" % cid, "--destination=%s" % tmp_path)
        assert rc == 255 and "Allowed memory size" in j["error"] and j["errorcode"] == "", (rc, j, out)
        site.set_fault(cid, "backup", "die")
        r = subprocess.run(["php", str(BRIDGE), "--moodle=%s" % site.site_dir, "backup", "--id=%d" % cid,
                            "--destination=%s" % tmp_path], capture_output=True, text=True, timeout=60)
        assert r.returncode == -9 and MARKER not in r.stdout
        (half,) = os.listdir(tmp_path)
        assert 0 < os.path.getsize(tmp_path / half) < site.course_estimate(cid)
    finally:
        site.clear_faults()


def test_worker_pays_the_bootstrap_once(site, bk_courses, tmp_path, worker):
    site.set_costs(bootstrap_ms=300, work_ms=0)
    t = time.monotonic()
    for i, cid in enumerate(bk_courses):
        dest = tmp_path / ("o%d" % i)
        dest.mkdir()
        ok(site, "backup", "--id=%d" % cid, "--destination=%s" % dest)
    one_shot = time.monotonic() - t
    t = time.monotonic()
    w = worker()
    for i, cid in enumerate(bk_courses):
        dest = tmp_path / ("k%d" % i)
        dest.mkdir()
        assert "error" not in w.ask(command="backup", id=cid, destination=str(dest))
    assert w.close()[0] == 0
    in_worker = time.monotonic() - t
    assert one_shot >= 0.9 and 0.3 <= in_worker < one_shot - 0.3, (one_shot, in_worker)


def test_work_cost_is_paid_by_each_operation(site, bk_courses, tmp_path, worker):
    w = worker()
    w.ask(command="ping")
    site.set_costs(bootstrap_ms=0, work_ms=400)
    t = time.monotonic()
    assert "error" not in w.ask(command="backup", id=bk_courses[2], destination=str(tmp_path))
    assert time.monotonic() - t >= 0.4
    cat = site.add_category("Work cost")
    cid = site.add_course(cat, "WC-1", "Work cost")
    t = time.monotonic()
    assert w.ask(command="delete-course", id=cid)["deleted"] == cid
    assert time.monotonic() - t >= 0.4
    assert w.close()[0] == 0
