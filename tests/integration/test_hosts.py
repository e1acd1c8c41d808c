"""Several hosts, one store (issue 15): the session lease in
STORE/<session>/.session/lease.json. Each "host" is a process with its own
index and its own [store] host name, sharing one store and the fake sites
(real MariaDB, real php). An operation that must run alone is refused with
exit 8 naming the holder; a holder silent for longer than [store]
lease_grace, or a dead process of the same host, is taken over, and the
takeover is in the journal. And a backup dropped by hand into a session is
no course of it (state unknown).

Run: SA_BUILD=/work/main/build/asan /usr/bin/python3 -m pytest -q tests/integration/test_hosts.py
"""

import json
import os
import shutil
import time

import pytest

from harness.build import run_cli
from harness.platforms import PHP, SESSION, needs_php, wait_until, \
    write_config
from test_verify_purge import World

pytestmark = needs_php

EXIT_BUSY = 8


class Hosts(World):
    """World's sites and store; host A is World's own config, host B a
    second config with its own index and host name."""

    def __init__(self, mariadb, tmp_path, grace="10s"):
        self.grace = grace
        super().__init__(mariadb, tmp_path)

    def write_config(self, sections):
        sections = dict(sections)
        for name in ("a", "b"):
            store = {"path": self.store, "index": self.tmp / (name + ".db"),
                     "host": "host" + name.upper(),
                     "lease_grace": self.grace}
            write_config(self.tmp / ("sa-%s.conf" % name),
                         {"store": store, **sections})
        self.conf = self.tmp / "sa-a.conf"

    def sa_b(self, *args, check=None, timeout=120):
        return run_cli("-c", self.tmp / "sa-b.conf", *args, check=check,
                       timeout=timeout)

    def lease(self):
        p = self.meta() / "lease.json"
        return json.loads(p.read_text()) if p.exists() else None

    def slow(self, op, seconds):
        for cid in self.ids:
            site = self.src if op == "backup" else self.arc
            site.set_fault(cid, op, None if seconds is None
                           else "slow:%s" % seconds)

    def kill_archive_after(self, n_backups):
        """Host A's archive, slowed, SIGKILLed once n_backups are done;
        then backups are fast again. Returns the dead process."""
        self.slow("backup", 1)
        a = self.popen("archive", SESSION)
        wait_until(lambda: len(self.events("backup")) >= n_backups,
                   what="%d backup(s) by host A" % n_backups)
        a.kill()
        self.finish(a)
        self.slow("backup", None)
        return a


@pytest.fixture
def hosts(mariadb, tmp_path):
    w = Hosts(mariadb, tmp_path)
    try:
        w.session()
        yield w
    finally:
        w.destroy()


def assert_archived_once(w):
    lines = [json.loads(l) for l in
             (w.meta() / "manifest.jsonl").read_text().splitlines()]
    ids = [l["source_course_id"] for l in lines]
    assert sorted(ids) == sorted(w.ids), ids
    backups = [e["source_course_id"] for e in w.events("backup")]
    assert sorted(backups) == sorted(w.ids), backups


def test_second_host_refused_while_first_archives(hosts):
    hosts.slow("backup", 0.5)
    a = hosts.popen("archive", SESSION)
    wait_until(lambda: hosts.lease() is not None, what="host A's lease")
    lease = hosts.lease()
    assert lease["host"] == "hostA" and lease["operation"] == "archive"
    assert lease["pid"] == a.pid
    r = hosts.sa_b("archive", SESSION, check=EXIT_BUSY)
    assert "held by host hostA" in r.stderr and str(a.pid) in r.stderr
    assert "archive" in r.stderr
    # status on host B names the holder
    st = json.loads(hosts.sa_b("status", SESSION, "--json", check=0).stdout)
    assert (st["lease"]["host"], st["lease"]["pid"],
            st["lease"]["operation"]) == ("hostA", a.pid, "archive"), st
    text = hosts.sa_b("status", SESSION, check=0).stdout
    assert "held by: host hostA (pid %d, archive)" % a.pid in text, text
    overview = hosts.sa_b("status", check=0).stdout
    assert "held by host hostA (archive)" in overview, overview
    # the other operations are refused too; a preview only reads
    hosts.sa_b("verify", SESSION, check=EXIT_BUSY)
    hosts.sa_b("purge", SESSION, "--side", "archive", "--dry-run",
               check=EXIT_BUSY)
    rc, err = hosts.finish(a)
    assert rc == 0, err
    assert hosts.lease() is None
    st = json.loads(hosts.sa_b("status", SESSION, "--json", check=0).stdout)
    assert st["lease"] is None
    assert_archived_once(hosts)
    # host B, its own index built from the store, finds nothing to do
    r = hosts.sa_b("archive", SESSION, check=0)
    assert "nothing to do" in r.stderr
    assert_archived_once(hosts)


