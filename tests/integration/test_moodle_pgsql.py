"""moodle/'s SQL backend on PostgreSQL (db.c over pgsql.c, libpq) against a
real private PostgreSQL server: the sample fake site of test_moodle_db.py
(MariaDB) copied row for row onto PostgreSQL in Moodle 4.5's PostgreSQL
layout, then read both ways. Every read must give the same answer on both
servers (site, categories with their name paths, courses with sections,
activities and the distinct-content estimates, UTF-8 names); config.php
with $CFG->dbtype = 'pgsql' (dbhost, dboptions dbsocket/dbport) and a
postgresql:// URL; a wrong password, a dead server, a missing table, a
table prefix.

Run: SA_BUILD=/work/main/build/asan /usr/bin/python3 -m pytest -q tests/integration/test_moodle_pgsql.py
"""

import json
import re

import pytest

from fakesite import FakeSite, generate_session
from harness.build import run_cli
from harness.moodletest import (copy_site, edit_config, fill_sample_site, ok,
                                php_conf, run_helper, url_conf)
from harness.platforms import PHP, needs_php, write_private, write_secret
from harness.postgres import copy_site as copy_to_postgres

pytestmark = needs_php


@pytest.fixture(scope="module")
def sites_root(tmp_path_factory):
    return tmp_path_factory.mktemp("pg")


@pytest.fixture(scope="module")
def site(mariadb, sites_root):
    s = FakeSite.create(mariadb, sites_root, "spg_src",
                        wwwroot="http://localhost/spg")
    fill_sample_site(s)
    s.generated = generate_session(s, "2023-2024", n_categories=6,
                                   n_courses=30, file_sizes=(100, 20000),
                                   seed=11)
    yield s
    s.destroy()


@pytest.fixture(scope="module")
def pg_db(site, postgres):
    return copy_to_postgres(site, postgres)


def pg_url_conf(tmp_path, site, postgres, db, password=None, extra="",
                socket=None, name="pg.conf"):
    pw = write_secret(tmp_path / (name + ".pw"),
                      db["dbpass"] if password is None else password)
    return write_private(
        tmp_path / name,
        "[source]\nmoodle = %s\nphp = %s\n"
        "db = postgresql://%s@localhost/%s?socket=%s\n"
        "db_password_file = %s\n%s"
        % (site.site_dir, PHP, db["dbuser"], db["dbname"],
           socket or postgres.socket_dir, pw, extra))


def pg_site_dir(site, dest, postgres, db, host="localhost", socket=True,
                port=None):
    """A copy of the site's code whose config.php points at PostgreSQL."""
    d = copy_site(site, dest)

    def to_pg(text):
        text = text.replace("$CFG->dbtype    = 'mariadb';",
                            "$CFG->dbtype    = 'pgsql';")
        text = re.sub(r"\$CFG->dbname    = '[^']*';",
                      "$CFG->dbname    = '%s';" % db["dbname"], text)
        text = re.sub(r"\$CFG->dbuser    = '[^']*';",
                      "$CFG->dbuser    = '%s';" % db["dbuser"], text)
        text = re.sub(r"\$CFG->dbpass    = '[^']*';",
                      "$CFG->dbpass    = '%s';" % db["dbpass"], text)
        text = text.replace("$CFG->dbhost    = 'localhost';",
                            "$CFG->dbhost    = '%s';" % host)
        text = text.replace("'dbsocket' => '%s'" % site.server.socket,
                            "'dbsocket' => '%s'" % postgres.socket_dir
                            if socket is True else "'dbsocket' => ''")
        if port:
            text = text.replace("'dbport' => ''", "'dbport' => %d" % port)
        return text

    edit_config(d, to_pg)
    return d


CATEGORIES = ["s25", "sci", "maths", "let", "s24"]


def answers(conf, site):
    out = {"": ok(conf)}
    for k in CATEGORIES:
        out[k] = ok(conf, "source", site.ids[k])
        out[k + " flat"] = ok(conf, "source", site.ids[k], "flat")
    out["generated"] = ok(conf, "source", site.generated["session_category"])
    return out


def test_every_read_the_same_on_both_servers(site, postgres, pg_db,
                                             tmp_path):
    maria = answers(url_conf(tmp_path, site, site.dbpass), site)
    pg = answers(pg_url_conf(tmp_path, site, postgres, pg_db), site)
    assert maria[""]["site"]["siteidentifier"] == site.siteidentifier
    assert maria["s25"]["courses"], "the sample session has courses"
    for key in maria:
        assert pg[key] == maria[key], key
    long = [c for c in pg["s25"]["courses"] if c["shortname"].startswith(
        "LONG-")]
    assert long and long[0]["shortname"] == "LONG-" + "é" * 120
    assert sum(c["estimate"] for c in pg["generated"]["courses"]) == \
        sum(c["estimate"] for c in site.generated["courses"])


