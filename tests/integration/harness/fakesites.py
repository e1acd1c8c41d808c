"""What the tests of the fake Moodle site (test_fakemoodle_*.py) share: the
real backups of shared/fixtures/moodle-real, a source site holding a
generated session and an archive site, and the backup.php call.

The fixtures are imported by name into each test module (not a plugin: the
autouse fault reset must not reach other tests).
"""
import glob
import os
import pathlib
import shutil

import pytest

from fakesite import FakeSite, generate_session

REPO = pathlib.Path(__file__).resolve().parents[3]
REAL = REPO.parent / "shared" / "fixtures" / "moodle-real"

needs_php_cli = pytest.mark.skipif(shutil.which("php") is None, reason="php-cli is not installed")


def real_mbz(courseid):
    if not REAL.is_dir():
        pytest.skip("real Moodle fixtures not found at %s" % REAL)
    found = glob.glob(str(REAL / ("backup-moodle2-course-%d-*.mbz" % courseid)))
    if not found:
        pytest.skip("real fixture for course %d missing" % courseid)
    return found[0]


def top_sequence(names):
    """Top-level layout of an .mbz: first component of each member, consecutive duplicates merged."""
    seq = []
    for n in names:
        top = n.split("/")[0] + ("/" if "/" in n or n in ("activities", "course", "files", "sections") else "")
        if not seq or seq[-1] != top:
            seq.append(top)
    return seq


def only_mbz(d):
    files = [f for f in os.listdir(d) if f.endswith(".mbz")]
    assert len(files) == 1, files
    return os.path.join(d, files[0])


@pytest.fixture(scope="module")
def sites_root(tmp_path_factory):
    return tmp_path_factory.mktemp("fm")


@pytest.fixture(scope="module")
def src(mariadb, sites_root):
    site = FakeSite.create(mariadb, sites_root, "fm_src", wwwroot="http://localhost/src")
    site.session = generate_session(site, "2025-2026", n_categories=12, n_courses=20,
                                    file_sizes=(100, 30000), seed=1)
    yield site
    site.destroy()


@pytest.fixture(scope="module")
def dst(mariadb, sites_root):
    site = FakeSite.create(mariadb, sites_root, "fm_dst", prefix="arc_", wwwroot="http://localhost/arc")
    site.archive_cat = site.add_category("Archives 2025-2026", 0, idnumber="ARC-2025-2026")
    yield site
    site.destroy()


@pytest.fixture(autouse=True)
def _no_faults(request):
    yield
    for name in ("src", "dst"):
        if name in request.fixturenames:
            request.getfixturevalue(name).clear_faults()


def backup(site, courseid, dest, **kw):
    os.makedirs(dest, exist_ok=True)
    return site.php("backup.php", "--courseid=%s" % courseid, "--destination=%s" % dest, **kw)


def plain_course(site):
    """A normal generated course with at least one file."""
    for c in site.session["courses"]:
        if not c["tags"] and c["estimate"] > 0:
            return c
    raise AssertionError("no plain course with files")
