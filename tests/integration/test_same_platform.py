"""The archive inside the same platform ([archive] platform = same): one
fake Moodle site (real MariaDB, real php, the fake's backup, restore and
delete scripts, the PHP bridge) is the session's source and its own
archive, the copies restored into its category Archives. Issue 16's "Done
when", one test (or a few) per point.

Run: SA_BUILD=/work/main/build/asan /usr/bin/python3 -m pytest -q tests/integration/test_same_platform.py
"""

import json
import os
import pathlib

import pytest

from fakesite import FakeSite
from harness.platforms import (PHP, SESSION, Workspace, needs_php,
                               php_running, unique, wait_until)

REPO = pathlib.Path(__file__).resolve().parents[2]
HIDE_HOOK = REPO / "examples" / "hooks" / "post-restore-hide.sh"
BRIDGE = REPO / "moodle" / "bridge" / "sessionarchiver-bridge.php"

pytestmark = needs_php


class World(Workspace):
    """One site: Teaching > 2025-2026 > Sciences > Maths holds the
    session (6 courses, one with an idnumber), Archives (a top category)
    the copies; the example hide hook as post_restore."""

    def __init__(self, mariadb, tmp_path):
        self.site = FakeSite.create(mariadb, tmp_path / "sites",
                                    unique("same"))
        s = self.site
        self.teaching = s.add_category("Teaching", 0)
        root = s.add_category(SESSION, self.teaching, idnumber=SESSION)
        sci = s.add_category("Sciences", root)
        maths = s.add_category("Maths", sci)
        self.cats = {"root": root, "Sciences": sci, "Maths": maths}
        self.archives = s.add_category("Archives", 0, idnumber="ARCH")
        self.ids = [s.add_course(cat, "%s%d" % (name, i),
                                 "%s course %d" % (name, i),
                                 idnumber="ID-%d" % i if i == 0 else "",
                                 files=[("f%d.txt" % i, 300 + i)],
                                 activities=["page"] if i % 2 else ())
                    for i, (cat, name) in enumerate(
                        [(root, "TOP"), (root, "TOP"), (sci, "SCI"),
                         (sci, "SCI"), (maths, "MAT"), (maths, "MAT")])]
        self.originals = {i: s.course(i) for i in self.ids}
        super().__init__(tmp_path)
        self.hook = self.install_hide_hook()
        self.configure()

    def install_hide_hook(self):
        """The example hook as shipped, pointed at this checkout's bridge
        and run as the current user (not www-data)."""
        text = HIDE_HOOK.read_text()
        text = text.replace("MOODLE_USER=www-data", "MOODLE_USER=")
        text = text.replace(
            "for b in /usr/share/sessionarchiver/sessionarchiver-bridge.php",
            "for b in %s" % BRIDGE)
        text = text.replace("PHP=/usr/bin/php", "PHP=%s" % PHP)
        hook = self.tmp / "post-restore"
        hook.write_text(text)
        os.chmod(hook, 0o755)
        return hook

    def configure(self, archive=None, **sections):
        sections.setdefault("jobs", {"timeout": "20s", "parallel": "2"})
        sections.setdefault("hooks", {"post_restore": self.hook,
                                      "timeout": "20s"})
        arc = {"platform": "same", "target": "id:%d" % self.archives}
        arc.update(archive or {})
        self.write_config({"source": {"moodle": self.site.site_dir,
                                      "php": PHP},
                           "archive": {k: v for k, v in arc.items()
                                       if v is not None},
                           **sections})

    def cli(self, op, *args, check=None, timeout=120):
        return self.sa(op, SESSION, *args, check=check, timeout=timeout)

    # -------------------------------------------------------------- store
    def meta(self):
        return self.store / SESSION / ".session"

    def site_hash(self):
        import hashlib
        return hashlib.md5(self.site.siteidentifier.encode()).hexdigest()

    def journal(self, name):
        p = self.meta() / name
        if not p.exists():
            return []
        return [json.loads(l) for l in p.read_text().splitlines()
                if l.strip()]

    def source_journal(self):
        return self.journal("journal-%s.jsonl" % self.site_hash())

    def archive_journal(self):
        return self.journal("journal-%s-archive.jsonl" % self.site_hash())

    def events(self, name):
        return [e for e in self.source_journal() + self.archive_journal()
                if e["event"] == name]

    def copies(self):
        """{source id: archive id} as the journal records it."""
        return {e["source_course_id"]: e["archive_course_id"]
                for e in self.events("restore")}

    def listing(self):
        r = self.sa("list", SESSION, "--json", check=0)
        return {c["source_course_id"]: c for c in json.loads(r.stdout)}

    def mirrored_root(self):
        rows = self.site.query("SELECT id FROM {course_categories}"
                               " WHERE parent = %s AND name = %s",
                               (self.archives, SESSION))
        assert len(rows) == 1, rows
        return rows[0]["id"]

    def placeholders(self):
        return self.site.query("SELECT id FROM {course}"
                               " WHERE shortname LIKE 'restoring%%'")

    def snapshot(self):
        return (self.site.query("SELECT id, name, parent FROM"
                                " {course_categories} ORDER BY id"),
                self.site.query("SELECT id, shortname, category, visible"
                                " FROM {course} ORDER BY id"))

    def move_category(self, cat, parent):
        """Moves cat (and its tree) under parent, as an admin would."""
        q = self.site.query
        old = q("SELECT path FROM {course_categories} WHERE id = %s",
                (cat,))[0]["path"]
        ppath = q("SELECT path FROM {course_categories} WHERE id = %s",
                  (parent,))[0]["path"]
        new = "%s/%d" % (ppath, cat)
        q("UPDATE {course_categories} SET path = CONCAT(%s,"
          " SUBSTRING(path, %s)) WHERE path = %s OR path LIKE %s",
          (new, len(old) + 1, old, old + "/%%"))
        q("UPDATE {course_categories} SET parent = %s WHERE id = %s",
          (parent, cat))

    def assert_copied_once(self):
        """Each original still there, exactly one copy of each under the
        mirrored tree, mapped right, renamed as Moodle does, hidden by
        the hook, no placeholder left."""
        copies = self.copies()
        listing = self.listing()
        assert sorted(copies) == sorted(self.ids)
        assert self.placeholders() == []
        under = {c["id"] for c in self.site.query(
            "SELECT c.id FROM {course} c JOIN {course_categories} cc"
            " ON cc.id = c.category WHERE cc.path LIKE %s",
            ("%%/%d/%%" % self.archives,))} | {
            c["id"] for c in self.site.courses(self.mirrored_root())}
        for sid in self.ids:
            orig = self.originals[sid]
            assert self.site.course(sid)["shortname"] == orig["shortname"]
            family = [c for c in self.site.courses()
                      if c["shortname"].startswith(orig["shortname"])]
            assert len(family) == 2, family
            copy = self.site.course(copies[sid])
            assert copy["id"] in under
            assert copy["shortname"] == orig["shortname"] + "_1"
            assert copy["fullname"] == orig["fullname"] + " copy 1"
            assert copy["idnumber"] in ("", None)
            assert copy["visible"] == 0, copy
            assert self.site.course(sid)["visible"] == 1
            assert listing[sid]["state"] == "restored"
            assert listing[sid]["archive_course_id"] == copies[sid]
        return copies