def test_config_php_with_dbtype_pgsql(site, postgres, pg_db, tmp_path):
    want = ok(url_conf(tmp_path, site, site.dbpass), "source",
              site.ids["s25"])
    d = pg_site_dir(site, tmp_path / "pgsite", postgres, pg_db)
    got = ok(php_conf(tmp_path, d), "source", site.ids["s25"])
    assert got["courses"] == want["courses"]
    assert got["site"]["wwwroot"] == "http://localhost/spg"
    assert got["site"]["site_hash"] == want["site"]["site_hash"]


def test_bad_password_and_dead_server(site, postgres, pg_db, tmp_path):
    wrong = "wrong-" + pg_db["dbpass"][::-1]
    r = run_helper(pg_url_conf(tmp_path, site, postgres, pg_db,
                               password=wrong, name="bad.conf"), "source")
    assert r.returncode == 5, r.stderr
    assert "cannot connect to database '%s'" % pg_db["dbname"] in r.stderr
    assert "password authentication failed" in r.stderr
    for out in (r.stdout, r.stderr):
        assert wrong not in out and pg_db["dbpass"] not in out
    dead = tmp_path / "nowhere"
    dead.mkdir()
    r = run_helper(pg_url_conf(tmp_path, site, postgres, pg_db,
                               socket=dead, name="dead.conf"), "source")
    assert r.returncode == 5, r.stderr
    assert "cannot connect to database '%s' on '%s'" % (
        pg_db["dbname"], dead) in r.stderr
    assert r.elapsed < 5


def test_missing_table_and_prefix(site, postgres, tmp_path):
    db = copy_to_postgres(site, postgres, prefix="m2_", name="fmpg_spg_m2")
    conf = pg_url_conf(tmp_path, site, postgres, db, name="m2.conf")
    r = run_helper(conf, "source")
    assert r.returncode == 5 and "table 'mdl_config' missing" in r.stderr
    conf = pg_url_conf(tmp_path, site, postgres, db, extra="prefix = m2_\n",
                       name="m2p.conf")
    want = ok(url_conf(tmp_path, site, site.dbpass), "source",
              site.ids["maths"])
    assert ok(conf, "source", site.ids["maths"])["courses"] == \
        want["courses"]
    postgres.execute("DROP TABLE m2_files", db=db["dbname"])
    r = run_helper(conf, "source")
    assert r.returncode == 5
    assert "table 'm2_files' missing in database '%s'" % db["dbname"] \
        in r.stderr


def test_doctor_checks_the_postgresql_connection(site, postgres, pg_db,
                                                tmp_path):
    store = tmp_path / "dstore"
    run_cli("init", "--store", store, check=0)
    conf = pg_url_conf(tmp_path, site, postgres, pg_db, name="doc.conf",
                       extra="[store]\npath = %s\n" % store)
    r = run_cli("-c", conf, "doctor", check=None)
    line = [l for l in r.stdout.splitlines() if " source.database " in l]
    assert line and line[0].startswith("OK") and "PostgreSQL" in line[0], \
        r.stdout
    bad = pg_url_conf(tmp_path, site, postgres, pg_db, password="nope",
                      name="docbad.conf",
                      extra="[store]\npath = %s\n" % store)
    r = run_cli("-c", bad, "doctor", check=None)
    line = [l for l in r.stdout.splitlines() if " source.database " in l]
    assert line and line[0].startswith("FAIL"), r.stdout
    assert "password authentication failed" in line[0]


def test_plan_on_postgresql_as_on_mariadb(site, postgres, pg_db, tmp_path):
    """The CLI's plan of a session (categories, courses, estimates) is the
    same whichever server holds the source."""
    store = tmp_path / "store"
    run_cli("init", "--store", store, check=0)
    outs = []
    for name, source in (
            ("maria", "moodle = %s\nphp = %s\n" % (site.site_dir, PHP)),
            ("pg", "moodle = %s\nphp = %s\n"
             "db = postgresql://%s@localhost/%s?socket=%s\n"
             "url = http://localhost/spg\n"
             "db_password_file = %s\n" % (
                 site.site_dir, PHP, pg_db["dbuser"], pg_db["dbname"],
                 postgres.socket_dir,
                 write_secret(tmp_path / "plan.pw", pg_db["dbpass"])))):
        conf = write_private(
            tmp_path / (name + ".conf"),
            "[store]\npath = %s\nindex = %s\n[source]\n%s" % (
                store, tmp_path / (name + ".db"), source))
        r = run_cli("-c", conf, "plan", "archive", "2025-2026", "--json",
                    check=0)
        plan = json.loads(r.stdout)
        plan.pop("free_bytes")  # the disk's, which moves between the runs
        outs.append(plan)
    assert outs[0] == outs[1]
    assert "MATH-1" in [c["shortname"] for c in outs[0]["courses"]]
