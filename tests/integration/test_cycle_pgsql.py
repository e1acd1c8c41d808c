"""The whole annual cycle with Moodle on PostgreSQL (issue 17): fake sites
whose database is a real private PostgreSQL (harness/postgres.py; the
fake's PHP on PDO pgsql, the tool on libpq) or the real MariaDB, in every
pairing: both on MariaDB, both on PostgreSQL, the source on PostgreSQL
with the archive on MariaDB, and the reverse. Plan, archive, restore,
verify, purge of the source with preview, dry run and confirm, then purge
of the archive.

Run: SA_BUILD=/work/main/build/asan /usr/bin/python3 -m pytest -q tests/integration/test_cycle_pgsql.py
"""

import json

import pytest

from fakesite import FakeSite
from harness.platforms import PHP, SESSION, Workspace, needs_php, unique

pytestmark = needs_php

HTML_FULLNAME = 'Histoire "moderne" & Géographie <b>'


class World(Workspace):
    def __init__(self, src_server, arc_server, tmp_path):
        tag = unique("")
        self.src = FakeSite.create(src_server, tmp_path / "sites",
                                   "cs" + tag)
        self.arc = FakeSite.create(arc_server, tmp_path / "sites",
                                   "ca" + tag)
        self.target = self.arc.add_category("Archives", 0, idnumber="ARCH")
        super().__init__(tmp_path)
        s = self.src
        root = s.add_category(SESSION, 0, idnumber=SESSION)
        sci = s.add_category("Sciences", root)
        maths = s.add_category("Maths", sci)
        self.cats = {"root": root, "Sciences": sci, "Maths": maths}
        self.ids = [s.add_course(cat, "%s%d" % (n, i), "%s course %d" % (n, i),
                                 files=[("f%d.txt" % i, 300 + i),
                                        ("same.txt", dict(size=900,
                                                          kind="text",
                                                          seed="same"))],
                                 activities=["page"] if i % 2 else ())
                    for i, (cat, n) in enumerate(
                        [(root, "TOP"), (sci, "SCI"), (sci, "SCI"),
                         (maths, "MAT")])]
        self.ids.append(s.add_course(sci, "HIST-25", HTML_FULLNAME,
                                     files=[("h.txt", 500)]))
        self.write_config({
            "source": {"moodle": self.src.site_dir, "php": PHP},
            "archive": {"moodle": self.arc.site_dir, "php": PHP,
                        "target": "id:%d" % self.target},
            "jobs": {"timeout": "30s", "parallel": "2"},
            "purge": {"recyclebin": "no"}})

    def cli(self, *args, check=0):
        return self.sa(*args, check=check)

    def events(self, name):
        out = []
        for p in sorted((self.store / SESSION / ".session").glob(
                "journal-*.jsonl")):
            out += [json.loads(l) for l in p.read_text().splitlines()
                    if l.strip()]
        return [e for e in out if e["event"] == name]

    def destroy(self):
        self.src.destroy()
        self.arc.destroy()


def course_ids(site):
    return {c["id"] for c in site.query("SELECT id FROM {course}")}


@pytest.mark.parametrize("pairing", ["mariadb-mariadb", "pgsql-pgsql",
                                     "pgsql-mariadb", "mariadb-pgsql"])
def test_cycle(pairing, mariadb, postgres, tmp_path):
    servers = {"mariadb": mariadb, "pgsql": postgres}
    src_kind, arc_kind = pairing.split("-")
    w = World(servers[src_kind], servers[arc_kind], tmp_path)
    try:
        # each site's PHP and the tool do talk to the server named
        for site, kind in ((w.src, src_kind), (w.arc, arc_kind)):
            with open(site.site_dir + "/config.php") as f:
                assert ("$CFG->dbtype    = '%s';" % (
                    "pgsql" if kind == "pgsql" else "mariadb")) in f.read()
            assert site.postgresql == (kind == "pgsql")
        checks = {c["name"]: c for c in json.loads(
            w.cli("doctor", "--json", check=None).stdout)["checks"]}
        for side, kind in (("source", src_kind), ("archive", arc_kind)):
            db = checks[side + ".database"]
            assert db["status"] == "OK", db
            assert ("PostgreSQL" if kind == "pgsql" else "MySQL/MariaDB") \
                in db["detail"], db
        plan = json.loads(w.cli("plan", "archive", SESSION, "--json").stdout)
        estimates = {c["id"]: c["estimate"] for c in plan["courses"]}
        assert sorted(estimates) == sorted(w.ids)
        # distinct contents, as the fake site counts them itself, plus
        # the plan's allowance per backup (its XML)
        overhead = {estimates[i] - w.src.course_estimate(i) for i in w.ids}
        assert len(overhead) == 1 and overhead.pop() > 0

        w.cli("archive", SESSION)
        assert sorted(e["source_course_id"] for e in w.events("backup")) \
            == sorted(w.ids)
        w.cli("restore", SESSION)
        copies = {e["source_course_id"]: e["archive_course_id"]
                  for e in w.events("restore")}
        assert sorted(copies) == sorted(w.ids)
        for sid, aid in copies.items():
            orig, copy = w.src.course(sid), w.arc.course(aid)
            assert copy["shortname"] == orig["shortname"]
        assert w.arc.course(copies[w.ids[-1]])["fullname"] == \
            HTML_FULLNAME.replace("<b>", "")

        r = w.cli("verify", SESSION)
        assert r.stdout.splitlines()[0] == "PASS %d/%d" % (len(w.ids),
                                                           len(w.ids))

        pre = json.loads(w.cli("purge", SESSION, "--side", "source",
                               "--preview", "--json").stdout)
        assert sorted(c["id"] for c in pre["courses"]) == sorted(w.ids)
        before = course_ids(w.src)
        w.cli("purge", SESSION, "--side", "source", "--dry-run")
        assert course_ids(w.src) == before
        w.cli("purge", SESSION, "--side", "source", "--confirm")
        assert not set(w.ids) & course_ids(w.src)
        for c in w.cats.values():
            assert w.src.category(c) is None
        assert set(copies.values()) <= course_ids(w.arc)

        w.cli("purge", SESSION, "--side", "archive", "--confirm")
        assert not set(copies.values()) & course_ids(w.arc)
        assert w.arc.category(w.target) is not None
        listing = {c["source_course_id"]: c for c in json.loads(
            w.cli("list", SESSION, "--json").stdout)}
        assert {listing[i]["state"] for i in w.ids} == {"purged"}
    finally:
        w.destroy()
