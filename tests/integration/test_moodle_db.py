"""moodle/'s SQL backend (db.c over mysql.c) against fake Moodle sites on the
real-MariaDB fixture: site identity, categories, courses and their
estimates, a db URL instead of config.php, a dead or refusing database,
missing tables and table prefixes.

Run: SA_BUILD=/work/main/build/asan /usr/bin/python3 -m pytest -q tests/integration/test_moodle_db.py
"""

import hashlib

import pytest

from fakesite import FakeSite, generate_session
from harness.moodletest import (check_courses, copy_site, edit_config, expected_name_paths, fill_sample_site, ok,
                                php_conf, run_helper, url_conf)
from harness.platforms import PHP, needs_php, write_private, write_secret

pytestmark = needs_php


@pytest.fixture(scope="module")
def sites_root(tmp_path_factory):
    return tmp_path_factory.mktemp("mt")


@pytest.fixture(scope="module")
def site(mariadb, sites_root):
    s = FakeSite.create(mariadb, sites_root, "sam_src", wwwroot="http://localhost/sam")
    fill_sample_site(s)
    yield s
    s.destroy()


@pytest.fixture(scope="module")
def conf(site, sites_root):
    return php_conf(sites_root, site.site_dir, name="main.conf")


def test_site_and_categories(site, conf):
    d = ok(conf)
    assert d["site"] == {"siteidentifier": site.siteidentifier,
                         "site_hash": hashlib.md5(site.siteidentifier.encode()).hexdigest(),
                         "release": "4.5.6 (Build: 20250811)", "version": 2024100706,
                         "wwwroot": "http://localhost/sam", "dataroot": site.dataroot}
    want = {c["id"]: c for c in site.categories()}
    names = expected_name_paths(site)
    assert sorted(c["id"] for c in d["categories"]) == sorted(want)
    assert [c["path"] for c in d["categories"]] == sorted(c["path"] for c in want.values())
    for c in d["categories"]:
        w = want[c["id"]]
        assert (c["parent"], c["name"], c["idnumber"], c["depth"], c["sortorder"]) == \
            (w["parent"], w["name"], w["idnumber"] or "", w["depth"], w["sortorder"])
        assert c["name_path"] == names[c["id"]]
    by_path = {c["name_path"]: c["id"] for c in d["categories"]}
    assert by_path["/2025-2026/Sciences/Maths"] == site.ids["maths"]
    assert by_path["/2025-2026/Lettres"] == site.ids["let"]
    assert by_path["/2024-2025/Sciences"] == site.ids["sci24"]
    assert d["backup_argv"] == [PHP, site.site_dir + "/admin/cli/backup.php", "--courseid=2"]


def test_courses_of_a_session(site, conf):
    d = ok(conf, "source", site.ids["s25"])
    check_courses(site, d, site.ids["s25"])
    got = {c["id"]: c for c in d["courses"]}
    c = site.c
    assert set(got) == {c[k] for k in ("math1", "math2", "let1", "dup", "empty", "deleting", "long")}
    # two identical files in one course: the content counts once
    rows = site.course_files(c["dup"])
    assert len(rows) == 3 and got[c["dup"]]["estimate"] == 3000 + 1234
    assert got[c["dup"]]["estimate"] < sum(r["filesize"] for r in rows)
    # the same content in two courses counts in each
    assert got[c["math2"]]["estimate"] == 5000 + 700 and got[c["let1"]]["estimate"] == 5000 + 900
    assert got[c["empty"]]["estimate"] == 0 and got[c["empty"]]["activities"] == 0
    assert got[c["empty"]]["sections"] == 4
    # a resource, a page and a url; one of them is being deleted
    n = site.query("SELECT COUNT(*) AS n FROM {course_modules} WHERE course = %s", (c["deleting"],))[0]["n"]
    assert n == 3 and got[c["deleting"]]["activities"] == 2
    assert got[c["long"]]["estimate"] == 4000 + 1500
    assert got[c["long"]]["shortname"] == "LONG-" + "é" * 120
    assert got[c["long"]]["idnumber"] == "LONG-25"


def test_courses_of_subcategories(site, conf):
    d = ok(conf, "source", site.ids["maths"])
    assert [x["id"] for x in d["courses"]] == [site.c["math1"], site.c["math2"]]
    check_courses(site, d, site.ids["maths"])
    d = ok(conf, "source", site.ids["sci"])
    check_courses(site, d, site.ids["sci"])
    d = ok(conf, "source", site.ids["s24"])
    assert [x["id"] for x in d["courses"]] == [site.c["old"]]
    check_courses(site, d, site.ids["s24"])
    # "Category 1" of a fresh install holds nothing; the site course never shows
    d = ok(conf, "source", 1)
    assert d["courses"] == []


def test_unknown_category(site, conf):
    r = run_helper(conf, "source", 999999)
    assert r.returncode == 1 and "no category with id 999999" in r.stderr


def test_generated_session(site, conf):
    desc = generate_session(site, "2023-2024", n_categories=8, n_courses=25, file_sizes=(100, 20000), seed=7)
    d = ok(conf, "source", desc["session_category"])
    assert len(d["courses"]) == 25
    check_courses(site, d, desc["session_category"])
    assert {x["id"] for x in d["courses"]} == {x["id"] for x in desc["courses"]}
    for x in desc["courses"]:
        assert [y for y in d["courses"] if y["id"] == x["id"]][0]["estimate"] == x["estimate"]


