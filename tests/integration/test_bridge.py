"""moodle/bridge/sessionarchiver-bridge.php against the fake Moodle site (tests/fakemoodle).

The bridge is run exactly as the C tool runs it:
    php <repo>/moodle/bridge/sessionarchiver-bridge.php --moodle=<site_dir> COMMAND --opt=value...
and its answer is read the way the C tool reads it: the line after the marker line.

Run: cd /work/main && /usr/bin/python3 -m pytest -q tests/integration/test_bridge.py
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

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
        assert ask({"command": "ping"}) == {"pong": p.pid}
        for cid in ids:
            assert ask({"command": "delete-course", "id": cid}) == {"deleted": cid}
        assert ask({"command": "delete-course", "id": ids[0]}) == {"gone": ids[0]}
        assert "error" in ask({"command": "nosuch"})
        assert "error" in ask({"nocommand": 1})
        assert ask({"command": "delete-category", "id": cat}) == {"deleted": cat}
        p.stdin.close()
        assert p.wait(timeout=30) == 0
        assert "SESSIONARCHIVER-JSON" not in p.stdout.read()
    finally:
        p.kill()
        answers.close()
    assert all(site.course(c) is None for c in ids)
    assert not any(recyclebin_files(site, c) for c in ids)
