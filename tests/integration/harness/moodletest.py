"""What the tests of moodle/ share: the helper build/<...>/tests/sa-moodletest
opens a platform the way sessionarchiver does and prints what moodle.h
returns as JSON; run_helper/ok run it, php_conf/url_conf write the configs
it reads, check_courses compares its answer with what fakesite.py reads
from the same database.

Not a plugin (no fixtures): conftest.py only has its asserts rewritten.
"""
import json
import os
import shutil
import subprocess
import time

import pytest

from fakesite import FakeSite
from harness.build import BUILD, sanitizer_env
from harness.platforms import PHP, write_private, write_secret

HELPER = BUILD / "tests" / "sa-moodletest"


def run_helper(conf, *args, timeout=60):
    assert HELPER.exists(), f"{HELPER} missing: run make SAN=1 unit-tests"
    t = time.monotonic()
    r = subprocess.run([str(HELPER), str(conf), *map(str, args)], capture_output=True, text=True,
                       env=sanitizer_env(), timeout=timeout)
    r.elapsed = time.monotonic() - t
    assert "Sanitizer" not in r.stderr, r.stderr
    assert "runtime error" not in r.stderr, r.stderr
    return r


def ok(conf, *args):
    r = run_helper(conf, *args)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stderr}"
    return json.loads(r.stdout)


def php_conf(tmp_path, site_dir, extra="", section="source", name="php.conf"):
    return write_private(tmp_path / name, "[%s]\nmoodle = %s\nphp = %s\n%s" % (section, site_dir, PHP, extra))


def url_conf(tmp_path, site, password, extra="", socket=None, name="url.conf"):
    pw = write_secret(tmp_path / (name + ".pw"), password)
    return write_private(tmp_path / name,
                      "[source]\nmoodle = %s\nphp = %s\ndb = mysql://%s@localhost/%s?socket=%s\n"
                      "db_password_file = %s\n%s"
                      % (site.site_dir, PHP, site.dbuser, site.dbname, socket or site.server.socket, pw, extra))


def expected_name_paths(site):
    cats = {c["id"]: c for c in site.categories()}
    out = {}
    for cid, c in cats.items():
        ids = [int(x) for x in c["path"].split("/") if x]
        out[cid] = "".join("/" + cats[i]["name"] for i in ids)
    return out


def subtree(site, cat):
    cats = site.categories()
    root = [c for c in cats if c["id"] == cat][0]
    return {c["id"] for c in cats if c["id"] == cat or c["path"].startswith(root["path"] + "/")}


def check_courses(site, got, cat):
    """got: the helper's JSON for category cat (recursive)."""
    ids = subtree(site, cat)
    want = [c for c in site.courses() if c["category"] in ids]
    assert [c["id"] for c in got["courses"]] == [c["id"] for c in want]
    for c, w in zip(got["courses"], want):
        assert c["category"] == w["category"]
        assert c["shortname"] == w["shortname"] and c["fullname"] == w["fullname"]
        assert c["idnumber"] == (w["idnumber"] or "")
        assert (c["startdate"], c["enddate"], c["visible"]) == (w["startdate"], w["enddate"], w["visible"])
        assert c["estimate"] == site.course_estimate(c["id"]), c
        assert (c["sections"], c["activities"]) == site.course_counts(c["id"]), c
    assert got["single"] == got["courses"]
    assert got["missing"] == 1 and got["site_course"] == 1


def copy_site(site, dest):
    shutil.copytree(site.site_dir, dest)
    return str(dest)


def edit_config(site_dir, fn):
    p = os.path.join(site_dir, "config.php")
    with open(p, encoding="utf-8") as f:
        text = f.read()
    new = fn(text)
    assert new != text
    with open(p, "w", encoding="utf-8") as f:
        f.write(new)


def fresh_site_fixture(name):
    """A module-scoped fixture: a fake site named name holding only what a
    fresh install has."""
    @pytest.fixture(scope="module")
    def site(mariadb, tmp_path_factory):
        s = FakeSite.create(mariadb, tmp_path_factory.mktemp("mt"), name, wwwroot="http://localhost/sam")
        yield s
        s.destroy()
    return site


def fill_sample_site(s):
    """Two sessions of categories and courses that exercise every read:
    shared and duplicated file contents, an empty course, an activity
    being deleted, names longer than a first read, files of the course
    context and of the backup area. Sets s.ids (categories) and s.c
    (courses)."""
    ids = {}
    ids["s25"] = s25 = s.add_category("2025-2026", 0, idnumber="2025-2026")
    ids["sci"] = sci = s.add_category("Sciences", s25)
    ids["maths"] = maths = s.add_category("Maths", sci, idnumber="MATHS-25")
    ids["let"] = let = s.add_category("Lettres", s25)
    ids["s24"] = s24 = s.add_category("2024-2025", 0, idnumber="2024-2025")
    ids["sci24"] = sci24 = s.add_category("Sciences", s24)
    shared = dict(size=5000, kind="text", seed="shared")
    same = dict(size=3000, kind="text", seed="same")
    c = {}
    c["math1"] = s.add_course(maths, "MATH-1", "Maths 1", files=[("a.txt", b"hello"), ("big.bin", 30000)],
                              activities=["page", "forum"])
    c["math2"] = s.add_course(maths, "MATH-2", "Maths 2", files=[("commun.txt", shared), ("m2.bin", 700)])
    c["let1"] = s.add_course(let, "LET-1", "Lettres 1", files=[("commun.txt", shared), ("l1.bin", 900)],
                             activities=["label"])
    c["dup"] = s.add_course(sci, "PHY-1", "Physique", files=[("copie1.txt", same, "Dossier"),
                                                             ("copie2.txt", same, "Dossier"),
                                                             ("autre.bin", 1234)])
    c["empty"] = s.add_course(let, "VIDE-1", "Vide", sections=3)
    c["deleting"] = s.add_course(sci, "DEL-1", "En suppression", files=[("d.txt", 2222)],
                                 activities=["page", "url"])
    cm = s.query("SELECT id FROM {course_modules} WHERE course = %s ORDER BY id DESC LIMIT 1", (c["deleting"],))
    s.query("UPDATE {course_modules} SET deletioninprogress = 1 WHERE id = %s", (cm[0]["id"],))
    # names longer than the 256-byte first read: fetched again whole
    c["long"] = s.add_course(s25, "LONG-" + "é" * 120, "Été " * 60 + "& <b>\"x\"</b>",
                             files=[("r.txt", 4000)], idnumber="LONG-25")
    # files in the course context itself count; the backup area does not
    ctx = s.context(50, c["long"])
    s.add_file(ctx["id"], "course", "overviewfiles", 0, "image.png", 1500)
    s.add_file(ctx["id"], "backup", "course", 0, "backup-old.mbz", 99999)
    c["old"] = s.add_course(sci24, "OLD-1", "Ancien", files=[("o.txt", 800)])
    s.ids, s.c = ids, c
