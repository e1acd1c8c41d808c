"""A shared archive (issue 15): several "hosts" run `archive --share` on
one session at once and split its courses claim by claim, with no
coordinator. Each host is a process with its own index and its own
[store] host name, sharing one store and the fake source site (real
MariaDB, real php). Every course must be backed up exactly once and be in
exactly one manifest line; a killed host's claims are taken over after
[store] lease_grace; the operations that run alone are refused while a
member is live; --shard K/N is a fixed subset.

Run: SA_BUILD=/work/main/build/asan /usr/bin/python3 -m pytest -q tests/integration/test_shared.py
"""

import json
import subprocess
import time

import pytest

from harness.build import CLI, run_cli, sanitizer_env
from harness.platforms import SESSION, needs_php, wait_until, write_config
from test_verify_purge import World

pytestmark = needs_php

EXIT_BUSY = 8
COURSES = 200


class Shared(World):
    """World's sites and store, a session of n_courses fake courses in two
    categories, and one config per host (hostA, hostB, ...)."""

    def __init__(self, mariadb, tmp_path, n_courses=COURSES, grace="10s",
                 parallel="1"):
        self.n_courses = n_courses
        self.grace = grace
        self.parallel = parallel
        self.names = ["hostA", "hostB", "hostC"]
        super().__init__(mariadb, tmp_path)

    def write_config(self, sections):
        sections = dict(sections)
        sections["jobs"] = dict(sections.get("jobs", {}),
                                parallel=self.parallel)
        for name in self.names:
            store = {"path": self.store, "index": self.tmp / (name + ".db"),
                     "host": name, "lease_grace": self.grace}
            write_config(self.tmp / ("sa-%s.conf" % name),
                         {"store": store, **sections})
        self.conf = self.tmp / "sa-hostA.conf"

    def session(self):
        src = self.src
        root = src.add_category(SESSION, 0, idnumber=SESSION)
        halves = [src.add_category("Lettres", root),
                  src.add_category("Sciences", root)]
        self.ids = [src.add_course(halves[i % 2], "C%03d" % i,
                                   "Course %d" % i)
                    for i in range(self.n_courses)]
        return self.ids

    def host(self, name, *args, check=None, timeout=180):
        return run_cli("-c", self.tmp / ("sa-%s.conf" % name), *args,
                       check=check, timeout=timeout)

    def start(self, name, *args):
        log = open(self.tmp / ("bg-%s-%d.log" % (name, time.time_ns())),
                   "w+")
        proc = subprocess.Popen(
            [str(CLI), "-c", str(self.tmp / ("sa-%s.conf" % name)), *args],
            stdout=subprocess.DEVNULL, stderr=log, env=sanitizer_env(None))
        proc.logfile = log
        return proc

    def manifest_lines(self):
        out = []
        for p in sorted(self.meta().glob("manifest*.jsonl")):
            out += [(p.name, json.loads(l)) for l in
                    p.read_text().splitlines() if l.strip()]
        return out

    def backups_by_journal(self):
        out = {}
        for p in sorted(self.meta().glob("journal-*.jsonl")):
            out[p.name] = [json.loads(l)["source_course_id"] for l in
                           p.read_text().splitlines()
                           if l.strip() and
                           json.loads(l)["event"] == "backup"]
        return out

    def claims(self):
        return {p.name: json.loads(p.read_text())
                for p in (self.meta() / "claims").glob("*.json")}


@pytest.fixture
def shared(mariadb, tmp_path):
    w = Shared(mariadb, tmp_path)
    try:
        w.session()
        yield w
    finally:
        w.destroy()


def assert_each_course_once(w):
    lines = w.manifest_lines()
    ids = sorted(l["source_course_id"] for _, l in lines)
    assert ids == sorted(w.ids), "manifest: %d lines for %d courses" % (
        len(ids), len(w.ids))
    backups = sorted(i for v in w.backups_by_journal().values() for i in v)
    assert backups == sorted(w.ids), "%d backups" % len(backups)
    # the store holds one file per course, each the one its line names
    files = sorted(p.relative_to(w.store / SESSION).as_posix()
                   for p in (w.store / SESSION).rglob("*.mbz"))
    assert files == sorted(l["file"] for _, l in lines)


def run_hosts(w, names, *args):
    procs = [w.start(n, "archive", SESSION, "--share", *args) for n in names]
    results = [w.finish(p, timeout=300) for p in procs]
    for (rc, err), name in zip(results, names):
        assert rc == 0, "%s: %s" % (name, err[-3000:])
    return results


