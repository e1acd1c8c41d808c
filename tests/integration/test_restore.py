"""sessionarchiver restore against two fake Moodle sites (real MariaDB,
real php, the fake's restore_backup.php, the PHP bridge): the source site
is archived for real first, so the store holds a real manifest and journal,
then the session is restored on the archive site. Issue 6's "Done when",
one test (or a few) per point.

Run: SA_BUILD=/work/main/build/asan /usr/bin/python3 -m pytest -q tests/integration/test_restore.py
"""

import gzip
import hashlib
import json
import os
import random
import shutil
import time

import pytest

from harness.platforms import (PHP, SESSION, TwoSites, hhmm, mail_conf,
                               needs_php, php_running, wait_until)

HTML_FULLNAME = 'Histoire "moderne" & Géographie <b>'

pytestmark = needs_php


class World(TwoSites):
    """A source site with a session, an archive site with a target
    category, one store, one index, one config file."""

    def __init__(self, mariadb, tmp_path):
        super().__init__(mariadb, tmp_path, "r")
        self.sections = {}
        self.configure()
        self.sa("status", check=0)

    def configure(self, archive_moodle=None, **sections):
        """Writes sa.conf (0600): [store], [source], [archive] and the
        given sections; [jobs] timeout defaults to 5s."""
        sections.setdefault("jobs", {})
        sections["jobs"].setdefault("timeout", "5s")
        archive = {"moodle": archive_moodle or self.arc.site_dir,
                   "php": PHP, "target": "id:%d" % self.target}
        archive.update(sections.pop("archive", {}))
        self.write_config({"source": {"moodle": self.src.site_dir,
                                      "php": PHP},
                           "archive": archive, **sections})

    # -------------------------------------------------------------- source
    def session(self, n_top=2, n_sub=2, html=False):
        """The session category 2025-2026 with a sub-category Sciences
        and a sub-sub-category Maths; small courses. Returns the source
        course ids (and sets self.cats)."""
        root = self.src.add_category(SESSION, 0, idnumber=SESSION)
        sci = self.src.add_category("Sciences", root)
        maths = self.src.add_category("Maths", sci)
        self.cats = {"root": root, "Sciences": sci, "Maths": maths}
        ids = [self.src.add_course(root, "TOP%d" % i, "Top course %d" % i,
                                   files=[("t%d.txt" % i, 300 + i)])
               for i in range(n_top)]
        for i in range(n_sub):
            cat = sci if i % 2 == 0 else maths
            ids.append(self.src.add_course(
                cat, "SUB%d" % i, "Sub course %d" % i,
                files=[("s%d.txt" % i, 400 + i)]))
        if html:
            self.html_id = self.src.add_course(sci, "HIST-25", HTML_FULLNAME)
            ids.append(self.html_id)
        return ids

    def archive(self, check=0):
        return self.sa("archive", SESSION, check=check)

    # -------------------------------------------------------------- store
    def meta(self):
        return self.store / SESSION / ".session"

    def journal_lines(self, session=SESSION):
        out = []
        for p in sorted((self.store / session / ".session").glob(
                "journal-*.jsonl")):
            out += [json.loads(l) for l in p.read_text().splitlines()
                    if l.strip()]
        return out

    def manifest(self):
        p = self.meta() / "manifest.jsonl"
        return [json.loads(l) for l in p.read_text().splitlines()
                if l.strip()]

    def listing(self):
        r = self.sa("list", SESSION, "--json", check=0)
        return {c["source_course_id"]: c for c in json.loads(r.stdout)}

    def status(self):
        r = self.sa("status", SESSION, "--json")
        if r.returncode != 0 or not r.stdout.strip():
            return {}
        return json.loads(r.stdout)

    # -------------------------------------------------------------- archive
    def restore(self, *args, check=0, env=None, timeout=120):
        return self.sa("restore", SESSION, *args, check=check, env=env,
                       timeout=timeout)

    def arc_courses(self):
        return self.arc.courses()

    def arc_categories(self):
        return self.arc.query("SELECT id, name, parent FROM {course_categories}"
                              " ORDER BY id")

    def root_on_archive(self):
        rows = [c for c in self.arc_categories()
                if c["parent"] == self.target and c["name"] == SESSION]
        assert len(rows) == 1, rows
        return rows[0]["id"]

    def family(self, shortname):
        """Archive courses whose shortname is S or S_<n>."""
        out = []
        for c in self.arc_courses():
            s = c["shortname"]
            if s == shortname or (s.startswith(shortname + "_") and
                                  s[len(shortname) + 1:].isdigit()):
                out.append(c)
        return out

    def kill_restore_when(self, pred, what):
        """Runs restore in the background and kills it with -9 half a
        second after pred(its stderr so far) holds."""
        proc = self.popen("restore", SESSION)
        try:
            def ready():
                proc.logfile.seek(0)
                return pred(proc.logfile.read())
            wait_until(ready, what=what)
            time.sleep(0.5)
            proc.kill()
            self.finish(proc)
        finally:
            if proc.poll() is None:
                proc.kill()

    def placeholders(self):
        return self.arc.query("SELECT id, shortname FROM {course}"
                              " WHERE shortname LIKE 'restoring%%'")

    def assert_restored_once(self, ids, preexisting=()):
        """Each source course exactly once on the archive, mapped right,
        no placeholder left (courses in preexisting were there before)."""
        listing = self.listing()
        assert self.placeholders() == []
        for cid in ids:
            short = self.src.course(cid)["shortname"]
            fam = [c for c in self.family(short)
                   if c["id"] not in preexisting]
            assert len(fam) == 1, (short, fam)
            c = listing[cid]
            assert c["state"] == "restored", c
            assert c["archive_course_id"] == fam[0]["id"], (c, fam)
        return listing


