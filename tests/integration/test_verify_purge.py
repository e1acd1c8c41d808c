"""sessionarchiver verify and purge against two fake Moodle sites (real
MariaDB, real php, the fake's backup/restore/delete_course.php, the PHP
bridge). Each test archives and restores a small session for real first,
then verifies and purges it. Issue 7's "Done when", one test (or a few)
per point.

Run: SA_BUILD=/work/main/build/asan /usr/bin/python3 -m pytest -q tests/integration/test_verify_purge.py
"""

import json
import pathlib
import signal
import subprocess
import time

import pytest

from fakesite import FakeSite
from harness.build import CLI, sanitizer_env
from harness.platforms import (PHP, SESSION, TwoSites, hhmm, mail_conf,
                               needs_php, php_running, php_server,
                               write_secret)

REPO = pathlib.Path(__file__).resolve().parents[2]
WS_SERVER = REPO / "tests" / "fakemoodle" / "site" / "webservice" / "rest" \
    / "server.php"

pytestmark = needs_php


class World(TwoSites):
    """A source site with a session of 6 courses in 3 categories
    (2025-2026 > Sciences > Maths), an archive site with a target
    category, one store, one index, one config file. The session is
    archived and restored for real unless restored=False."""

    def __init__(self, mariadb, tmp_path):
        super().__init__(mariadb, tmp_path, "v")
        self.configure()

    def configure(self, source=None, **sections):
        """Writes sa.conf (0600): [store], [source], [archive] and the
        given sections. source: the [source] keys instead of moodle+php."""
        sections.setdefault("jobs", {})
        sections["jobs"].setdefault("timeout", "20s")
        sections["jobs"].setdefault("parallel", "2")
        archive = {"moodle": self.arc.site_dir, "php": PHP,
                   "target": "id:%d" % self.target}
        archive.update(sections.pop("archive", {}))
        if source is None:
            source = {"moodle": self.src.site_dir, "php": PHP}
        self.write_config({"source": source, "archive": archive,
                           **sections})

    # -------------------------------------------------------------- source
    def session(self):
        src = self.src
        root = src.add_category(SESSION, 0, idnumber=SESSION)
        sci = src.add_category("Sciences", root)
        maths = src.add_category("Maths", sci)
        self.cats = {"root": root, "Sciences": sci, "Maths": maths}
        self.ids = []
        for i, (cat, name) in enumerate([(root, "TOP"), (root, "TOP"),
                                         (sci, "SCI"), (sci, "SCI"),
                                         (maths, "MAT"), (maths, "MAT")]):
            self.ids.append(src.add_course(
                cat, "%s%d" % (name, i), "%s course %d" % (name, i),
                files=[("f%d.txt" % i, 300 + i)],
                activities=["page"] if i % 2 else ()))
        return self.ids

    def archive(self, *args, check=0):
        return self.sa("archive", SESSION, *args, check=check)

    def restore(self, *args, check=0):
        return self.sa("restore", SESSION, *args, check=check)

    def verify(self, *args, check=None):
        return self.sa("verify", SESSION, *args, check=check)

    def purge(self, *args, check=None, timeout=120):
        return self.sa("purge", SESSION, *args, check=check, timeout=timeout)

    # -------------------------------------------------------------- store
    def meta(self):
        return self.store / SESSION / ".session"

    def journal(self):
        out = []
        for p in sorted(self.meta().glob("journal-*.jsonl")):
            out += [json.loads(l) for l in p.read_text().splitlines()
                    if l.strip()]
        return out

    def events(self, name):
        return [e for e in self.journal() if e["event"] == name]

    def manifest(self):
        p = self.meta() / "manifest.jsonl"
        return {c["source_course_id"]: c for c in
                (json.loads(l) for l in p.read_text().splitlines()
                 if l.strip())}

    def backup_path(self, source_id):
        return self.store / SESSION / self.manifest()[source_id]["file"]

    def listing(self):
        r = self.sa("list", SESSION, "--json", check=0)
        return {c["source_course_id"]: c for c in json.loads(r.stdout)}

    def status(self):
        r = self.sa("status", SESSION, "--json", check=0)
        return json.loads(r.stdout)

    def verify_reports(self):
        return sorted(self.meta().glob("verify-*.json"))

    def archive_id(self, source_id):
        ev = [e for e in self.events("restore")
              if e["source_course_id"] == source_id]
        return ev[-1]["archive_course_id"]

    def root_on_archive(self):
        rows = self.arc.query("SELECT id FROM {course_categories}"
                              " WHERE parent = %s AND name = %s",
                              (self.target, SESSION))
        assert len(rows) == 1, rows
        return rows[0]["id"]

    def archive_category_of(self, source_id):
        return self.arc.course(self.archive_id(source_id))["category"]


