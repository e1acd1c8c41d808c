"""[jobs] runner = worker: long-lived bridge workers back up, restore and
delete course after course. The same cycle as runner = cli, with the same
results; a worker that dies, hangs or grows is replaced and only its
course fails; a killed tool leaves no worker behind."""

import json
import re
import signal
import tarfile
import time

import pytest

from harness.platforms import (PHP, SESSION, TwoSites, needs_php,
                               php_running, wait_until)

pytestmark = needs_php


class World(TwoSites):
    """A source site with a session of 6 courses (2025-2026 > Sciences),
    an archive site with a target category, one store and index."""

    def __init__(self, mariadb, tmp_path):
        super().__init__(mariadb, tmp_path, "w")
        root = self.src.add_category(SESSION, 0, idnumber=SESSION)
        sci = self.src.add_category("Sciences", root)
        self.ids = [self.src.add_course(
            root if i < 3 else sci, "W%d" % i, "Worker course %d" % i,
            files=[("w%d.txt" % i, 300 + i)],
            activities=["page"] if i % 2 else ())
            for i in range(6)]
        self.configure()

    def configure(self, **jobs):
        jobs = {"timeout": "20s", "parallel": "2", "runner": "worker",
                **jobs}
        self.write_config({
            "source": {"moodle": self.src.site_dir, "php": PHP},
            "archive": {"moodle": self.arc.site_dir, "php": PHP,
                        "target": "id:%d" % self.target},
            "jobs": jobs})

    def run(self, op, *args, check=0, env=None):
        return self.sa(op, SESSION, *args, check=check, env=env)

    def listing(self):
        r = self.sa("list", SESSION, "--json", check=0)
        return {c["source_course_id"]: c for c in json.loads(r.stdout)}

    def journal(self):
        meta = self.store / SESSION / ".session"
        out = []
        for p in sorted(meta.glob("journal-*.jsonl")):
            out += [json.loads(l) for l in p.read_text().splitlines()
                    if l.strip()]
        return out

    def backups(self):
        return sorted(p for p in (self.store / SESSION).rglob("*.mbz")
                      if ".session" not in p.parts)


@pytest.fixture
def world(mariadb, tmp_path):
    w = World(mariadb, tmp_path)
    try:
        yield w
    finally:
        w.destroy()


def members(path):
    """The archive's members; files/ named by content hash, which differs
    from site to site (the contents name the site), counted only."""
    with tarfile.open(path) as tf:
        names = [m.name for m in tf.getmembers()]
    return (sorted(n for n in names if not n.startswith("files/")),
            sum(n.startswith("files/") for n in names))


def settings(path):
    """moodle_backup.xml's root settings, name -> value."""
    with tarfile.open(path) as tf:
        xml = tf.extractfile("moodle_backup.xml").read().decode()
    return dict(re.findall(r"<setting>\s*<level>root</level>\s*"
                           r"<name>([^<]+)</name>\s*<value>([^<]*)</value>",
                           xml))


def pool_stats(stderr, op):
    """(started, recycled, lost) from the run's pool line."""
    m = re.search(r"%s of %s: (\d+) bridge worker\(s\) started, (\d+) "
                  r"recycled, (\d+) lost" % (op, SESSION), stderr)
    assert m, stderr
    return tuple(int(x) for x in m.groups())


def bridge_workers():
    """The pids of bridge worker processes still running."""
    return php_running("sessionarchiver-bridge.php", "worker", wait=0)