@pytest.mark.parametrize("n_hosts", [2, 3])
def test_hosts_share_one_archive(shared, n_hosts):
    names = shared.names[:n_hosts]
    run_hosts(shared, names)
    assert_each_course_once(shared)
    # each host did a share, through its own manifest and journal
    lines = shared.manifest_lines()
    for name in names:
        mine = [l for f, l in lines if f == "manifest@%s.jsonl" % name]
        assert len(mine) > 0, "%s did nothing" % name
        assert mine[0]["file"].endswith(".mbz")
    assert not (shared.meta() / "manifest.jsonl").exists()
    assert not list((shared.meta() / "members").iterdir())
    assert {c["state"] for c in shared.claims().values()} == {"done"}
    # the store says it needs this version
    ini = (shared.store / ".sessionarchiver" / "store.ini").read_text()
    assert "format = 2" in ini
    # every host's index, and one rebuilt from the store alone, agree
    for name in names + ["hostC"]:
        if name == "hostC":
            shared.host(name, "index", "--rebuild", check=0)
        st = json.loads(shared.host(name, "status", SESSION, "--json",
                                    check=0).stdout)
        assert st["courses_total"] == COURSES, st
        assert st["courses"]["archived"] == COURSES, st
        assert st["members"] == [], st
    # archive_complete is written: restore reads every host's manifest
    assert any(e["event"] == "archive_complete" for e in shared.journal())
    shared.host("hostA", "restore", SESSION, check=0, timeout=600)
    assert len(shared.events("restore")) == COURSES
    # a plain rerun on any host finds nothing to do
    r = shared.host(names[-1], "archive", SESSION, check=0)
    assert "nothing to do" in r.stderr


def test_members_shown_and_lone_operations_refused(mariadb, tmp_path):
    w = Shared(mariadb, tmp_path, n_courses=12)
    try:
        w.session()
        w.src.set_fault("*", "backup", "slow:0.7")
        a = w.start("hostA", "archive", SESSION, "--share")
        wait_until(lambda: (w.meta() / "members").exists() and
                   list((w.meta() / "members").glob("*.json")),
                   what="host A a member")
        # a second member joins while A works
        b = w.start("hostB", "archive", SESSION, "--share")
        wait_until(lambda: len(list((w.meta() / "members")
                                    .glob("*.json"))) == 2,
                   what="host B a member")
        w.host("hostC", "index", check=0)
        st = json.loads(w.host("hostC", "status", SESSION, "--json",
                               check=0).stdout)
        assert sorted(m["host"] for m in st["members"]) == ["hostA",
                                                            "hostB"]
        assert st["lease"] is None
        text = w.host("hostC", "status", SESSION, check=0).stdout
        assert "shared with: host hostA (pid %d)" % a.pid in text, text
        overview = w.host("hostC", "status", check=0).stdout
        assert "shared by 2 host(s)" in overview, overview
        # what must run alone is refused, naming the members
        for args in (["archive", SESSION], ["verify", SESSION],
                     ["restore", SESSION, "--partial"],
                     ["purge", SESSION, "--side", "archive", "--dry-run"]):
            r = w.host("hostC", *args, check=EXIT_BUSY)
            assert "shared archive" in r.stderr and "hostA" in r.stderr, \
                (args, r.stderr)
        for p in (a, b):
            rc, err = w.finish(p, timeout=120)
            assert rc == 0, err
        assert_each_course_once(w)
        done = {name: json.loads(line)
                for name in ("hostA", "hostB")
                for line in [w.host(name, "status", SESSION, "--json",
                                    check=0).stdout]}
        assert all(d["members"] == [] for d in done.values())
        # now a lone operation runs
        w.host("hostC", "verify", SESSION, check=None)
    finally:
        w.destroy()


def test_killed_member_claims_taken_over(mariadb, tmp_path):
    w = Shared(mariadb, tmp_path, n_courses=10, grace="10s")
    try:
        w.session()
        w.src.set_fault("*", "backup", "slow:1.5")
        a = w.start("hostA", "archive", SESSION, "--share")
        b = w.start("hostB", "archive", SESSION, "--share")
        # kill A while it holds a claim it has not finished
        wait_until(lambda: any(c["host"] == "hostA" and "state" not in c
                               for c in w.claims().values())
                   and len(w.manifest_lines()) >= 2,
                   timeout=60, what="host A in the middle of a course")
        held = [n for n, c in w.claims().items()
                if c["host"] == "hostA" and "state" not in c]
        a.kill()
        w.finish(a)
        rc, err = w.finish(b, timeout=180)
        assert rc == 0, err
        assert "claim taken over from host hostA" in err, err
        assert_each_course_once(w)
        claims = w.claims()
        for name in held:
            assert claims[name]["host"] == "hostB", claims[name]
            assert claims[name]["state"] == "done"
        st = json.loads(w.host("hostB", "status", SESSION, "--json",
                               check=0).stdout)
        assert st["courses"]["archived"] == 10, st
    finally:
        w.destroy()


def test_shards_are_fixed_subsets(mariadb, tmp_path):
    w = Shared(mariadb, tmp_path, n_courses=9)
    try:
        w.session()
        w.host("hostA", "archive", SESSION, "--shard", "1/2", check=0)
        mine = sorted(l["source_course_id"] for _, l in w.manifest_lines())
        assert mine == sorted(i for i in w.ids if i % 2 == 0)
        assert not any(e["event"] == "archive_complete"
                       for e in w.journal())
        w.host("hostB", "archive", SESSION, "--shard", "2/2", check=0)
        assert_each_course_once(w)
        assert any(e["event"] == "archive_complete" for e in w.journal())
        for bad in ("0/2", "3/2", "1/0", "x", "1/2/3", "1/1001"):
            r = w.host("hostA", "archive", SESSION, "--shard", bad,
                       check=2)
            assert "bad --shard" in r.stderr, r.stderr
    finally:
        w.destroy()