def counts(site):
    return (site.query("SELECT COUNT(*) AS n FROM {course}")[0]["n"],
            site.query("SELECT COUNT(*) AS n FROM {course_categories}")
            [0]["n"])


def course_ids(site):
    return {c["id"] for c in site.query("SELECT id FROM {course}")}


def cat_ids(site):
    return {c["id"] for c in site.query("SELECT id FROM {course_categories}")}


@pytest.fixture
def world(moodle_server, tmp_path):
    w = World(moodle_server, tmp_path)
    try:
        w.session()
        yield w
    finally:
        w.destroy()


@pytest.fixture
def restored(world):
    world.archive()
    world.restore()
    return world


def summary_of(r):
    return r.stdout.splitlines()[0]


def assert_fail(world, r, summary):
    assert r.returncode != 0, r.stdout + r.stderr
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert summary_of(r) == summary, r.stdout + r.stderr
    report = (world.meta() / "report.txt").read_text()
    assert report.splitlines()[0] == summary
    last = world.events("verify_report")[-1]
    assert last["passed"] is False
    js = json.loads(world.verify_reports()[-1].read_text())
    assert js["passed"] is False and js["summary"] == summary
    return js


def results(js):
    return {(c["source_course_id"], c["archive_course_id"]): c
            for c in js["courses"]}


# ------------------------------------------------------------------ verify

def test_verify_pass(restored):
    w = restored
    r = w.verify(check=0)
    assert summary_of(r) == "PASS 6/6", r.stdout
    report = (w.meta() / "report.txt").read_text()
    assert report.splitlines()[0] == "PASS 6/6"
    reports = w.verify_reports()
    assert len(reports) == 1
    js = json.loads(reports[0].read_text())
    assert js["passed"] is True and js["total"] == 6
    assert js["counts"] == {"ok": 6, "missing": 0, "failed": 0,
                            "mismatch": 0, "new": 0, "extra": 0}
    assert js["summary"] == "PASS 6/6"
    assert sorted(c["source_course_id"] for c in js["courses"]) == \
        sorted(w.ids)
    for c in js["courses"]:
        assert c["result"] == "ok"
        assert c["archive_course_id"] == w.archive_id(c["source_course_id"])
    ev = w.events("verify_report")
    assert len(ev) == 1 and ev[0]["passed"] is True
    assert ev[0]["report"] == reports[0].name
    per = w.events("verify")
    assert sorted(e["source_course_id"] for e in per) == sorted(w.ids)
    assert {e["result"] for e in per} == {"ok"}
    listing = w.listing()
    assert {listing[i]["state"] for i in w.ids} == {"verified"}
    # --json: the same report
    r = w.verify("--json", check=0)
    js = json.loads(r.stdout)
    assert js["passed"] is True and js["summary"] == "PASS 6/6"
    assert js["counts"]["ok"] == 6


def test_verify_missing_and_failed(world):
    w = world
    ids = w.ids
    w.src.set_fault(ids[1], "backup", "exit1")        # failed
    w.archive(check=6)
    w.arc.set_fault(ids[2], "restore", "exception")   # missing: restore failed
    w.restore("--partial", check=6)
    js = assert_fail(w, w.verify(), "FAIL: 1 missing, 1 failed")
    res = {c["source_course_id"]: c for c in js["courses"]}
    assert res[ids[1]]["result"] == "failed"
    assert res[ids[2]]["result"] == "missing"
    assert "setting_invalid_text" in res[ids[2]]["detail"]
    assert "Error writing" in res[ids[1]]["detail"]
    assert js["counts"]["ok"] == 4 and js["total"] == 6
    # a course archived but never restored at all is missing too
    w.arc.clear_faults()
    w.src.clear_faults()
    w.archive("--retry-failed", check=0)
    js = assert_fail(w, w.verify(), "FAIL: 2 missing")
    res = {c["source_course_id"]: c for c in js["courses"]}
    assert res[ids[1]]["result"] == "missing"
    w.restore(check=0)
    js = assert_fail(w, w.verify(), "FAIL: 1 missing")
    w.restore("--retry-failed", check=0)
    assert summary_of(w.verify(check=0)) == "PASS 6/6"


