"""sessionarchiver plan archive / archive / pause / resume / cancel against a
fake Moodle site (real MariaDB, real php, the fake's backup.php), a real
store, the test SMTP server. Issue 5's "Done when", one test (or a few) per
point.

Run: SA_BUILD=/work/main/build/asan /usr/bin/python3 -m pytest -q tests/integration/test_archive.py
"""

import json
import os
import pathlib
import random
import re
import signal
import subprocess
import time

import pytest

from fakesite import FakeSite
from harness.build import run_cli
from harness.platforms import (PHP, SESSION, Workspace, hhmm, mail_conf,
                               needs_php, php_running, unique,
                               wait_until)
from harness.smtp import AUTH_PASSWORD

OVERHEAD = 16384

pytestmark = needs_php


# ------------------------------------------------------------------ helpers
def local_time(y, mo, d, h=12, mi=0, s=0):
    """A unix time for a local wall-clock time (the tool uses local time)."""
    return int(time.mktime((y, mo, d, h, mi, s, 0, 0, -1)))


class World(Workspace):
    """One fake site, one store, one index, one config file."""

    def __init__(self, mariadb, tmp_path, store=None):
        self.site = FakeSite.create(mariadb, tmp_path / "sites",
                                    unique("arch"))
        super().__init__(tmp_path, store)
        self.configure()
        # the index exists before any run: two processes creating it at
        # once fail with "database is locked" (indexer/idx.c, see report)
        self.sa("status", check=0)

    def configure(self, **sections):
        """Writes sa.conf: [store], [source] and the given sections
        ({"jobs": {"parallel": 2}}); [jobs] timeout defaults to 5s."""
        sections.setdefault("jobs", {})
        sections["jobs"].setdefault("timeout", "5s")
        source = {"moodle": self.site.site_dir, "php": PHP,
                  **sections.pop("source", {})}
        self.write_config({"source": source, **sections})

    def courses(self, cat, n, prefix="C", size=2000, parent_files=None):
        return [self.site.add_course(cat, "%s%d" % (prefix, i),
                                     "Course %s%d" % (prefix, i),
                                     files=[("a%d.txt" % i, size + i)])
                for i in range(n)]

    def plan(self, *sel, check=0, env=None):
        r = self.sa("plan", "archive", *sel, "--json", check=check, env=env)
        return json.loads(r.stdout) if r.stdout.strip() else None

    def listing(self, session=SESSION):
        r = self.sa("list", session, "--json", check=0)
        return {c["source_course_id"]: c for c in json.loads(r.stdout)}

    def status(self, session=SESSION):
        r = self.sa("status", session, "--json")
        if r.returncode != 0 or not r.stdout.strip():
            return {}
        return json.loads(r.stdout)

    def session_dir(self, session=SESSION):
        return self.store / session

    def final_files(self, session=SESSION):
        """Every file under a final name (not in .session/)."""
        root = self.session_dir(session)
        out = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != ".session"]
            out += [pathlib.Path(dirpath, f) for f in filenames]
        return sorted(out)

    def tmp_leftovers(self, session=SESSION):
        tmp = self.session_dir(session) / ".session" / "tmp"
        if not tmp.exists():
            return []
        return sorted(str(p) for p in tmp.rglob("*"))

    def manifest(self, session=SESSION):
        path = self.session_dir(session) / ".session" / "manifest.jsonl"
        if not path.exists():
            return []
        return [json.loads(l) for l in path.read_text().splitlines()
                if l.strip()]

    def assert_consistent(self, ids, session=SESSION):
        """Exactly one valid backup per source course, nothing partial."""
        files = self.final_files(session)
        assert all(f.suffix == ".mbz" for f in files), files
        by_course = {}
        for f in files:
            r = run_cli("inspect", "--json", f, check=0)
            info = json.loads(r.stdout)
            if isinstance(info, list):
                info = info[0]
            cid = info.get("original_course_id")
            if cid is None:
                cid = info["information"]["original_course_id"]
            by_course.setdefault(int(cid), []).append(f)
        assert sorted(by_course) == sorted(ids), (by_course, ids)
        assert all(len(v) == 1 for v in by_course.values()), by_course
        files_of = {}
        for line in self.manifest(session):
            files_of.setdefault(line["source_course_id"], set()).add(
                line["file"])
        assert all(len(v) == 1 for v in files_of.values()), files_of
        assert sorted(files_of) == sorted(ids)
        self.sa("check", session, check=0)
        assert self.tmp_leftovers(session) == []