@pytest.fixture
def world(moodle_server, tmp_path):
    w = World(moodle_server, tmp_path)
    try:
        yield w
    finally:
        w.destroy()


def arc_snapshot(site):
    return (site.query("SELECT id, name, parent FROM {course_categories}"
                       " ORDER BY id"),
            site.query("SELECT id, shortname, category FROM {course}"
                       " ORDER BY id"))


# ------------------------------------------------------------------ identity
def test_refused_on_the_source_site(world):
    world.session()
    world.archive()
    before_src, before_arc = arc_snapshot(world.src), arc_snapshot(world.arc)
    world.configure(archive_moodle=world.src.site_dir,
                    archive={"target": "id:%d" % world.cats["root"]})
    r = world.restore(check=4)
    assert "refused" in r.stderr and "source" in r.stderr, r.stderr
    assert arc_snapshot(world.src) == before_src
    assert arc_snapshot(world.arc) == before_arc
    assert not any(e["event"].startswith("restore")
                   for e in world.journal_lines())


def test_refused_on_another_site_than_configured(world):
    world.session()
    world.archive()
    before = arc_snapshot(world.arc)
    other = hashlib.md5(b"some other site").hexdigest()
    world.configure(archive={"site": other})
    r = world.restore(check=4)
    assert "refused" in r.stderr and other in r.stderr, r.stderr
    assert arc_snapshot(world.arc) == before
    # the right one (as md5 of the siteidentifier) is accepted
    world.configure(archive={"site": hashlib.md5(
        world.arc.siteidentifier.encode()).hexdigest()})
    world.restore(check=0)
    world.assert_restored_once(ids=[c["source_course_id"]
                                    for c in world.manifest()])


# ------------------------------------------------------------------ complete
def test_incomplete_archive_refused_then_partial(world):
    ids = world.session()
    world.src.set_fault(ids[1], "backup", "exit1")
    world.archive(check=6)
    assert not any(e["event"] == "archive_complete"
                   for e in world.journal_lines())
    before = arc_snapshot(world.arc)
    r = world.restore(check=4)
    assert "not complete" in r.stderr and "--partial" in r.stderr
    assert arc_snapshot(world.arc) == before
    world.restore("--partial", check=0)
    good = [i for i in ids if i != ids[1]]
    world.assert_restored_once(good)
    assert world.family(world.src.course(ids[1])["shortname"]) == []
    # archived in full later: the rest without --partial, nothing twice
    world.src.clear_faults()
    world.sa("archive", SESSION, "--retry-failed", check=0)
    assert any(e["event"] == "archive_complete"
               for e in world.journal_lines())
    world.restore(check=0)
    world.assert_restored_once(ids)