def test_verify_mismatch_counts(restored):
    w = restored
    ids = w.ids
    aid = w.archive_id(ids[0])
    w.arc.query("INSERT INTO {course_sections} (course, section, summary,"
                " summaryformat, sequence, timemodified)"
                " VALUES (%s, 50, '', 0, '', 0)", (aid,))
    # an activity added on the source side after the restore
    w.src.query("INSERT INTO {course_modules} (course, module, instance,"
                " section, added) VALUES (%s, 1, 1, 1, 0)", (ids[3],))
    js = assert_fail(w, w.verify(), "FAIL: 2 mismatch")
    res = {c["source_course_id"]: c for c in js["courses"]}
    assert res[ids[0]]["result"] == "mismatch"
    assert "sections" in res[ids[0]]["detail"]
    assert res[ids[3]]["result"] == "mismatch"
    assert "activities" in res[ids[3]]["detail"]
    assert w.listing()[ids[0]]["state"] != "verified"
    assert w.listing()[ids[1]]["state"] == "verified"


def twin_sciences(w):
    """A second category Sciences beside the first, with two courses;
    returns (its id, the course ids)."""
    twin = w.src.add_category("Sciences", w.cats["root"])
    ids = [w.src.add_course(twin, "TWIN%d" % i, "Twin course %d" % i,
                            files=[("w%d.txt" % i, 500 + i)])
           for i in range(2)]
    return twin, ids


def test_sibling_categories_of_one_name_kept_apart(world):
    w = world
    twin, twin_ids = twin_sciences(w)
    r = w.archive()
    assert "archived as 'Sciences (%d)'" % twin in r.stderr
    man = w.manifest()
    assert man[w.ids[2]]["category_names"] == ["Sciences"]
    assert man[twin_ids[0]]["category_names"] == ["Sciences (%d)" % twin]
    w.restore()
    names = sorted(c["name"] for c in w.arc.query(
        "SELECT name FROM {course_categories} WHERE parent = %s",
        (w.root_on_archive(),)))
    assert names == ["Sciences", "Sciences (%d)" % twin]
    assert summary_of(w.verify(check=0)) == "PASS 8/8"


def test_verify_sees_two_source_categories_merged_into_one(world):
    """An archive made before twins were kept apart: both Sciences in one
    category on the archive. Each course matches; the tree does not."""
    w = world
    twin, twin_ids = twin_sciences(w)
    w.archive()
    p = w.meta() / "manifest.jsonl"
    lines = [json.loads(l) for l in p.read_text().splitlines() if l.strip()]
    for line in lines:
        if line.get("category_names") == ["Sciences (%d)" % twin]:
            line["category_names"] = ["Sciences"]
    p.write_text("".join(json.dumps(l) + "\n" for l in lines))
    w.restore()
    js = assert_fail(w, w.verify(), "FAIL: 2 mismatch")
    res = {c["source_course_id"]: c for c in js["courses"]}
    for cid in twin_ids:
        assert res[cid]["result"] == "mismatch"
        assert "two source categories" in res[cid]["detail"], res[cid]


def test_verify_mismatch_category(restored):
    w = restored
    ids = w.ids
    aid = w.archive_id(ids[4])
    was = w.arc.course(aid)["category"]
    w.arc.query("UPDATE {course} SET category = %s WHERE id = %s",
                (w.target, aid))
    js = assert_fail(w, w.verify(), "FAIL: 1 mismatch")
    c = {c["source_course_id"]: c for c in js["courses"]}[ids[4]]
    assert c["result"] == "mismatch" and c["archive_course_id"] == aid
    assert "category" in c["detail"] and str(was) in c["detail"]
    # a course deleted from the archive is a mismatch too
    w.arc.query("UPDATE {course} SET category = %s WHERE id = %s", (was, aid))
    w.arc.delete_course(aid)
    js = assert_fail(w, w.verify(), "FAIL: 1 mismatch")
    c = {c["source_course_id"]: c for c in js["courses"]}[ids[4]]
    assert "gone" in c["detail"]


def test_verify_new_and_extra(restored):
    w = restored
    new = w.src.add_course(w.cats["Maths"], "NEW1", "New course")
    root = w.root_on_archive()
    extra = w.arc.add_course(root, "EXTRA1", "Extra course")
    js = assert_fail(w, w.verify(), "FAIL: 1 new, 1 extra")
    res = results(js)
    assert res[(new, None)]["result"] == "new"
    assert res[(None, extra)]["result"] == "extra"
    assert js["counts"]["ok"] == 6 and js["total"] == 7