@pytest.fixture
def world(mariadb, tmp_path):
    w = World(mariadb, tmp_path)
    try:
        yield w
    finally:
        w.site.destroy()


def course_ids(site):
    return {c["id"] for c in site.query("SELECT id FROM {course}")}


# ------------------------------------------------------------------ cycle
def test_the_whole_cycle_on_one_site(world):
    w = world
    w.cli("archive", check=0)
    w.cli("restore", check=0)
    copies = w.assert_copied_once()
    # one journal per role, the archive role's apart
    assert {e["event"] for e in w.source_journal()} >= {"backup"}
    assert not [e for e in w.source_journal()
                if e["event"].startswith("restore")]
    assert len([e for e in w.archive_journal()
                if e["event"] == "restore"]) == 6
    # status and the mount's view read both
    assert json.loads(w.sa("status", SESSION, "--json").stdout)

    r = w.cli("verify", check=0)
    assert r.stdout.splitlines()[0] == "PASS 6/6", r.stdout
    assert "renamed by Moodle on restore" in r.stdout, r.stdout
    report = json.loads(sorted(w.meta().glob("verify-*.json"))[-1]
                        .read_text())
    assert {c["source_course_id"]: c["archive_course_id"]
            for c in report["courses"]} == copies
    assert all("TOP0_1" in c["detail"] for c in report["courses"]
               if c["source_course_id"] == w.ids[0])
    assert [e for e in w.archive_journal() if e["event"] == "verify"]

    # source side: an admin moved a copy into the session's tree after
    # verify; it is kept back, never taken for an original
    moved = copies[w.ids[2]]
    home = w.site.course(moved)["category"]
    w.site.query("UPDATE {course} SET category = %s WHERE id = %s",
                 (w.cats["Sciences"], moved))
    pre = json.loads(w.cli("purge", "--side", "source", "--preview",
                           "--json", check=0).stdout)
    assert sorted(c["id"] for c in pre["courses"]) == sorted(w.ids)
    kept = {k["id"]: k["reason"] for k in pre["kept"]}
    assert "restored copy" in kept[moved], kept
    w.site.query("UPDATE {course} SET category = %s WHERE id = %s",
                 (home, moved))

    w.cli("purge", "--side", "source", "--confirm", check=0)
    left = course_ids(w.site)
    assert not set(w.ids) & left
    assert set(copies.values()) <= left
    for cid in copies.values():
        assert w.site.course(cid)["visible"] == 0
    for c in w.cats.values():
        assert w.site.category(c) is None
    assert w.site.category(w.teaching) is not None
    assert w.site.category(w.mirrored_root()) is not None
    assert sorted(e["source_course_id"] for e in w.events("purge")
                  if e["side"] == "source") == sorted(w.ids)
    assert all(e["side"] == "source" for e in w.source_journal()
               if e["event"] == "purge")

    # archive side: only this session's copies under Archives go
    root = w.mirrored_root()
    stranger = w.site.add_course(root, "KEEP", "Not a copy")
    other = w.site.add_course(w.archives, "OLD", "Another session")
    pre = json.loads(w.cli("purge", "--side", "archive", "--preview",
                           "--json", check=0).stdout)
    assert sorted(c["id"] for c in pre["courses"]) == \
        sorted(copies.values())
    kept = {k["id"]: k["reason"] for k in pre["kept"]}
    assert "not a restored copy" in kept[stranger], kept
    w.cli("purge", "--side", "archive", "--confirm", check=0)
    left = course_ids(w.site)
    assert not set(copies.values()) & left
    assert {stranger, other} <= left
    assert w.site.category(w.archives) is not None
    assert sorted(e["source_course_id"] for e in w.archive_journal()
                  if e["event"] == "purge") == sorted(w.ids)
    listing = w.listing()
    assert {listing[i]["state"] for i in w.ids} == {"purged"}