# ------------------------------------------------------------------ versions
def test_version_mismatch(world):
    ids = world.session(n_top=1, n_sub=1)
    world.archive()
    world.arc.query("UPDATE {config} SET value = '2024100799'"
                    " WHERE name = 'version'")
    before = arc_snapshot(world.arc)
    r = world.restore(check=4)
    assert "2024100799" in r.stderr and "2024100706" in r.stderr, r.stderr
    assert "--allow-version-mismatch" in r.stderr
    assert arc_snapshot(world.arc) == before
    world.restore("--allow-version-mismatch", check=0)
    world.assert_restored_once(ids)
    over = [e for e in world.journal_lines()
            if e["event"] == "version_override"]
    assert len(over) == 1, over
    assert "2024100799" in over[0]["here"]
    assert "2024100706" in over[0]["backups"]


# ------------------------------------------------------------------ tree
def test_mirrored_tree_reused_by_a_second_run(world):
    # a course on the archive first: archive ids differ from source ids
    world.arc.add_course(1, "OTHER", "Other course")
    ids = world.session(n_top=2, n_sub=2)
    world.archive()
    world.restore(check=0)
    root = world.root_on_archive()
    cats = {c["id"]: c for c in world.arc_categories()}
    listing = world.assert_restored_once(ids)
    want = {world.cats["root"]: [],
            world.cats["Sciences"]: ["Sciences"],
            world.cats["Maths"]: ["Sciences", "Maths"]}
    for cid in ids:
        names = want[world.src.course(cid)["category"]]
        arc_cat = world.arc.course(listing[cid]["archive_course_id"])[
            "category"]
        chain, at = [], arc_cat
        while at != root:
            chain.insert(0, cats[at]["name"])
            at = cats[at]["parent"]
            assert at, "restored outside the session root"
        assert chain == names, (cid, chain)
    # a new course on the source, archived, restored: categories reused
    new = world.src.add_course(world.cats["Maths"], "NEW1", "New course 1")
    world.archive()
    r = world.restore(check=0)
    assert "created category" not in r.stderr, r.stderr
    rows = world.arc.query("SELECT name, parent, COUNT(*) AS n FROM"
                           " {course_categories} GROUP BY name, parent")
    assert all(row["n"] == 1 for row in rows), rows
    assert len(world.arc_categories()) == 5  # Category 1, Archives, 3
    listing = world.assert_restored_once(ids + [new])
    maths = [c["id"] for c in cats.values() if c["name"] == "Maths"]
    assert world.arc.course(listing[new]["archive_course_id"])[
        "category"] == maths[0]