def test_verify_deep_corrupted_backup(restored):
    w = restored
    ids = w.ids
    assert summary_of(w.verify("--deep", check=0)) == "PASS 6/6"
    # a flipped byte in the gzip header's mtime: readable, other checksum
    p = w.backup_path(ids[2])
    data = bytearray(p.read_bytes())
    assert data[:2] == b"\x1f\x8b"
    data[5] ^= 0x55
    p.write_bytes(bytes(data))
    assert summary_of(w.verify(check=0)) == "PASS 6/6"   # not deep
    js = assert_fail(w, w.verify("--deep"), "FAIL: 1 mismatch")
    c = {c["source_course_id"]: c for c in js["courses"]}[ids[2]]
    assert c["result"] == "mismatch"
    assert "SHA-256" in c["detail"] and p.name in c["detail"], c
    assert js["deep"] is True
    # a byte flipped in the middle of the compressed data
    p = w.backup_path(ids[3])
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xff
    p.write_bytes(bytes(data))
    js = assert_fail(w, w.verify("--deep"), "FAIL: 2 mismatch")
    c = {c["source_course_id"]: c for c in js["courses"]}[ids[3]]
    assert c["result"] == "mismatch" and p.name in c["detail"], c
    # a course already in mismatch with a bad backup: one line, both reasons
    w.arc.query("UPDATE {course} SET category = %s WHERE id = %s",
                (w.target, w.archive_id(ids[2])))
    js = assert_fail(w, w.verify("--deep"), "FAIL: 2 mismatch")
    assert len(js["courses"]) == js["total"] == 6
    assert sum(js["counts"].values()) == 6
    c = {c["source_course_id"]: c for c in js["courses"]}[ids[2]]
    assert "category" in c["detail"] and "SHA-256" in c["detail"], c


# ------------------------------------------------------------------ web services
def test_verify_through_web_services(restored):
    if not WS_SERVER.exists():
        pytest.skip("no web-service backend yet: %s missing" % WS_SERVER)
    if not hasattr(FakeSite, "create_ws_token"):
        pytest.skip("the fake site cannot make web-service tokens yet")
    w = restored
    token = w.src.create_ws_token()
    tf = write_secret(w.tmp / "src.token", token)
    with php_server(w.src.site_dir, w.tmp / "php-s.log") as url:
        w.configure(source={"url": url, "token_file": tf})
        r = w.verify(check=0)
        assert summary_of(r) == "PASS 6/6", r.stdout + r.stderr
        assert token not in r.stdout + r.stderr
        # and a failure is seen the same way
        new = w.src.add_course(w.cats["Sciences"], "NEWWS", "New WS course")
        js = assert_fail(w, w.verify(), "FAIL: 1 new")
        assert results(js)[(new, None)]["result"] == "new"
    assert w.events("verify_report")[0]["passed"] is True


# ------------------------------------------------------------------ purge: preview
def test_purge_preview(restored):
    w = restored
    ids = w.ids
    w.verify(check=0)
    new = w.src.add_course(w.cats["Maths"], "NEW1", "New course")
    before = counts(w.src), counts(w.arc)
    r = w.purge("--side", "source", "--preview", check=0)
    out = r.stdout
    for i in ids:
        c = w.src.course(i)
        assert "%d" % i in out and c["shortname"] in out and \
            c["fullname"] in out, out
    assert "NEW1" in out and "new" in out
    r = w.purge("--side", "source", "--json", check=0)   # preview: default
    js = json.loads(r.stdout)
    assert js["session"] == SESSION and js["side"] == "source"
    assert sorted((c["id"], c["shortname"], c["fullname"])
                  for c in js["courses"]) == \
        sorted((i, w.src.course(i)["shortname"], w.src.course(i)["fullname"])
               for i in ids)
    for c in js["courses"]:
        assert c["source_course_id"] == c["id"]
    assert [(k["id"], k["shortname"]) for k in js["kept"]] == [(new, "NEW1")]
    assert "new" in js["kept"][0]["reason"]
    cats = [c["id"] for c in js["categories"]]
    # deepest first
    assert cats == [w.cats["Maths"], w.cats["Sciences"], w.cats["root"]]
    assert js["categories"][0]["path"].endswith("Maths")
    assert (counts(w.src), counts(w.arc)) == before
    # never verified / failed verify: kept with the reason
    w.arc.query("UPDATE {course} SET category = %s WHERE id = %s",
                (w.target, w.archive_id(ids[0])))
    w.verify(check=1)
    js = json.loads(w.purge("--side", "source", "--json", check=0).stdout)
    kept = {k["id"]: k["reason"] for k in js["kept"]}
    assert "mismatch" in kept[ids[0]] and ids[0] not in \
        [c["id"] for c in js["courses"]]
    # archive side: the restored copies under the session's category
    js = json.loads(w.purge("--side", "archive", "--json", check=0).stdout)
    # (the one moved out of the session's category is not in it)
    assert sorted(c["id"] for c in js["courses"]) == \
        sorted(w.archive_id(i) for i in ids[1:])
    assert js["categories"][-1]["id"] == w.root_on_archive()