@pytest.fixture
def world(moodle_server, tmp_path):
    w = World(moodle_server, tmp_path)
    try:
        yield w
    finally:
        w.site.destroy()


@pytest.fixture
def session(world):
    """The session category 2025-2026 (idnumber 2025-2026) with a
    sub-category and 4 small courses; returns (category id, course ids)."""
    cat = world.site.add_category(SESSION, 0, idnumber=SESSION)
    sub = world.site.add_category("Sciences", cat)
    ids = world.courses(cat, 2, prefix="TOP") + world.courses(sub, 2,
                                                               prefix="SCI")
    return cat, ids


# ------------------------------------------------------------------ selection
def test_select_by_name_with_and_without_category_pattern(world):
    parent = world.site.add_category("Sessions", 0)
    # without [session] category: the category named like the session
    named = world.site.add_category(SESSION, parent)
    a = world.courses(named, 2, prefix="N")
    # with path:/{Y}-{Y+1}: a top-level category whose name is different
    # from any other category's path (under Sessions)
    top = world.site.add_category("2024-2025", 0)
    b = world.courses(top, 1, prefix="P")
    plan = world.plan(SESSION)
    assert plan["category_id"] == named
    assert plan["session"] == SESSION
    assert sorted(c["id"] for c in plan["courses"]) == sorted(a)

    world.configure(session={"category": "path:/Sessions/{Y}-{Y+1}"})
    plan = world.plan(SESSION)
    assert plan["category_id"] == named
    world.configure(session={"category": "path:/{Y}-{Y+1}"})
    plan = world.plan("2024-2025")
    assert plan["category_id"] == top
    assert [c["id"] for c in plan["courses"]] == b
    # the pattern wins over the name: /2025-2026 does not exist at the top
    r = world.sa("plan", "archive", SESSION, "--json", check=4)
    assert "[session] category for 2025-2026" in r.stderr


def test_select_by_category_spec(world):
    fac = world.site.add_category("Faculté", 0)
    cat = world.site.add_category("Archive 2024", fac, idnumber="ARCH-24")
    ids = world.courses(cat, 2)
    for spec in ("id:%d" % cat, "idnumber:ARCH-24", "path:/Faculté/Archive 2024"):
        plan = world.plan("--category", spec)
        assert plan["category_id"] == cat, spec
        assert plan["category_path"] == "/Faculté/Archive 2024"
        assert sorted(c["id"] for c in plan["courses"]) == sorted(ids)
    r = world.sa("plan", "archive", "--category", "idnumber:NOPE", check=4)
    assert "NOPE" in r.stderr


def test_select_auto_with_fixed_clock(world):
    c1 = world.site.add_category("2025-2026", 0)
    c2 = world.site.add_category("2024-2025", 0)
    world.courses(c1, 1, prefix="X")
    world.courses(c2, 1, prefix="Y")
    for when, want, cat in (((2026, 11, 26), "2025-2026", c1),
                            ((2026, 8, 31), "2024-2025", c2)):
        plan = world.plan("--auto", env={"SA_NOW": str(local_time(*when))})
        assert plan["session"] == want and plan["category_id"] == cat


def test_select_ambiguous_and_missing_are_refused(world):
    a = world.site.add_category("2023-2024", 0)
    other = world.site.add_category("Old", 0)
    b = world.site.add_category("2023-2024", other)
    r = world.sa("plan", "archive", "2023-2024", check=4)
    assert "id:%d" % a in r.stderr and "id:%d" % b in r.stderr
    assert "/Old/2023-2024" in r.stderr
    r = world.sa("archive", "2023-2024", check=4)
    assert "id:%d" % a in r.stderr and "id:%d" % b in r.stderr
    r = world.sa("archive", "1999-2000", check=4)
    assert "no category" in r.stderr and "id:%d" % other in r.stderr
    assert sorted(p.name for p in world.store.iterdir()) == [".sessionarchiver"]