# ------------------------------------------------------------------ checksum
def test_checksum_mismatch_never_restored(world):
    ids = world.session(n_top=3, n_sub=0)
    world.archive()
    d = world.store / SESSION
    # the same backup, gzipped again: valid, restorable, but not the
    # bytes the source platform wrote
    raw = gzip.decompress((d / "TOP0.mbz").read_bytes())
    (d / "TOP0.mbz").write_bytes(gzip.compress(raw, mtime=12345))
    # a valid backup, but of another course
    shutil.copyfile(d / "TOP2.mbz", d / "TOP1.mbz")
    r = world.restore(check=4)
    assert "2 of the 3 backup(s) to restore fail the check" in r.stderr
    assert world.family("TOP2") == []
    world.restore("--partial", check=6)
    listing = world.listing()
    assert listing[ids[0]]["state"] == "failed"
    assert "checksum mismatch" in listing[ids[0]]["error"]
    assert world.family("TOP0") == []
    assert world.family("TOP1") == []
    assert len(world.family("TOP2")) == 1
    fails = {e["source_course_id"]: e for e in world.journal_lines()
             if e["event"] == "restore_failed"}
    assert sorted(fails) == sorted(ids[:2])
    assert all("checksum mismatch" in e["error"] for e in fails.values())
    # a flipped byte: unreadable or mismatching, never restored either
    data = bytearray((d / "TOP0.mbz").read_bytes())
    data[len(data) // 2] ^= 0x55
    (d / "TOP0.mbz").write_bytes(bytes(data))
    world.restore("--retry-failed", check=4)
    world.restore("--retry-failed", "--partial", check=6)
    assert world.family("TOP0") == [] and world.family("TOP1") == []
    assert world.placeholders() == []


# ------------------------------------------------------------------ failures
def test_restore_failure_forms(world):
    ids = world.session(n_top=3, n_sub=1, html=True)
    world.archive()
    world.src.clear_faults()
    world.arc.set_fault(ids[0], "restore", "exit1")
    world.arc.set_fault(ids[1], "restore", "hang")
    world.configure(jobs={"timeout": "2s"})
    t = time.monotonic()
    world.restore(check=6)
    assert time.monotonic() - t < 30
    listing = world.listing()
    want = {ids[0]: "Error writing to database", ids[1]: "timed out"}
    for cid, msg in want.items():
        c = listing[cid]
        assert c["state"] == "failed", c
        assert msg in c["error"], c
        assert c["archive_course_id"] is None
    assert world.placeholders() == []
    ok = [i for i in ids if i not in want]
    world.assert_restored_once(ok)
    assert world.arc.query("SELECT COUNT(*) AS n FROM {course}")[0]["n"] \
        == 1 + len(ok)  # the site course and the restored ones
    # a plain run leaves failed courses alone, exit 6 so that cron says
    # so; --retry-failed redoes them
    world.arc.clear_faults()
    r = world.restore(check=6)
    assert "2 course(s) failed earlier" in r.stderr
    world.restore("--retry-failed", check=0)
    world.assert_restored_once(ids)


def test_restore_checks_every_backup_before_making_anything(world):
    """One backup with a flipped byte, one cut short: restore names both
    and refuses before the archive site has a new category; --partial
    restores the others, names the two, exit 6."""
    ids = world.session(n_top=3, n_sub=3)
    world.archive()
    by_id = {m["source_course_id"]: m["file"] for m in world.manifest()}
    flipped = world.store / SESSION / by_id[ids[0]]
    cut = world.store / SESSION / by_id[ids[3]]
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x55
    flipped.write_bytes(bytes(data))
    cut.write_bytes(cut.read_bytes()[:-300])
    before = arc_snapshot(world.arc)
    r = world.restore(check=4)
    assert "2 of the 6 backup(s) to restore fail the check" in r.stderr
    assert "nothing was made on the archive platform" in r.stderr
    for f in (flipped, cut):
        assert f.name in r.stderr, r.stderr
    assert arc_snapshot(world.arc) == before

    r = world.restore("--partial", check=6)
    assert "not restored (--partial)" in r.stderr
    good = [i for i in ids if i not in (ids[0], ids[3])]
    world.assert_restored_once(good)
    listing = world.listing()
    for cid in (ids[0], ids[3]):
        assert listing[cid]["state"] == "failed", listing[cid]
        assert listing[cid]["error"], listing[cid]
    # a plain run leaves them to --retry-failed, and says so
    r = world.restore(check=6)
    assert "2 course(s) failed earlier" in r.stderr


def test_category_left_without_context_is_repaired(world):
    """A run killed while Moodle made the session's category leaves it
    without its context: the next restore has Moodle make the context,
    as Moodle does on first use, and restores into it."""
    ids = world.session(n_top=2, n_sub=0)
    world.archive()
    half = world.arc.add_category(SESSION, world.target)
    world.arc.query("DELETE FROM {context} WHERE contextlevel = 40"
                    " AND instanceid = %s", (half,))
    world.restore(check=0)
    listing = world.assert_restored_once(ids)
    assert {listing[i]["archive_course_id"] for i in ids} == \
        {c["id"] for c in world.arc.courses(half)}
    assert world.arc.query("SELECT COUNT(*) AS n FROM {context} WHERE"
                           " contextlevel = 40 AND instanceid = %s",
                           (half,))[0]["n"] == 1


def test_database_killed_mid_restore_stops_the_run(own_mariadb, tmp_path):
    """The archive site's database dies: the run stops after three courses
    in a row, exit 5, nothing failed, no placeholder left; the next plain
    run restores the rest, each course once."""
    w = World(own_mariadb, tmp_path)
    try:
        ids = w.session(n_top=6, n_sub=6)
        w.archive()
        w.configure(jobs={"parallel": 2})
        for cid in ids:
            w.arc.set_fault(cid, "restore", "slow:0.4")
        proc = w.popen("restore", SESSION)
        wait_until(lambda: sum(c["state"] == "restored"
                               for c in w.listing().values()) >= 2,
                   timeout=60, what="two courses restored")
        own_mariadb.kill()
        rc, err = w.finish(proc, timeout=90)
        assert rc == 5, err
        assert "stopping after 3 courses in a row" in err, err
        listing = w.listing()
        assert [c for c in listing.values() if c["state"] == "failed"] == []
        done = [i for i in ids if listing[i]["state"] == "restored"]
        assert 2 <= len(done) < len(ids), listing

        own_mariadb.start()
        w.src._conn = w.arc._conn = None  # died with the server
        w.arc.clear_faults()
        r = w.restore(check=0)
        assert "%d course(s)" % (len(ids) - len(done)) in r.stderr, r.stderr
        w.assert_restored_once(ids)
    finally:
        w.destroy()


@pytest.mark.parametrize("runner", ["cli", "worker"])
def test_html_fullname_restored_with_cleaned_names(world, runner):
    """Moodle's restore_backup.php refuses a tag in the course name
    (setting_invalid_text): the bridge restores it with the name PARAM_TEXT
    leaves, the original kept in the journal. A bridge worker restores
    every course that way."""
    ids = world.session(n_top=2, n_sub=1, html=True)
    world.archive()
    world.configure(jobs={"runner": runner})
    r = world.restore(check=0)
    if runner == "cli":
        assert "setting_invalid_text" in r.stderr
        assert "through the bridge" in r.stderr
    listing = world.assert_restored_once(ids)
    aid = listing[world.html_id]["archive_course_id"]
    assert world.arc.course(aid)["fullname"] == HTML_FULLNAME.replace("<b>", "")
    ev = [e for e in world.journal_lines() if e.get("event") == "restore"
          and e["source_course_id"] == world.html_id]
    assert len(ev) == 1 and ev[0]["archive_course_id"] == aid
    assert ev[0]["original_fullname"] == HTML_FULLNAME
    assert ev[0]["cleaned_fullname"] == HTML_FULLNAME.replace("<b>", "")
    assert "original_shortname" not in ev[0]
    plain = [e for e in world.journal_lines() if e.get("event") == "restore"
             and e["source_course_id"] != world.html_id]
    assert plain and not any("original_fullname" in e for e in plain)


def test_archive_again_after_a_failed_restore_adds_nothing(world):
    """A course whose restore failed is still archived: a later archive
    run neither redoes nor records it again (it once did: the state
    'failed' of the restore was read as a failed backup)."""
    ids = world.session(n_top=1, n_sub=1)
    world.archive()
    world.arc.set_fault(ids[0], "restore", "exit1")
    world.restore(check=6)
    before = world.manifest()
    r = world.archive()
    assert "nothing to do" in r.stderr, r.stderr
    assert world.manifest() == before
    ids = [line["source_course_id"] for line in before]
    assert len(ids) == len(set(ids))


def test_die_placeholder_then_next_run(world):
    ids = world.session(n_top=2, n_sub=1)
    world.archive()
    world.arc.set_fault(ids[0], "restore", "die-placeholder")
    world.restore(check=6)
    c = world.listing()[ids[0]]
    assert c["state"] == "failed" and c["archive_course_id"] is None, c
    # the half-made course does not outlive the run that saw Moodle die
    assert world.placeholders() == []
    world.arc.clear_faults()
    world.restore("--retry-failed", check=0)
    world.assert_restored_once(ids)


def test_placeholder_left_by_a_crash_is_deleted(world):
    """What a crash of both (tool and Moodle) between the creation of the
    course and its filling leaves: a restore_started without its end and
    Moodle's placeholder. The next plain run deletes it and restores the
    course once."""
    ids = world.session(n_top=2, n_sub=0)
    world.archive()
    root = world.arc.add_category(SESSION, world.target)
    ph = world.arc.add_course(root, "restoring",
                              "Course restoration in progress")
    site = hashlib.md5(world.arc.siteidentifier.encode()).hexdigest()
    with open(world.meta() / ("journal-%s.jsonl" % site), "a") as f:
        f.write(json.dumps({"event": "restore_started", "site": site,
                            "source_course_id": ids[0], "category_id": root,
                            "after_course_id": ph - 1, "v": 1,
                            "time": int(time.time())}) + "\n")
    r = world.restore(check=0)
    assert "placeholder" in r.stderr, r.stderr
    assert world.arc.course(ph) is None
    world.assert_restored_once(ids)


def test_die_after_restore_is_recorded_not_restored_twice(world):
    ids = world.session(n_top=2, n_sub=0)
    world.archive()
    world.arc.set_fault(ids[0], "restore", "die-after-restore")
    world.restore(check=0)
    fam = world.family("TOP0")
    assert len(fam) == 1
    assert world.listing()[ids[0]]["archive_course_id"] == fam[0]["id"]
    world.arc.clear_faults()
    world.restore("--retry-failed", check=0)
    world.restore(check=0)
    world.assert_restored_once(ids)


# ------------------------------------------------------------------ collisions
def test_name_collisions_renamed_and_mapped(world):
    ids = world.session(n_top=2, n_sub=0)
    world.archive()
    # the session root exists on the archive with a TOP0 in it already
    root = world.arc.add_category(SESSION, world.target)
    old = world.arc.add_course(root, "TOP0", "Top course 0")
    world.arc.add_course(1, "TOP1", "Something else")
    world.restore(check=0)
    assert world.root_on_archive() == root
    listing = world.listing()
    new0 = [c for c in world.family("TOP0") if c["id"] != old]
    assert [c["shortname"] for c in new0] == ["TOP0_1"]
    assert new0[0]["fullname"] == "Top course 0 copy 1"
    assert listing[ids[0]]["archive_course_id"] == new0[0]["id"]
    new1 = [c for c in world.family("TOP1") if c["category"] == root]
    assert [c["shortname"] for c in new1] == ["TOP1_1"]
    assert listing[ids[1]]["archive_course_id"] == new1[0]["id"]
    r = world.restore(check=0)
    assert "nothing to do" in r.stderr
    assert len(world.family("TOP0")) == 2


def test_crash_before_moodle_made_anything_with_a_namesake(world):
    """restore_started, then the tool dies before Moodle created the
    course; a course of that name sits in the category already: the next
    run must not take it for the restored one."""
    ids = world.session(n_top=1, n_sub=0)
    world.archive()
    root = world.arc.add_category(SESSION, world.target)
    old = world.arc.add_course(root, "TOP0", "Top course 0")
    world.arc.set_fault(ids[0], "restore", "hang")
    world.configure(jobs={"timeout": "60s"})
    world.kill_restore_when(lambda log: any(
        e["event"] == "restore_started" for e in world.journal_lines()),
        what="restore_started")
    # its restore_backup.php died with it
    assert not php_running("restore_backup.php", "--file=%s/%s/TOP0.mbz" % (
        world.store, SESSION))
    world.arc.clear_faults()
    world.restore(check=0)
    listing = world.listing()
    fam = world.family("TOP0")
    assert len(fam) == 2, fam
    assert listing[ids[0]]["archive_course_id"] != old
    assert listing[ids[0]]["archive_course_id"] in [c["id"] for c in fam]


def test_kill9_during_the_bridge_restore(world):
    """kill -9 while the bridge restores the course Moodle's script
    refused: the bridge dies with the run, the next run restores the
    course exactly once."""
    ids = world.session(n_top=1, n_sub=1, html=True)
    world.archive()
    world.arc.set_fault(world.html_id, "restore", "slow:3")
    # the one-shot bridge after restore_backup.php's refusal
    world.configure(jobs={"timeout": "60s", "parallel": "1",
                          "runner": "cli"})
    world.kill_restore_when(lambda log: "through the bridge" in log,
                            what="the bridge's restore")
    assert not php_running("sessionarchiver-bridge.php", "restore")
    assert not php_running("restore_backup.php")
    world.arc.clear_faults()
    world.restore(check=0)
    world.assert_restored_once(ids)
    ev = [e for e in world.journal_lines() if e.get("event") == "restore"
          and e["source_course_id"] == world.html_id]
    assert len(ev) == 1 and ev[0]["cleaned_fullname"] == HTML_FULLNAME.replace("<b>", "")


# ------------------------------------------------------------------ kill -9
def test_kill9_at_random_moments(world):
    rnd = random.Random(int(os.environ.get("SA_KILL_SEED", "7")))
    sessions = []
    for k in range(21):
        name = "%d-%d" % (2000 + k, 2001 + k)
        cat = world.src.add_category(name, 0)
        ids = [world.src.add_course(cat, "K%d_%d" % (k, i),
                                    "Kill %d course %d" % (k, i),
                                    files=[("k.txt", 200 + i)])
               for i in range(3)]
        world.sa("archive", name, check=0)
        # a namesake of the first course already in the category
        arc_root = world.arc.add_category(name, world.target)
        world.arc.add_course(arc_root, "K%d_0" % k, "Kill %d course 0" % k)
        for cid in ids:
            world.arc.set_fault(cid, "restore", "slow:0.3")
        sessions.append((name, ids))

    def check(name, ids):
        r = world.sa("list", name, "--json", check=0)
        listing = {c["source_course_id"]: c for c in json.loads(r.stdout)}
        assert world.placeholders() == []
        for cid in ids:
            short = world.src.course(cid)["shortname"]
            fam = world.family(short)
            want = 2 if short.endswith("_0") else 1
            assert len(fam) == want, (name, short, fam)
            assert listing[cid]["state"] == "restored", listing[cid]
            new = max(c["id"] for c in fam)
            assert listing[cid]["archive_course_id"] == new, (
                listing[cid], fam)

    t = time.monotonic()
    world.sa("restore", sessions[0][0], check=0)
    duration = time.monotonic() - t
    check(*sessions[0])
    deadline = time.monotonic() + 90
    for name, ids in sessions[1:]:
        proc = world.popen("restore", name)
        time.sleep(rnd.uniform(0, duration))
        proc.kill()
        world.finish(proc)
        r = world.sa("restore", name, timeout=60)
        assert r.returncode == 0, r.stderr
        try:
            check(name, ids)
        except AssertionError:
            print(proc.logfile.name, open(proc.logfile.name).read())
            print(r.stderr)
            print([e for e in world.journal_lines(name) if e["event"] != "backup"])
            print(world.arc_courses())
            raise
        assert time.monotonic() < deadline, "kill -9 loop too slow"


# ------------------------------------------------------------------ hook
def test_post_restore_hook(world):
    ids = world.session(n_top=2, n_sub=1)
    world.archive()
    # TOP1 exists on the archive: restored as TOP1_1
    old = world.arc.add_course(1, "TOP1", "Top course 1")
    rec = world.tmp / "hook-env"
    rec.mkdir()
    hook = world.tmp / "post-restore"

    def write_hook(fail_id):
        hook.write_text(
            "#!/bin/sh\n"
            "env > %s/$SA_SOURCE_COURSE_ID.env\n"
            "if [ \"$SA_SOURCE_COURSE_ID\" = %d ]; then\n"
            "  echo 'catalogue refused the course'; exit 3\n"
            "fi\nexit 0\n" % (rec, fail_id))
        os.chmod(hook, 0o755)

    write_hook(ids[0])
    world.configure(hooks={"post_restore": hook, "timeout": "10s"})
    world.restore(check=0)
    listing = world.listing()
    bad = listing[ids[0]]
    assert bad["state"] == "restored", bad
    assert bad["error"].startswith("restored, post_restore hook failed: ")
    assert "catalogue refused the course" in bad["error"]
    for cid in ids:
        env = dict(l.split("=", 1) for l in
                   (rec / ("%d.env" % cid)).read_text().splitlines()
                   if "=" in l)
        c = listing[cid]
        new = world.arc.course(c["archive_course_id"])
        assert env["SA_SESSION"] == SESSION
        assert env["SA_SOURCE_COURSE_ID"] == str(cid)
        assert env["SA_ARCHIVE_COURSE_ID"] == str(new["id"])
        assert env["SA_SHORTNAME"] == new["shortname"]
        assert env["SA_CATEGORY_ID"] == str(new["category"])
        assert os.path.isabs(env["SA_MBZ"]) and os.path.isfile(env["SA_MBZ"])
        assert env["SA_MBZ"] == str(world.store / SESSION / c["file"])
        assert env["SA_MOODLE"] == world.arc.site_dir
        assert world.arc.dbpass not in "".join(env.values())
    env1 = (rec / ("%d.env" % ids[1])).read_text()
    assert "SA_SHORTNAME=TOP1_1\n" in env1
    # fixed hook: --rerun-hooks runs it where it failed, and only there
    for f in rec.iterdir():
        f.unlink()
    write_hook(0)
    world.restore("--rerun-hooks", check=0)
    assert sorted(p.name for p in rec.iterdir()) == ["%d.env" % ids[0]]
    listing = world.listing()
    assert listing[ids[0]]["state"] == "restored"
    assert listing[ids[0]]["error"] is None
    world.assert_restored_once(ids, preexisting={old})


# ------------------------------------------------------------------ parallel
def test_parallel_is_faster(world):
    times = {}
    for par, name in ((1, "2025-2026"), (2, "2024-2025")):
        cat = world.src.add_category(name, 0)
        ids = [world.src.add_course(cat, "P%d_%d" % (par, i),
                                    "Par %d %d" % (par, i))
               for i in range(6)]
        world.sa("archive", name, check=0)
        for cid in ids:
            world.arc.set_fault(cid, "restore", "slow:0.5")
        world.configure(jobs={"parallel": par})
        t = time.monotonic()
        world.sa("restore", name, check=0)
        times[par] = time.monotonic() - t
        for cid in ids:
            assert len(world.family(world.src.course(cid)["shortname"])) == 1
    assert times[2] < times[1] * 0.8, times


# ------------------------------------------------------------------ window
def test_window_closed_no_wait(world, smtp_server):
    world.session(n_top=1, n_sub=1)
    world.archive()
    before = arc_snapshot(world.arc)
    now = time.time()
    world.configure(window={"hours": "%s-%s" % (hhmm(now + 7200),
                                                hhmm(now + 10800))},
                    mail=mail_conf(smtp_server.url))
    r = world.restore("--no-wait", check=3)
    assert "outside the hour window" in r.stderr
    assert arc_snapshot(world.arc)[1] == before[1]
    time.sleep(0.3)
    assert smtp_server.messages == []


def test_pause_resume(world):
    ids = world.session(n_top=2, n_sub=2)
    world.archive()
    for cid in ids:
        world.arc.set_fault(cid, "restore", "slow:1.2")
    world.configure(jobs={"parallel": 1})
    proc = world.popen("restore", SESSION)
    try:
        wait_until(lambda: world.status().get("current"),
                   what="a running course")
        world.sa("pause", SESSION, check=0)
        wait_until(lambda: world.status().get("state") == "paused",
                   what="paused")
        wait_until(lambda: world.status().get("current") is None,
                   timeout=10, what="running course to finish")
        done = world.status()["done"]
        assert done >= 1
        time.sleep(2.0)
        st = world.status()
        assert st["state"] == "paused" and st["done"] == done
        assert len(world.arc_courses()) == done
        assert proc.poll() is None
        world.sa("resume", SESSION, check=0)
        rc, err = world.finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 0, err
    assert "paused" in err and "resumed" in err
    world.assert_restored_once(ids)


# ------------------------------------------------------------------ mail
def test_progress_mails(world, smtp_server):
    ids = world.session(n_top=2, n_sub=2)
    world.archive()
    world.arc.set_fault(ids[0], "restore", "exception")
    world.configure(mail=mail_conf(smtp_server.url))
    world.restore(check=6)
    smtp_server.wait_for(3)
    time.sleep(0.3)
    subj = [m.message["Subject"] for m in smtp_server.messages]
    pre = "sessionarchiver restore %s: " % SESSION
    assert subj[0] == pre + "started", subj
    assert subj[-1] == pre + "finished with failures", subj
    last = smtp_server.messages[-1].message.get_content()
    assert world.src.course(ids[0])["shortname"] in last and "setting_invalid_text" in last
    for m in smtp_server.messages:
        assert world.arc.dbpass.encode() not in m.raw
    n = len(smtp_server.messages)
    world.restore("--retry-failed", check=6)
    smtp_server.wait_for(n + 2)
    time.sleep(0.3)
    subj = [m.message["Subject"] for m in smtp_server.messages][n:]
    assert subj[0] == pre + "started" and subj[-1].startswith(pre + "finished")