def test_purge_dry_run(restored, smtp_server):
    w = restored
    w.configure(mail=mail_conf(smtp_server.url))
    w.verify(check=0)
    before = counts(w.src), counts(w.arc)
    w.purge("--side", "source", "--dry-run", check=0)
    assert (counts(w.src), counts(w.arc)) == before
    st = w.status()
    # the brief says "purge"; the code names it "purge-dry-run" (7d0cd7f)
    assert st["operation"] in ("purge", "purge-dry-run"), st
    assert st["state"] == "finished", st
    smtp_server.wait_for(2)
    subj = [m.message["Subject"] for m in smtp_server.messages]
    assert subj and all("purge (dry run)" in s for s in subj), subj
    ev = w.events("purge")
    assert sorted(e["source_course_id"] for e in ev) == sorted(w.ids)
    assert all(e["dry_run"] is True for e in ev)
    assert {c["state"] for c in w.listing().values()} == {"verified"}
    # the archive side too
    n = len(smtp_server.messages)
    w.purge("--side", "archive", "--dry-run", check=0)
    assert (counts(w.src), counts(w.arc)) == before
    smtp_server.wait_for(n + 1)
    assert all("purge (dry run)" in m.message["Subject"]
               for m in smtp_server.messages[n:])
    assert all(e["dry_run"] is True for e in w.events("purge"))
    assert not list(pathlib.Path(w.src.dataroot, "recyclebin").glob("*")) \
        if pathlib.Path(w.src.dataroot, "recyclebin").exists() else True


# ------------------------------------------------------------------ purge: the gate
def test_source_purge_gate(restored):
    w = restored
    ids = w.ids
    before = counts(w.src)
    r = w.purge("--side", "source", "--confirm", check=4)
    assert "never verified" in r.stderr
    assert counts(w.src) == before
    # a failed verify does not unlock it
    w.arc.query("UPDATE {course} SET category = %s WHERE id = %s",
                (w.target, w.archive_id(ids[0])))
    w.verify(check=1)
    r = w.purge("--side", "source", "--confirm", check=4)
    assert "failed" in r.stderr
    w.arc.query("UPDATE {course} SET category = %s WHERE id = %s",
                (w.archive_category_of(ids[1]), w.archive_id(ids[0])))
    w.verify(check=0)
    # a course added, archived and restored after the verify
    late = w.src.add_course(w.cats["Sciences"], "LATE1", "Late course")
    w.archive(check=0)
    time.sleep(1.1)      # the restore in a later second than the verify
    w.restore(check=0)
    r = w.purge("--side", "source", "--confirm", check=4)
    assert "restored after" in r.stderr
    assert counts(w.src) == (before[0] + 1, before[1])
    # a new pass, then a course created after it: kept with its category
    w.verify(check=0)
    kept_cat = w.src.add_category("Chimie", w.cats["Sciences"])
    new = w.src.add_course(kept_cat, "NEW1", "New course")
    src_cats = cat_ids(w.src)
    r = w.purge("--side", "source", "--confirm", check=0)
    left = course_ids(w.src)
    for i in ids + [late]:
        assert i not in left, i
    assert new in left and 1 in left
    gone_cats = src_cats - cat_ids(w.src)
    assert gone_cats == {w.cats["Maths"]}, gone_cats
    for c in (w.cats["root"], w.cats["Sciences"], kept_cat):
        assert w.src.category(c) is not None
    ev = w.events("purge")
    assert sorted(e["source_course_id"] for e in ev) == sorted(ids + [late])
    assert all(e["dry_run"] is False and e["side"] == "source" for e in ev)
    listing = w.listing()
    assert {listing[i]["state"] for i in ids + [late]} == {"purged"}
    # the archive still holds every course
    for i in ids + [late]:
        assert w.arc.course(w.archive_id(i)) is not None
    # recycle bin off by default
    rb = pathlib.Path(w.src.dataroot, "recyclebin")
    assert not rb.exists() or list(rb.iterdir()) == []