# ------------------------------------------------------------------ refusals
def test_without_the_setting_the_source_is_refused_with_a_hint(world):
    w = world
    w.cli("archive", check=0)
    before = w.snapshot()
    w.configure(archive={"platform": None, "moodle": w.site.site_dir,
                         "php": PHP})
    for op, args in (("restore", ()), ("verify", ()),
                     ("purge", ("--side", "archive", "--confirm"))):
        r = w.cli(op, *args, check=4)
        assert "is the source of session" in r.stderr, (op, r.stderr)
        assert "platform = same" in r.stderr, (op, r.stderr)
    assert w.snapshot() == before
    assert w.archive_journal() == []


def test_a_connection_of_its_own_is_a_config_error(world):
    w = world
    other = w.tmp / "elsewhere"
    other.mkdir()
    w.configure(archive={"moodle": str(other)})
    r = w.sa("status", check=2)
    assert "[archive] platform = same" in r.stderr, r.stderr
    assert "[archive] moodle must not name another" in r.stderr
    # the same value repeated is harmless
    w.configure(archive={"moodle": w.site.site_dir, "php": PHP})
    w.sa("status", check=0)


@pytest.mark.parametrize("where", ["inside", "around"])
def test_target_and_session_trees_kept_apart(world, where):
    w = world
    w.cli("archive", check=0)
    before = w.snapshot()
    target = w.cats["Sciences"] if where == "inside" else w.teaching
    w.configure(archive={"target": "id:%d" % target})
    r = w.cli("restore", check=4)
    want = "is inside session" if where == "inside" \
        else "is inside the archive category"
    assert want in r.stderr, r.stderr
    assert w.snapshot() == before
    assert not [e for e in w.archive_journal()
                if e["event"].startswith("restore")]