# ------------------------------------------------------------------ cycle
def test_cycle_with_workers_matches_cli(world, mariadb, tmp_path):
    w = world
    r = w.run("archive", "-v")
    assert pool_stats(r.stderr, "archive")[0] in (1, 2)
    assert "backup.php for course" not in r.stderr
    r = w.run("restore", "-v")
    assert pool_stats(r.stderr, "restore")[0] in (1, 2)
    assert "restore_backup.php for course" not in r.stderr
    r = w.run("verify", check=0)
    assert r.stdout.splitlines()[0] == "PASS 6/6", r.stdout
    w.run("purge", "--side", "source", "--confirm")
    assert [c for c in w.src.courses() if c["id"] in w.ids] == []

    # the same session through admin/cli, in a world of its own
    cli = World(mariadb, tmp_path / "cli")
    try:
        cli.configure(runner="cli")
        cli.run("archive")
        cli.run("restore")
        assert cli.run("verify").stdout.splitlines()[0] == "PASS 6/6"
        mine, theirs = w.backups(), cli.backups()
        assert [p.relative_to(w.store) for p in mine] == \
            [p.relative_to(cli.store) for p in theirs]
        for a, b in zip(mine, theirs):
            assert members(a) == members(b), a
            assert settings(a) == settings(b), a
        # the same journal lines of archive and restore, field for field
        shape = lambda world: sorted(
            (e["event"], tuple(sorted(e)))
            for e in world.journal()
            if not e["event"].startswith(("verify", "purge")))
        assert shape(w) == shape(cli)
        names = lambda site: sorted((c["shortname"], c["fullname"])
                                    for c in site.courses())
        assert names(w.arc) == names(cli.arc)
    finally:
        cli.destroy()


# ------------------------------------------------------------------ faults
def test_a_worker_that_dies_hangs_or_fails_costs_only_its_course(world):
    w = world
    w.configure(timeout="3s", parallel="1")
    faults = {w.ids[0]: "fatal", w.ids[2]: "hang", w.ids[4]: "exit1"}
    for cid, mode in faults.items():
        w.src.set_fault(cid, "backup", mode)
    r = w.run("archive", "-v", check=6)
    listing = w.listing()
    want = {"fatal": "PHP Fatal error", "hang": "timed out",
            "exit1": "Error writing to backup file"}
    for cid, mode in faults.items():
        assert listing[cid]["state"] == "failed", listing[cid]
        assert want[mode] in listing[cid]["error"], listing[cid]
    good = [i for i in w.ids if i not in faults]
    assert all(listing[i]["state"] == "archived" for i in good), listing
    started, recycled, lost = pool_stats(r.stderr, "archive")
    assert lost == 2 and started == 3, r.stderr
    assert bridge_workers() == []
    w.src.clear_faults()
    w.run("archive", "--retry-failed")
    assert len(w.backups()) == 6


def test_workers_are_recycled_after_so_many_courses(world):
    w = world
    w.configure(parallel="1", worker_courses="2")
    r = w.run("archive", "-v")
    started, recycled, lost = pool_stats(r.stderr, "archive")
    assert (started, recycled, lost) == (3, 3, 0), r.stderr


def test_a_worker_past_its_memory_is_recycled(world):
    w = world
    w.configure(parallel="1", worker_memory="64")
    w.src.set_fault(w.ids[1], "backup", "memory:80")
    r = w.run("archive", "-v")
    started, recycled, lost = pool_stats(r.stderr, "archive")
    # the course that grew is done; its worker is not given another
    assert started == 2 and recycled >= 1 and lost == 0, r.stderr
    assert len(w.backups()) == 6


def test_killed_tool_leaves_no_worker_and_loses_nothing(world):
    w = world
    w.configure(parallel="2")
    for cid in w.ids:
        w.src.set_fault(cid, "backup", "slow:0.5")
    proc = w.popen("archive", SESSION)
    wait_until(lambda: len(bridge_workers()) == 2, timeout=30,
               what="two bridge workers")
    time.sleep(0.7)
    proc.send_signal(signal.SIGKILL)
    w.finish(proc)
    wait_until(lambda: bridge_workers() == [], timeout=10,
               what="the workers to die with the tool")
    w.src.clear_faults()
    w.run("archive")
    names = [p.name for p in w.backups()]
    assert sorted(names) == sorted(set(names)) and len(names) == 6
    w.run("restore")
    assert w.run("verify").stdout.splitlines()[0] == "PASS 6/6"