def test_gate_restore_and_verify_in_the_same_second(restored):
    """A verify that ran after the last restore unlocks the purge even
    when both fall in the same second of the journal's clock."""
    w = restored
    w.verify(check=0)
    last_restore = max(e["time"] for e in w.events("restore"))
    for p in w.meta().glob("journal-*.jsonl"):
        lines = p.read_text().splitlines()
        out = []
        for l in lines:
            e = json.loads(l)
            if e["event"] in ("verify", "verify_report"):
                e["time"] = last_restore
            out.append(json.dumps(e))
        p.write_text("\n".join(out) + "\n")
    w.sa("index", "--rebuild", check=0)
    r = w.purge("--side", "source", "--confirm", check=0)
    assert not set(w.ids) & course_ids(w.src), r.stderr


def test_archive_copy_deleted_between_verify_and_purge(restored):
    w = restored
    ids = w.ids
    w.verify(check=0)
    aid = w.archive_id(ids[5])
    w.arc.delete_course(aid)
    r = w.purge("--side", "source", "--confirm", check=6)
    assert str(aid) in r.stderr and "no longer on the archive" in r.stderr
    left = course_ids(w.src)
    assert ids[5] in left
    assert not set(ids[:5]) & left
    # its category (and the ancestors) stay
    for c in w.cats.values():
        assert w.src.category(c) is not None
    ev = w.events("purge")
    assert sorted(e["source_course_id"] for e in ev) == sorted(ids[:5])
    assert w.listing()[ids[5]]["state"] != "purged"


def test_purge_killed_then_resumed(restored):
    w = restored
    ids = w.ids
    w.configure(jobs={"parallel": "1"})
    w.verify(check=0)
    w.src.set_fault("*", "delete", "slow:0.5")
    log = open(w.tmp / "purge-bg.log", "w+")
    proc = subprocess.Popen([str(CLI), "-c", str(w.conf), "purge", SESSION,
                             "--side", "source", "--confirm"],
                            stdout=subprocess.DEVNULL, stderr=log,
                            env=sanitizer_env())
    try:
        deadline = time.monotonic() + 60
        while len(w.events("purge")) < 2:
            assert proc.poll() is None, "purge ended before the kill"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # in the middle of a delete
        time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    done_before = len(w.events("purge"))
    assert 2 <= done_before < 6
    # the bridge worker died with the purge (no orphan php goes on)
    assert not php_running("sessionarchiver-bridge.php", "--session=" + SESSION)
    # a kill between a delete's end and the journal line: the course is
    # gone, no line says so (deleted by hand here)
    journaled = {e["source_course_id"] for e in w.events("purge")}
    rest = [i for i in ids if i not in journaled]
    assert set(rest) <= course_ids(w.src)
    w.src.clear_faults()
    w.src.delete_course(rest[0])
    w.src.set_fault("*", "delete", "slow:0.5")
    r = w.purge("--side", "source", "--confirm", check=0, timeout=120)
    assert "Sanitizer" not in r.stderr
    ev = w.events("purge")
    per = sorted(e["source_course_id"] for e in ev)
    assert per == sorted(ids), (per, r.stderr)
    assert not set(ids) & course_ids(w.src)
    listing = w.listing()
    assert {listing[i]["state"] for i in ids} == {"purged"}
    for c in w.cats.values():
        assert w.src.category(c) is None
    assert w.status()["state"] == "finished"
    # once more: the session was purged already, nothing to do
    r = w.purge("--side", "source", "--confirm", check=0)
    assert "was purged already on the source side" in r.stderr, r.stderr
    assert sorted(e["source_course_id"] for e in w.events("purge")) == sorted(ids)