def test_verify_and_purge_refuse_a_target_moved_into_the_session(world):
    w = world
    w.cli("archive", check=0)
    w.cli("restore", check=0)
    w.cli("verify", check=0)
    w.move_category(w.archives, w.cats["root"])
    before = w.snapshot()
    r = w.cli("verify", check=4)
    assert "is inside session" in r.stderr, r.stderr
    for side in ("source", "archive"):
        r = w.cli("purge", "--side", side, "--confirm", check=4)
        assert "is inside session" in r.stderr, (side, r.stderr)
    assert w.snapshot() == before
    assert not w.events("purge")


# ------------------------------------------------------------------ kill -9
def kill_when(w, args, pred, what):
    proc = w.popen(*args)
    try:
        wait_until(pred, timeout=60, what=what)
        proc.kill()
        w.finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_kill9_mid_restore_and_mid_purge(world):
    w = world
    w.cli("archive", check=0)
    w.configure(jobs={"timeout": "30s", "parallel": "1"})
    w.site.set_fault("*", "restore", "slow:0.6")
    kill_when(w, ("restore", SESSION),
              lambda: len([e for e in w.archive_journal()
                           if e["event"] == "restore_started"]) >= 3,
              "the third restore_started")
    assert not php_running("restore_backup.php")
    done = [e for e in w.archive_journal() if e["event"] == "restore"]
    assert len(done) < 6
    w.site.clear_faults()
    w.cli("restore", check=0)
    copies = w.assert_copied_once()
    assert len(w.events("restore")) == 6, w.events("restore")

    w.cli("verify", check=0)
    w.site.set_fault("*", "delete", "slow:0.6")
    kill_when(w, ("purge", SESSION, "--side", "source", "--confirm"),
              lambda: len(w.events("purge")) >= 2, "two purges")
    assert not php_running("sessionarchiver-bridge.php",
                           "--session=" + SESSION)
    w.site.clear_faults()
    w.cli("purge", "--side", "source", "--confirm", check=0)
    assert sorted(e["source_course_id"] for e in w.events("purge")) == \
        sorted(w.ids)
    left = course_ids(w.site)
    assert not set(w.ids) & left
    assert set(copies.values()) <= left

    w.site.set_fault("*", "delete", "slow:0.6")
    kill_when(w, ("purge", SESSION, "--side", "archive", "--confirm"),
              lambda: len([e for e in w.archive_journal()
                           if e["event"] == "purge"]) >= 2,
              "two archive-side purges")
    w.site.clear_faults()
    w.cli("purge", "--side", "archive", "--confirm", check=0)
    arc = [e for e in w.archive_journal() if e["event"] == "purge"]
    assert sorted(e["source_course_id"] for e in arc) == sorted(w.ids)
    assert not set(copies.values()) & course_ids(w.site)
    assert w.site.category(w.archives) is not None


def test_kill9_during_the_hook_hides_the_copy_on_the_next_run(world):
    """The copy is made, the run dies in its post_restore hook: the next
    run records the copy (not restored twice) and runs the hook on it, so
    no copy stays visible next to its original."""
    w = world
    w.cli("archive", check=0)
    marker = w.tmp / "hook-started"
    slow = w.tmp / "slow-hook"
    slow.write_text("#!/bin/sh\ntouch %s\nsleep 60\nexec %s\n"
                    % (marker, w.hook))
    os.chmod(slow, 0o755)
    w.configure(jobs={"timeout": "90s", "parallel": "1"},
                hooks={"post_restore": slow, "timeout": "90s"})
    kill_when(w, ("restore", SESSION), marker.exists, "the hook")
    assert not [e for e in w.archive_journal() if e["event"] == "restore"]
    made = [c for c in w.site.courses() if c["shortname"].endswith("_1")]
    assert len(made) == 1 and made[0]["visible"] == 1, made
    w.configure()
    w.cli("restore", check=0)
    w.assert_copied_once()
    ev = [e for e in w.events("restore") if e.get("recovered")]
    assert [e["archive_course_id"] for e in ev] == [made[0]["id"]]
    assert "hook_error" not in ev[0]