# ------------------------------------------------------------------ plan
def test_plan_json(world, session):
    cat, ids = session
    plan = world.plan(SESSION)
    assert plan["session"] == SESSION and plan["category_id"] == cat
    by_id = {c["id"]: c for c in plan["courses"]}
    assert sorted(by_id) == sorted(ids)
    for cid in ids:
        c = by_id[cid]
        row = world.site.course(cid)
        assert c["shortname"] == row["shortname"]
        assert c["estimate"] == world.site.course_estimate(cid) + OVERHEAD
        sub = "Sciences" if row["shortname"].startswith("SCI") else ""
        assert c["category_path"] == sub
        assert c["file"] == (sub + "/" if sub else "") + row["shortname"] + ".mbz"
        assert c["state"] == "pending"
    assert plan["total"] == 4 and plan["to_do"] == 4
    assert plan["needed_bytes"] == sum(c["estimate"] for c in plan["courses"])
    st = os.statvfs(world.store)
    assert abs(plan["free_bytes"] - st.f_bavail * st.f_frsize) < (64 << 20)
    assert plan["verdict"] == "ok"
    meta = world.store / SESSION / ".session"
    assert json.loads((meta / "plan.json").read_text())["courses"] == \
        plan["courses"]
    txt = (meta / "plan.txt").read_text()
    assert "verdict: ok" in txt and all(world.site.course(i)["shortname"]
                                        in txt for i in ids)
    assert world.final_files() == []