def test_archive_side_purge(restored):
    w = restored
    ids = w.ids
    root = w.root_on_archive()
    arc_cats = {c["id"] for c in w.arc.query(
        "SELECT id FROM {course_categories} WHERE path LIKE %s",
        ("%%/%d%%" % root,))}
    assert len(arc_cats) == 3
    other = w.arc.add_course(w.target, "KEEP", "Another session's course")
    src_before = counts(w.src)
    w.purge("--side", "archive", "--confirm", check=0)
    for i in ids:
        assert w.arc.course(w.archive_id(i)) is None
    assert not arc_cats & cat_ids(w.arc)
    assert w.arc.category(w.target) is not None
    assert w.arc.course(other) is not None
    assert counts(w.src) == src_before
    ev = w.events("purge")
    assert sorted(e["source_course_id"] for e in ev) == sorted(ids)
    assert all(e["side"] == "archive" and not e["dry_run"] for e in ev)
    listing = w.listing()
    assert {listing[i]["state"] for i in ids} == {"purged"}
    rb = pathlib.Path(w.arc.dataroot, "recyclebin")
    assert not rb.exists() or list(rb.iterdir()) == []
    r = w.purge("--side", "archive", "--confirm", check=0)
    assert "was purged already on the archive side" in r.stderr, r.stderr
    assert len(w.events("purge")) == len(ids)


def test_purge_no_wait_outside_the_window_waits(restored):
    """Recorded as archive and restore record theirs: waiting-window, not
    finished, while every course remains."""
    w = restored
    now = time.time()
    w.configure(window={"hours": "%s-%s" % (hhmm(now + 7200),
                                            hhmm(now + 10800))})
    r = w.purge("--side", "archive", "--confirm", "--no-wait", check=3)
    assert "outside the hour window" in r.stderr
    st = w.status()
    assert (st["operation"], st["state"]) == ("purge", "waiting-window"), st
    assert w.events("purge") == []
    for i in w.ids:
        assert w.arc.course(w.archive_id(i)) is not None


def test_a_control_line_runs_the_subcommand_it_means(restored):
    """`control SESSION LINE`, what the mount runs for a control write,
    is the subcommand its line means; a line that does not parse exits 2
    and starts nothing."""
    w = restored
    for bad in ("purge source", "purge source confirm now", "archve",
                "restore target=x:1", "verify jobs=2", ""):
        r = w.sa("control", SESSION, bad, check=2)
        assert "control '%s': " % bad in r.stderr, r.stderr
    assert w.events("purge") == [] and w.events("verify_report") == []
    via_control = w.sa("control", SESSION, "verify", check=0)
    direct = w.verify(check=0)
    assert via_control.stdout.splitlines()[0] == \
        direct.stdout.splitlines()[0] == "PASS %d/%d" % (len(w.ids),
                                                         len(w.ids))
    assert len(w.events("verify_report")) == 2
    preview = w.sa("control", SESSION, "purge archive preview", "--json",
                   check=0)
    assert json.loads(preview.stdout) == json.loads(
        w.purge("--side", "archive", "--preview", "--json", check=0).stdout)
    assert w.events("purge") == []


def test_archive_side_purge_records_a_copy_already_gone(restored):
    """A run killed between a delete and its journal line: the next
    archive-side purge records the course that is already gone."""
    w = restored
    gone = w.ids[0]
    aid = w.archive_id(gone)
    w.arc.delete_course(aid)
    assert w.arc.course(aid) is None
    w.purge("--side", "archive", "--confirm", check=0)
    ev = w.events("purge")
    assert sorted(e["source_course_id"] for e in ev) == sorted(w.ids)
    assert w.listing()[gone]["state"] == "purged"


def test_recyclebin_switch(restored):
    w = restored
    w.configure(purge={"recyclebin": "yes"})
    w.verify(check=0)
    w.purge("--side", "source", "--confirm", check=0)
    rb = pathlib.Path(w.src.dataroot, "recyclebin")
    got = sorted(p.name for p in rb.iterdir())
    assert len(got) == 6, got
    for i in w.ids:
        assert any(n.startswith("course-%d-" % i) for n in got), (i, got)


def test_remove_backups(restored):
    w = restored
    ids = w.ids
    w.verify(check=0)
    aid = w.archive_id(ids[0])
    w.arc.delete_course(aid)
    paths = {i: w.backup_path(i) for i in ids}
    assert all(p.exists() for p in paths.values())
    w.purge("--side", "source", "--confirm", "--remove-backups", check=6)
    assert paths[ids[0]].exists()
    for i in ids[1:]:
        assert not paths[i].exists(), i
    # nothing else was removed from the store
    assert (w.meta() / "manifest.jsonl").exists()
    assert w.listing()[ids[0]]["state"] != "purged"
    # usage: only with --side source --confirm
    w.purge("--side", "source", "--dry-run", "--remove-backups", check=2)
    w.purge("--side", "archive", "--confirm", "--remove-backups", check=2)


