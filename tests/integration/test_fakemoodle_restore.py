"""The fake site's admin/cli/restore_backup.php: restores into a category,
shortname collisions, the HTML-fullname failure real Moodle has, the real
fixtures, Moodle's error lines and the restore faults.

Run: /usr/bin/python3 -m pytest -q tests/integration/test_fakemoodle_restore.py
"""

import os
import re
import signal

import pytest

from harness.fakesites import REAL, backup, needs_php_cli, only_mbz, real_mbz
from harness.fakesites import _no_faults, sites_root, src, dst  # noqa: F401 (fixtures)

pytestmark = needs_php_cli


# ------------------------------------------------------------------ restore_backup.php
def restore(site, path, cat=None):
    return site.php("restore_backup.php", "--file=%s" % path, "--categoryid=%d" % (cat or site.archive_cat))


def parse_restore(site, r):
    lines = r.stdout.splitlines()
    m = re.fullmatch(r"== Extracting backup file to: (.*)/temp/backup/([0-9a-f]{32}) ==", lines[0])
    assert m and m.group(1) == site.dataroot, lines
    assert lines[1] == "== Preprocessing backup file =="
    return lines, os.path.join(site.dataroot, "temp", "backup", m.group(2))


def test_restore_and_collisions(src, dst, tmp_path):
    c = src.session["tricky"]["slash"]
    r = backup(src, c, tmp_path / "r")
    mbz = only_mbz(tmp_path / "r")
    src_course = src.course(c)
    got = []
    for i in range(3):
        r = restore(dst, mbz)
        assert r.returncode == 0, r.stdout + r.stderr
        lines, tmp = parse_restore(dst, r)
        m = re.fullmatch(r"== Restored course ID: (\d+) ==", lines[2])
        assert m and len(lines) == 3
        assert not os.path.exists(tmp)
        got.append(dst.course(int(m.group(1))))
    assert [g["shortname"] for g in got] == ["PHY/CHIM-2026", "PHY/CHIM-2026_1", "PHY/CHIM-2026_2"]
    assert [g["fullname"] for g in got] == ["Physique/Chimie 2026", "Physique/Chimie 2026 copy 1",
                                            "Physique/Chimie 2026 copy 2"]
    g = got[0]
    assert g["category"] == dst.archive_cat and g["idnumber"] == ""
    assert g["startdate"] == src_course["startdate"]
    assert dst.course_counts(g["id"]) == src.course_counts(c)
    assert dst.course_estimate(g["id"]) == src.course_estimate(c)
    cat = [x for x in dst.categories() if x["id"] == dst.archive_cat][0]
    assert cat["coursecount"] >= 3
    for g in got:
        ctx = dst.context(50, g["id"])
        assert ctx["path"] == dst.context(40, dst.archive_cat)["path"] + "/%d" % ctx["id"]


def test_restore_html_fullname_fails(src, dst, tmp_path):
    """MOODLE.md: the PARAM_TEXT check of the course_fullname setting refuses a fullname that
    holds a tag, with Moodle's own lines; no course is kept, the extraction folder goes."""
    before = len(dst.courses())
    r = backup(src, src.session["tricky"]["html"], tmp_path / "h")
    for mbz in [only_mbz(tmp_path / "h")] + ([real_mbz(8)] if REAL.is_dir() else []):
        r = restore(dst, mbz)
        assert r.returncode == 1
        lines, tmp = parse_restore(dst, r)
        assert lines[2:] == ["== Cleaning temp data ==", "!!! Exception - error/setting_invalid_text !!!"]
        assert len(dst.courses()) == before
        assert not os.path.exists(tmp)


@pytest.mark.parametrize("fixture_id,shortname,sections,activities,estimate", [
    (2, "GEN-XS-1", 3, 5, 9280),
    (6, "PHY/CHIM-2024", 4, 2, 322033),
    (9, "VIDE-2024", 4, 0, 0),
])
def test_restore_real_fixtures(dst, fixture_id, shortname, sections, activities, estimate):
    r = restore(dst, real_mbz(fixture_id))
    assert r.returncode == 0, r.stdout
    lines, _ = parse_restore(dst, r)
    cid = int(re.fullmatch(r"== Restored course ID: (\d+) ==", lines[2]).group(1))
    c = dst.course(cid)
    assert c["shortname"] == shortname and c["idnumber"] == ""
    s, a = dst.course_counts(cid)
    assert a == activities and s >= 1
    assert dst.course_estimate(cid) == estimate


def test_restore_failures(dst, src, tmp_path):
    before = len(dst.courses())
    r = restore(dst, tmp_path / "missing.mbz")
    assert (r.returncode, r.stdout) == (1, "!!! Sorry, the requested file could not be found !!!\n")
    c = src.session["tricky"]["slash"]
    backup(src, c, tmp_path / "t")
    mbz = only_mbz(tmp_path / "t")
    r = restore(dst, mbz, cat=99999)
    assert (r.returncode, r.stdout) == (1, "!!! Incorrect category ID! !!!\n")
    data = open(mbz, "rb").read()
    for cut in (len(data) // 2, len(data) - 20):
        trunc = tmp_path / ("trunc%d.mbz" % cut)
        trunc.write_bytes(data[:cut])
        r = restore(dst, trunc)
        assert r.returncode == 1, r.stdout
        lines, tmp = parse_restore(dst, r)
        assert re.fullmatch(r"!!! .+ !!!", lines[2])
        assert os.path.isdir(tmp)        # the extraction folder stays in temp/backup
    junk = tmp_path / "junk.mbz"
    junk.write_bytes(b"this is not an archive" * 10)
    r = restore(dst, junk)
    assert r.returncode == 1 and "!!! " in r.stdout
    assert len(dst.courses()) == before
    r = dst.php("restore_backup.php", "-h")
    assert r.returncode == 0 and "--categoryid" in r.stdout


def test_restore_faults(src, dst, tmp_path):
    c = src.session["tricky"]["accent"]
    backup(src, c, tmp_path / "f")
    mbz = only_mbz(tmp_path / "f")
    n0 = len(dst.courses())
    dst.set_fault(c, "restore", "exception")
    r = restore(dst, mbz)
    assert r.returncode == 1 and r.stdout.splitlines()[-1] == "!!! Exception - error/setting_invalid_text !!!"
    assert len(dst.courses()) == n0
    dst.set_fault(c, "restore", "die-placeholder")
    r = restore(dst, mbz)
    assert r.returncode == -signal.SIGKILL and "Restored course ID" not in r.stdout
    left = [x for x in dst.courses() if x["fullname"].startswith("Course restoration in progress")]
    assert len(left) == 1 and left[0]["shortname"].startswith("restoring")
    dst.set_fault(c, "restore", "die-after-restore")
    r = restore(dst, mbz)
    assert r.returncode == -signal.SIGKILL and "Restored course ID" not in r.stdout
    full = [x for x in dst.courses() if x["shortname"] == src.course(c)["shortname"]]
    assert len(full) == 1 and dst.course_counts(full[0]["id"]) == src.course_counts(c)
    dst.clear_faults()
    for x in left + full:
        dst.delete_course(x["id"])