# ------------------------------------------------------------------ free space
@pytest.fixture
def small_store(mariadb, tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs",
                        str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs: " + r.stderr.strip())
    w = None
    try:
        w = World(mariadb, tmp_path, store=mnt / "store")
        yield w
    finally:
        if w:
            w.site.destroy()
        subprocess.run(["umount", str(mnt)])


def test_free_space_refusal_and_force(small_store):
    w = small_store
    cat = w.site.add_category(SESSION, 0)
    # random content does not compress: ~1 MB backups on a 2 MB store
    ids = [w.site.add_course(cat, "BIG%d" % i, "Big %d" % i,
                             files=[("b.bin", 1100 * 1024 + i)])
           for i in range(4)]
    plan = w.plan(SESSION, check=4)
    assert plan["verdict"] == "not enough space"
    r = w.sa("archive", SESSION, check=4)
    assert "refused" in r.stderr and "--force" in r.stderr
    assert w.final_files() == []
    assert w.manifest() == []

    # two at once: both pass the per-course check, the disk fills up; a
    # full store is no course's failure: the run stops after three
    # courses in a row, every course not archived stays pending
    w.configure(jobs={"parallel": 2})
    for cid in ids:
        w.site.set_fault(cid, "backup", "slow:0.5")
    r = w.sa("archive", SESSION, "--force", check=10)
    assert "no space left on the store" in r.stderr or "not enough space" in r.stderr
    assert "stopping after 3 courses in a row" in r.stderr
    listing = w.listing()
    assert [i for i in ids if listing[i]["state"] == "failed"] == []
    pending = [i for i in ids if listing[i]["state"] != "archived"]
    assert pending, listing
    for line in r.stderr.splitlines():
        if "stays pending" in line:
            assert re.search(r"\d+ bytes free", line), line
    # nothing partial under a final name, nothing left in tmp/
    for f in w.final_files():
        run_cli("inspect", f, check=0)
    assert w.tmp_leftovers() == []
    # with the space back, a plain run finishes the job: a backup whose
    # manifest line could not be written (store full) is adopted, the
    # others are backed up
    subprocess.run(["mount", "-o", "remount,size=16m", str(w.store.parent)],
                   check=True)
    w.site.clear_faults()
    w.sa("archive", SESSION, check=0)
    w.assert_consistent(ids)



def test_moodle_temp_full_leaves_the_course_pending(world, session):
    """ENOSPC in Moodle's own temp folder: the course stays pending, the
    message gives the free space; a plain run does it once there is
    room, and exit 6 meanwhile tells cron."""
    cat, ids = session
    world.site.set_fault(ids[1], "backup", "enospc")
    r = world.sa("archive", SESSION, check=6)
    pending = [l for l in r.stderr.splitlines() if "stays pending" in l]
    assert len(pending) == 1, r.stderr
    assert "no space left during the backup" in pending[0]
    assert re.search(r"dataroot '[^']+' has \d+ bytes free", pending[0])
    listing = world.listing()
    assert listing[ids[1]]["state"] not in ("failed", "archived")
    assert all(listing[i]["state"] == "archived" for i in ids if i != ids[1])
    world.site.clear_faults()
    world.sa("archive", SESSION, check=0)
    world.assert_consistent(ids)


def test_database_killed_mid_archive_stops_the_run(own_mariadb, tmp_path,
                                                    smtp_server):
    """A dead database is no course's failure: the run stops after three
    courses in a row, exit 5, one mail says why; the rest stays pending
    and the next plain run finishes it."""
    w = World(own_mariadb, tmp_path)
    try:
        cat = w.site.add_category(SESSION, 0, idnumber=SESSION)
        ids = w.courses(cat, 12)
        w.configure(jobs={"parallel": 2}, mail=mail_conf(smtp_server.url))
        for cid in ids:
            w.site.set_fault(cid, "backup", "slow:0.4")
        proc = w.popen("archive", SESSION)
        wait_until(lambda: len(w.final_files()) >= 2, timeout=60,
                   what="two courses archived")
        own_mariadb.kill()
        rc, err = w.finish(proc, timeout=90)
        assert rc == 5, err
        assert "stopping after 3 courses in a row" in err, err
        assert "Moodle cannot be reached: cannot connect to database" in err
        listing = w.listing()
        assert [i for i in ids if listing[i]["state"] == "failed"] == []
        done = [i for i in ids if listing[i]["state"] == "archived"]
        assert 2 <= len(done) < len(ids), listing
        assert w.tmp_leftovers() == []
        pre = "sessionarchiver archive %s: " % SESSION
        wait_until(lambda: pre + "stopped: Moodle cannot be reached"
                   in subjects(smtp_server), what="the end mail")
        end = smtp_server.messages[-1].message.get_content()
        assert "Stopped after 3 courses in a row" in end, end
        assert "Moodle cannot be reached" in end, end

        own_mariadb.start()
        w.site._conn = None  # the test's own connection died with it
        w.site.clear_faults()
        before = {f: f.stat().st_mtime_ns for f in w.final_files()}
        r = w.sa("archive", SESSION, check=0)
        assert "%d course(s) to back up" % (len(ids) - len(done)) in r.stderr
        for f, m in before.items():
            assert f.stat().st_mtime_ns == m
        w.assert_consistent(ids)
    finally:
        w.site.destroy()

# ------------------------------------------------------------------ failures
@pytest.mark.parametrize("runner", ["cli", "worker"])
def test_backup_failure_modes_then_retry_failed(world, session, runner):
    cat, ids = session
    extra = world.courses(cat, 1, prefix="OK")
    faults = {ids[0]: "exit1", ids[1]: "nofile", ids[2]: "hang",
              ids[3]: "die"}
    for cid, mode in faults.items():
        world.site.set_fault(cid, "backup", mode)
    world.configure(jobs={"timeout": "2s", "runner": runner})
    r = world.sa("archive", SESSION, check=6)
    listing = world.listing()
    want = {"exit1": "Error writing to backup file",
            "nofile": "no backup file",
            "hang": "timed out",
            "die": "killed by signal"}
    for cid, mode in faults.items():
        c = listing[cid]
        assert c["state"] == "failed", (mode, c)
        assert want[mode] in c["error"], (mode, c["error"])
        assert c["on_disk"] in (0, None)
    assert listing[extra[0]]["state"] == "archived"
    assert world.tmp_leftovers() == []
    world.assert_consistent(extra)
    assert "failed" in r.stderr

    # without --retry-failed nothing is redone, and cron hears of the
    # failures still there
    r = world.sa("archive", SESSION, check=6)
    assert "--retry-failed" in r.stderr
    assert world.listing()[ids[0]]["state"] == "failed"

    world.site.clear_faults()
    before = {f: f.stat().st_mtime_ns for f in world.final_files()}
    world.sa("archive", SESSION, "--retry-failed", check=0)
    listing = world.listing()
    assert all(c["state"] == "archived" for c in listing.values()), listing
    for f, m in before.items():
        assert f.stat().st_mtime_ns == m  # the good one was not redone
    world.assert_consistent(ids + extra)


def test_rerun_does_nothing_then_picks_up_new_course(world, session):
    cat, ids = session
    world.sa("archive", SESSION, check=0)
    world.assert_consistent(ids)
    before = {f: f.stat().st_mtime_ns for f in world.final_files()}
    r = world.sa("archive", SESSION, check=0)
    assert "nothing to do" in r.stderr
    assert {f: f.stat().st_mtime_ns for f in world.final_files()} == before
    new = world.courses(cat, 1, prefix="NEW")
    r = world.sa("archive", SESSION, check=0)
    assert "1 course(s) to back up" in r.stderr
    for f, m in before.items():
        assert f.stat().st_mtime_ns == m
    world.assert_consistent(ids + new)


# ------------------------------------------------------------------ window
def closed_window():
    now = time.time()
    return {"hours": "%s-%s" % (hhmm(now + 7200), hhmm(now + 10800))}


def test_window_closed_no_wait(world, session, smtp_server):
    world.configure(window=closed_window(),
                    mail=mail_conf(smtp_server.url))
    r = world.sa("archive", SESSION, "--no-wait", check=3)
    assert "outside the hour window" in r.stderr
    # cron runs it every few minutes: no mail each time
    time.sleep(0.5)
    assert smtp_server.messages == []
    assert world.final_files() == [] and world.manifest() == []
    assert world.status()["state"] == "waiting-window"


def test_window_waiting_state_then_sigterm(world, session):
    world.configure(window=closed_window())
    proc = world.popen("archive", SESSION)
    try:
        st = wait_until(lambda: world.status().get("state") ==
                        "waiting-window", what="waiting-window")
        st = world.status()
        assert st["pid"] == proc.pid and st["done"] == 0
        proc.send_signal(signal.SIGTERM)
        rc, err = world.finish(proc, timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 1, err
    assert world.final_files() == []
    assert world.status()["state"] == "cancelled"


def test_window_closes_during_run_abort(world, session):
    cat, ids = session
    for cid in ids:
        world.site.set_fault(cid, "backup", "slow:4")
    # fake clock: the window 08:00-10:00 closes 2 s after the start
    now = local_time(2026, 11, 26, 9, 59, 58)
    world.configure(window={"hours": "08:00-10:00", "at_end": "abort"})
    r = world.sa("archive", SESSION, "--no-wait",
                 env={"SA_NOW": str(now)}, check=3)
    assert "aborting" in r.stderr
    assert "1 aborted" in r.stderr, r.stderr
    assert world.final_files() == [] and world.manifest() == []
    assert world.tmp_leftovers() == []
    # the next run (window open) redoes it
    world.site.clear_faults()
    world.sa("archive", SESSION, env={"SA_NOW": str(now - 3600)}, check=0)
    world.assert_consistent(ids)


# ------------------------------------------------------------------ steering
def wait_current(world):
    return wait_until(lambda: world.status().get("current"),
                      what="a running course")


def test_pause_resume(world, session):
    cat, ids = session
    for cid in ids:
        world.site.set_fault(cid, "backup", "slow:1.2")
    world.configure(jobs={"parallel": 1})
    proc = world.popen("archive", SESSION)
    try:
        wait_current(world)
        world.sa("pause", SESSION, check=0)
        wait_until(lambda: world.status().get("state") == "paused",
                   what="paused")
        # the running course finishes, none starts
        wait_until(lambda: world.status().get("current") is None,
                   timeout=10, what="running course to finish")
        done = world.status()["done"]
        assert done >= 1
        time.sleep(2.5)
        st = world.status()
        assert st["state"] == "paused" and st["done"] == done
        assert st["current"] is None
        assert proc.poll() is None
        world.sa("resume", SESSION, check=0)
        rc, err = world.finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 0, err
    assert "paused" in err and "resumed" in err
    world.assert_consistent(ids)


@pytest.mark.parametrize("how", ["cancel", "sigterm"])
def test_cancel(world, session, how):
    cat, ids = session
    for cid in ids:
        world.site.set_fault(cid, "backup", "slow:3")
    world.configure(jobs={"parallel": 1})
    proc = world.popen("archive", SESSION)
    try:
        wait_current(world)
        time.sleep(0.3)
        if how == "cancel":
            world.sa("cancel", SESSION, check=0)
        else:
            proc.send_signal(signal.SIGTERM)
        rc, err = world.finish(proc, timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 1, err
    assert "cancelled" in err and "1 aborted" in err, err
    assert world.final_files() == [] and world.manifest() == []
    assert world.tmp_leftovers() == []
    assert world.status()["state"] == "cancelled"
    world.site.clear_faults()
    world.sa("archive", SESSION, check=0)
    world.assert_consistent(ids)


def test_steer_without_run(world, session):
    world.sa("plan", "archive", SESSION, check=0)
    r = world.sa("pause", SESSION, check=1)
    assert "no operation is running" in r.stderr


# ------------------------------------------------------------------ kill -9
def test_kill9_at_random_moments(world):
    seed = int(os.environ.get("SA_KILL_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    resumed = []
    sessions = []
    for k in range(20):
        name = "%d-%d" % (2000 + k, 2001 + k)
        cat = world.site.add_category(name, 0)
        ids = world.courses(cat, 3, prefix="K%d_" % k, size=500)
        for cid in ids:
            world.site.set_fault(cid, "backup", "slow:0.3")
        sessions.append((name, ids))
    # one whole run: how long a run lasts
    t = time.monotonic()
    world.sa("archive", sessions[0][0], check=0)
    duration = time.monotonic() - t
    world.assert_consistent(sessions[0][1], session=sessions[0][0])
    deadline = time.monotonic() + 60
    for name, ids in sessions[1:]:
        proc = world.popen("archive", name)
        time.sleep(rnd.uniform(0, duration))
        proc.kill()
        world.finish(proc)
        # its backup.php died with it (PR_SET_PDEATHSIG)
        for cid in ids:
            assert not php_running("backup.php", "--courseid=%d" % cid), cid
        r = world.sa("archive", name, timeout=60)
        assert r.returncode == 0, "SA_KILL_SEED=%d\n%s" % (seed, r.stderr)
        world.assert_consistent(ids, session=name)
        resumed.append(r.stderr)
        assert time.monotonic() < deadline, "kill -9 loop too slow"
    # the kills fell at different stages: some runs had everything left,
    # some part of it (a few may land after the end)
    partial = [e for e in resumed if "3 course(s) to back up" not in e]
    assert len(partial) >= 3, (seed, resumed)


# ------------------------------------------------------------------ parallel
def test_parallel_is_faster_and_second_run_is_busy(world):
    times = {}
    for par, name in ((1, "2025-2026"), (2, "2024-2025")):
        cat = world.site.add_category(name, 0)
        ids = world.courses(cat, 6, prefix="P%d_" % par)
        for cid in ids:
            world.site.set_fault(cid, "backup", "cpu:0.5")
        world.configure(jobs={"parallel": par})
        t = time.monotonic()
        world.sa("archive", name, check=0)
        times[par] = time.monotonic() - t
        world.assert_consistent(ids, session=name)
    assert times[2] < times[1] * 0.8, times

    cat = world.site.add_category("2023-2024", 0)
    ids = world.courses(cat, 2, prefix="B")
    for cid in ids:
        world.site.set_fault(cid, "backup", "slow:2")
    world.configure(jobs={"parallel": 1})
    proc = world.popen("archive", "2023-2024")
    try:
        wait_current_session = lambda: world.status("2023-2024").get(
            "current")
        wait_until(wait_current_session, what="first run running")
        r = world.sa("archive", "2023-2024", check=8)
        assert str(proc.pid) in r.stderr
        rc, err = world.finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 0, err
    world.assert_consistent(ids, session="2023-2024")


# ------------------------------------------------------------------ hook
def test_pre_backup_hook(world, session):
    cat, ids = session
    rec = world.tmp / "hook-env"
    rec.mkdir()
    hook = world.tmp / "pre-backup"
    hook.write_text(
        "#!/bin/sh\n"
        "env > %s/$SA_SOURCE_COURSE_ID.env\n"
        "if [ \"$SA_SOURCE_COURSE_ID\" = %d ]; then\n"
        "  echo 'course locked by the hook'; exit 3\n"
        "fi\nexit 0\n" % (rec, ids[1]))
    os.chmod(hook, 0o755)
    world.configure(hooks={"pre_backup": hook, "timeout": "10s"})
    world.sa("archive", SESSION, check=6)
    listing = world.listing()
    assert listing[ids[1]]["state"] == "failed"
    assert "course locked by the hook" in listing[ids[1]]["error"]
    assert "hook" in listing[ids[1]]["error"]
    good = [i for i in ids if i != ids[1]]
    world.assert_consistent(good)
    for cid in ids:
        env = dict(l.split("=", 1) for l in
                   (rec / ("%d.env" % cid)).read_text().splitlines()
                   if "=" in l)
        row = world.site.course(cid)
        assert env["SA_SESSION"] == SESSION
        assert env["SA_SOURCE_COURSE_ID"] == str(cid)
        assert env["SA_SHORTNAME"] == row["shortname"]
        assert env["SA_MBZ"] == str(world.store / SESSION /
                                    listing[cid]["file"])
        assert world.site.dbpass not in "".join(env.values())


# ------------------------------------------------------------------ mail
def subjects(srv):
    return [m.message["Subject"] for m in srv.messages]


def test_progress_mails(world, session, smtp_server):
    cat, ids = session
    world.site.set_fault(ids[2], "backup", "exit1")
    world.configure(mail=mail_conf(smtp_server.url))
    r = world.sa("archive", SESSION, check=6)
    mails = smtp_server.wait_for(3)
    time.sleep(0.3)
    subj = subjects(smtp_server)
    pre = "sessionarchiver archive %s: " % SESSION
    assert subj == [pre + "started", pre + "50% done",
                    pre + "finished with failures"], subj
    last = mails[-1].message.get_content()
    shortname = world.site.course(ids[2])["shortname"]
    assert "Failed courses" in last and shortname in last
    assert "Error writing to backup file" in last
    started = mails[0].message.get_content()
    assert all(world.site.course(i)["shortname"] in started for i in ids)
    for m in smtp_server.messages:
        assert world.site.dbpass.encode() not in m.raw
    assert world.site.dbpass not in r.stderr

    world.site.clear_faults()
    n = len(smtp_server.messages)
    world.sa("archive", SESSION, "--retry-failed", check=0)
    smtp_server.wait_for(n + 2)
    time.sleep(0.3)
    assert subjects(smtp_server)[n:] == [pre + "started", pre + "finished"]


def test_mail_with_auth_password_never_shown(world, session,
                                             smtp_server_auth):
    """AUTH needs STARTTLS here (the tool refuses credentials in clear)."""
    srv = smtp_server_auth
    pw = world.tmp / "smtp.pw"
    pw.write_text(AUTH_PASSWORD + "\n")
    os.chmod(pw, 0o600)
    world.configure(mail=mail_conf("smtp://localhost:%d" % srv.port,
                                   starttls="yes", username="sa-mailer",
                                   password_file=pw))
    r = world.sa("archive", SESSION, check=0,
                 env={"SA_MAIL_CAFILE": srv.cafile})
    srv.wait_for(3)
    assert AUTH_PASSWORD not in r.stderr + r.stdout
    for m in srv.messages:
        assert AUTH_PASSWORD.encode() not in m.raw
        assert m.login == "sa-mailer"


def test_mail_server_down_does_not_stop_archive(world, session,
                                                dead_smtp_port):
    cat, ids = session
    world.configure(mail=mail_conf("smtp://127.0.0.1:%d" % dead_smtp_port))
    r = world.sa("archive", SESSION, check=0)
    assert "cannot send the mail" in r.stderr
    world.assert_consistent(ids)


# ------------------------------------------------------------------ DB down
@pytest.mark.parametrize("how", ["dbpass", "socket"])
def test_db_down_is_unreachable(world, session, how):
    if how == "dbpass":
        cfg = pathlib.Path(world.site.site_dir) / "config.php"
        cfg.write_text(cfg.read_text().replace(world.site.dbpass, "wrong"))
    else:
        pw = world.tmp / "db.pw"
        pw.write_text(world.site.dbpass + "\n")
        os.chmod(pw, 0o600)
        world.configure(source={
            "db": "mysql://%s@localhost/%s?socket=%s" % (
                world.site.dbuser, world.site.dbname,
                world.tmp / "nobody.sock"),
            "db_password_file": pw})
    for args in (("plan", "archive", SESSION), ("archive", SESSION)):
        r = world.sa(*args, check=5)
        assert "unreach" in r.stderr or "cannot connect" in r.stderr \
            or "source platform" in r.stderr, r.stderr
        assert world.site.dbpass not in r.stderr
    assert sorted(p.name for p in world.store.iterdir()) == [".sessionarchiver"]