def test_db_url(site, tmp_path):
    c = url_conf(tmp_path, site, site.dbpass)
    d = ok(c, "source", site.ids["s25"])
    check_courses(site, d, site.ids["s25"])
    assert d["site"]["site_hash"] == hashlib.md5(site.siteidentifier.encode()).hexdigest()
    assert d["site"]["wwwroot"] is None and d["site"]["dataroot"] is None
    # the archive section, with a url standing for wwwroot
    pw = write_secret(tmp_path / "a.pw", site.dbpass)
    c = write_private(tmp_path / "arc.conf",
                   "[archive]\nmoodle = %s\ndb = mysql://%s@localhost/%s?socket=%s\ndb_password_file = %s\n"
                   "url = https://archive.example.org\n"
                   % (site.site_dir, site.dbuser, site.dbname, site.server.socket, pw))
    d = ok(c, "archive")
    assert d["site"]["wwwroot"] == "https://archive.example.org"
    r = run_helper(c, "source")
    assert r.returncode == 2 and "no Moodle directory" in r.stderr


def test_bad_password(site, tmp_path):
    wrong = "wrong-" + site.dbpass[::-1]
    c = url_conf(tmp_path, site, wrong)
    r = run_helper(c, "source")
    assert r.returncode == 5, r.stderr
    assert "cannot connect to database '%s'" % site.dbname in r.stderr
    assert "Access denied" in r.stderr
    for out in (r.stdout, r.stderr):
        assert wrong not in out and site.dbpass not in out


def test_db_down(site, tmp_path):
    dead = tmp_path / "nothing.sock"
    c = url_conf(tmp_path, site, site.dbpass, socket=dead)
    r = run_helper(c, "source")
    assert r.returncode == 5, r.stderr
    assert "cannot connect to database '%s' on 'localhost' (socket '%s')" % (site.dbname, dead) in r.stderr
    assert r.elapsed < 5
    # the same through config.php: dbsocket names the dead socket
    d = copy_site(site, tmp_path / "down")
    edit_config(d, lambda t: t.replace(site.server.socket, str(dead)))
    r = run_helper(php_conf(tmp_path, d), "source")
    assert r.returncode == 5 and "cannot connect" in r.stderr and site.dbpass not in r.stderr
    assert r.elapsed < 5


def test_missing_table_and_column(mariadb, sites_root):
    s = FakeSite.create(mariadb, sites_root, "sam_drop")
    try:
        c = php_conf(sites_root, s.site_dir, name="drop.conf")
        ok(c)
        s.query("ALTER TABLE {course_modules} DROP COLUMN deletioninprogress")
        r = run_helper(c)
        assert r.returncode == 5 and "'mdl_course_modules'" in r.stderr and "deletioninprogress" in r.stderr
        s.query("DROP TABLE {files}")
        r = run_helper(c)
        assert r.returncode == 5
        assert "table 'mdl_files' missing in database 'fm_sam_drop'" in r.stderr
    finally:
        s.destroy()


def test_other_prefix(mariadb, sites_root, tmp_path):
    s = FakeSite.create(mariadb, sites_root, "sam_m2", prefix="m2_")
    try:
        cat = s.add_category("2025-2026", 0, idnumber="2025-2026")
        sub = s.add_category("Maths", cat)
        s.add_course(sub, "M2-1", "Préfixe", files=[("x.txt", 1200), ("y.txt", 1200)], activities=["page"])
        d = ok(php_conf(tmp_path, s.site_dir), "source", cat)
        check_courses(s, d, cat)
        assert len(d["courses"]) == 1
        assert "/2025-2026/Maths" in [c["name_path"] for c in d["categories"]]
        # with a db URL the prefix must be configured: Moodle's default otherwise
        c = url_conf(tmp_path, s, s.dbpass, extra="prefix = m2_\n")
        check_courses(s, ok(c, "source", cat), cat)
        r = run_helper(url_conf(tmp_path, s, s.dbpass, name="noprefix.conf"))
        assert r.returncode == 5 and "table 'mdl_config' missing" in r.stderr
        # the configured prefix overrides config.php's
        r = run_helper(php_conf(tmp_path, s.site_dir, "prefix = mdl_\n", name="over.conf"))
        assert r.returncode == 5 and "table 'mdl_config' missing" in r.stderr
    finally:
        s.destroy()


def test_bad_prefix(site, tmp_path):
    r = run_helper(php_conf(tmp_path, site.site_dir, "prefix = mdl-\n"))
    assert r.returncode == 2 and "prefix" in r.stderr
    d = copy_site(site, tmp_path / "pfx")
    edit_config(d, lambda t: t.replace("$CFG->prefix    = 'mdl_'", "$CFG->prefix    = 'mdl`; DROP'"))
    r = run_helper(php_conf(tmp_path, d, name="pfx.conf"))
    assert r.returncode == 2 and "bad table prefix 'mdl`; DROP'" in r.stderr