HTML_FULLNAME = 'Histoire "moderne" & Géographie <b>'


def test_cycle_with_an_html_fullname(world):
    """Issue 11's "Done when": a session holding a course whose fullname
    Moodle's restore_backup.php refuses is archived, restored completely
    (that one with its cleaned fullname), verified PASS and purged on the
    source: all its courses gone, the archive copies kept, its categories
    deleted bottom up, nothing left in the recycle bin (recyclebin = no)."""
    w = world
    html = w.src.add_course(w.cats["Sciences"], "HIST-25", HTML_FULLNAME,
                            files=[("h.txt", 500)])
    ids = w.ids + [html]
    w.configure(purge={"recyclebin": "no"})
    w.archive(check=0)
    w.restore(check=0)
    aid = w.archive_id(html)
    assert w.arc.course(aid)["fullname"] == HTML_FULLNAME.replace("<b>", "")
    r = w.verify(check=0)
    js = json.loads(w.verify_reports()[-1].read_text())
    assert js["passed"] is True, js
    line = [c for c in js["courses"] if c["source_course_id"] == html][0]
    assert line["result"] == "ok" and "cleaned" in line["detail"], line
    assert "cleaned" in (w.meta() / "report.txt").read_text()
    arc_copies = {i: w.archive_id(i) for i in ids}
    w.purge("--side", "source", "--confirm", check=0)
    assert not set(ids) & course_ids(w.src)
    for c in w.cats.values():
        assert w.src.category(c) is None
    assert all(w.arc.course(a) is not None for a in arc_copies.values())
    rb = pathlib.Path(w.src.dataroot, "recyclebin")
    assert not rb.exists() or list(rb.iterdir()) == []
    assert sorted(e["source_course_id"] for e in w.events("purge")) == sorted(ids)
    assert not php_running("sessionarchiver-bridge.php", "--session=" + SESSION, wait=0)


def test_purge_finishes_a_course_delete_course_php_left_half_deleted(restored):
    """What Moodle 4.5.6's delete_course.php --disablerecyclebin leaves (the
    course half emptied, still there) is deleted whole by the purge, and
    recorded once."""
    w = restored
    w.verify(check=0)
    victim = w.ids[0]
    r = w.src.php("delete_course.php", "--courseid=%d" % victim,
                  "--non-interactive", "--disablerecyclebin")
    assert r.returncode != 0 and "course_get_format" in r.stdout + r.stderr
    assert w.src.course(victim) is not None
    w.purge("--side", "source", "--confirm", check=0)
    assert not set(w.ids) & course_ids(w.src)
    ev = [e for e in w.events("purge") if e["source_course_id"] == victim]
    assert len(ev) == 1 and ev[0]["side"] == "source"


def test_purge_failure_keeps_moodles_words(restored):
    """The reason kept for a course Moodle would not delete is Moodle's
    own message, not the start of its output."""
    w = restored
    w.verify(check=0)
    w.src.set_fault(w.ids[0], "delete", "exit1")
    r = w.purge("--side", "source", "--confirm", check=6)
    w.src.clear_faults()
    assert w.src.course(w.ids[0]) is not None
    assert "not deleted: Moodle did not delete it: Error writing to database" in r.stderr, r.stderr
    assert w.listing()[w.ids[0]]["state"] != "purged"
    assert not set(w.ids[1:]) & course_ids(w.src)


def test_purge_deletes_again_after_a_database_deadlock(restored):
    """Two deletes at once can meet on a lock: the database rolls one
    back ("try restarting transaction"); purge deletes that course again,
    up to three attempts, then reports the database's words."""
    w = restored
    w.verify(check=0)
    w.src.set_fault(w.ids[0], "delete", "deadlock:2")
    w.src.set_fault(w.ids[1], "delete", "deadlock:9")
    r = w.purge("--side", "source", "--confirm", check=6)
    assert "course %d: the database gave up a transaction" % w.ids[0] \
        in r.stderr, r.stderr
    assert w.src.course(w.ids[0]) is None
    assert w.src.course(w.ids[1]) is not None
    assert "Deadlock found when trying to get lock" in r.stderr, r.stderr
    assert r.stderr.count("course %d: the database gave up" % w.ids[1]) == 2
    w.src.clear_faults()
    w.purge("--side", "source", "--confirm", check=0)
    assert not set(w.ids) & course_ids(w.src)