def test_heartbeat_keeps_a_long_run_its_lease(hosts):
    hosts.slow("backup", 4.5)      # 3 x 4.5 s, 2 at a time: past the grace
    a = hosts.popen("archive", SESSION)
    wait_until(lambda: hosts.lease() is not None, what="host A's lease")
    first = hosts.lease()["heartbeat"]
    time.sleep(11)
    assert hosts.lease()["heartbeat"] > first
    hosts.sa_b("archive", SESSION, check=EXIT_BUSY)
    rc, err = hosts.finish(a)
    assert rc == 0, err
    assert_archived_once(hosts)


def test_two_hosts_restoring_one_runs(hosts):
    hosts.archive()
    hosts.slow("restore", 0.5)
    a = hosts.popen("restore", SESSION)
    wait_until(lambda: (hosts.lease() or {}).get("operation") == "restore",
               what="host A's restore lease")
    r = hosts.sa_b("restore", SESSION, check=EXIT_BUSY)
    assert "held by host hostA" in r.stderr and "restore" in r.stderr
    rc, err = hosts.finish(a)
    assert rc == 0, err
    restores = [e["source_course_id"] for e in hosts.events("restore")]
    assert sorted(restores) == sorted(hosts.ids)
    # host B now sees them restored: nothing made twice on the archive
    hosts.sa_b("restore", SESSION, check=0)
    assert len(hosts.events("restore")) == len(hosts.ids)
    hosts.sa_b("verify", SESSION, check=0)


def test_two_hosts_purging_one_runs(hosts):
    hosts.archive()
    hosts.restore()
    hosts.verify(check=0)
    for cid in hosts.ids:
        hosts.src.set_fault(cid, "delete", "slow:0.5")
    a = hosts.popen("purge", SESSION, "--side", "source", "--confirm")
    wait_until(lambda: (hosts.lease() or {}).get("operation") == "purge",
               what="host A's purge lease")
    r = hosts.sa_b("purge", SESSION, "--side", "source", "--confirm",
                   check=EXIT_BUSY)
    assert "held by host hostA" in r.stderr and "purge" in r.stderr
    # the preview reads only: not refused
    hosts.sa_b("purge", SESSION, "--side", "source", "--preview", check=0)
    rc, err = hosts.finish(a)
    assert rc == 0, err
    purges = [e["source_course_id"] for e in hosts.events("purge")]
    assert sorted(purges) == sorted(hosts.ids)


def test_dead_host_taken_over_after_the_grace(hosts):
    a = hosts.kill_archive_after(2)
    dead = hosts.lease()
    assert dead["host"] == "hostA"
    # silent for less than the grace: still refused
    hosts.sa_b("archive", SESSION, check=EXIT_BUSY)
    wait_until(lambda: time.time() - dead["heartbeat"] > 11, timeout=30,
               what="the grace to pass")
    r = hosts.sa_b("archive", SESSION, check=0)
    assert "took the lease over from host hostA" in r.stderr
    takeover = hosts.events("lease_takeover")
    assert len(takeover) == 1
    assert takeover[0]["host"] == "hostB"
    assert takeover[0]["from_host"] == "hostA"
    assert takeover[0]["from_pid"] == a.pid
    assert takeover[0]["from_operation"] == "archive"
    assert_archived_once(hosts)
    assert hosts.lease() is None


def test_dead_process_of_this_host_taken_over_at_once(hosts):
    hosts.kill_archive_after(1)
    r = hosts.archive(check=0)
    assert "took the lease over from host hostA" in r.stderr
    assert_archived_once(hosts)


def test_unreadable_lease_is_judged_by_its_age(hosts):
    hosts.archive()
    lease = hosts.meta() / "lease.json"
    lease.write_text("")           # a holder that died while writing it
    r = hosts.sa_b("verify", SESSION, check=EXIT_BUSY)
    assert "held by an unreadable lease" in r.stderr
    old = time.time() - 60
    os.utime(lease, (old, old))
    # it ran (and fails: nothing was restored)
    r = hosts.sa_b("verify", SESSION, check=1)
    assert "took the lease over from an unreadable lease" in r.stderr
    assert "backed up but never restored" in r.stdout
    assert not lease.exists()


def test_foreign_backup_is_no_course_of_the_session(hosts):
    hosts.archive()
    foreign = hosts.store / SESSION / "Foreign.mbz"
    shutil.copy(hosts.backup_path(hosts.ids[0]), foreign)
    hosts.sa("index", check=0)
    st = hosts.status()
    assert st["total"] == len(hosts.ids), st
    assert st["courses"]["unknown"] == 1, st
    listing = hosts.sa("list", SESSION, "--json", check=0)
    rows = {c["file"]: c for c in json.loads(listing.stdout)}
    assert rows["Foreign.mbz"]["state"] == "unknown"
    assert rows["Foreign.mbz"]["error"].startswith("named by no manifest")
    foreign.unlink()
    hosts.sa("index", check=0)
    rows = {c["file"]: c for c in
            json.loads(hosts.sa("list", SESSION, "--json").stdout)}
    assert "Foreign.mbz" not in rows
    assert hosts.status()["total"] == len(hosts.ids)
