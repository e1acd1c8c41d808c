"""The fake site's admin/cli/delete_course.php: the half-way death without the
recycle bin (shared/MOODLE.md), a whole delete with it, and its messages.

Run: /usr/bin/python3 -m pytest -q tests/integration/test_fakemoodle_delete.py
"""

import os
import tarfile


from harness.fakesites import needs_php_cli
from harness.fakesites import _no_faults, sites_root, src  # noqa: F401 (fixtures)

pytestmark = needs_php_cli


# ------------------------------------------------------------------ delete_course.php
DELETED_BEFORE_THE_CRASH = ["Course completion data", "Grades", "Blocks"]
DELETED_AFTER_THE_MODULES = ["Activities", "Reports", "Course reports", "Course formats", "Question bank",
                             "Enrolment methods", "Groupings", "Groups"]
DELETED_AFTER_THE_FORMAT = ["Filters", "Notes", "Comments", "Ratings", "Course sections", "Files"]


def recycled(site, cid):
    rb = os.path.join(site.dataroot, "recyclebin")
    return [f for f in os.listdir(rb) if f.startswith("course-%d-" % cid)] if os.path.isdir(rb) else []


def test_delete_course_without_recyclebin_dies_half_way(src):
    """MOODLE.md's trap: delete_course.php does not load course/lib.php; with --disablerecyclebin
    nothing else does, and delete_course() dies at course_get_format(), the course partly emptied."""
    cat = src.session["session_category"]
    cid = src.add_course(cat, "DEL-0", "À moitié", files=[("a.txt", b"hello")], activities=["page"])
    sections = src.course_counts(cid)[0]
    r = src.php("delete_course.php", "--courseid=%d" % cid, "--non-interactive", "--disablerecyclebin")
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.splitlines() == (
        ["Deleting course id %d" % cid, "Course name: À moitié", "Short name: DEL-0", "Disabling recycle bin..."]
        + ["++ Deleted - %s ++" % w for w in DELETED_BEFORE_THE_CRASH + ["Page", "Resource"]
           + DELETED_AFTER_THE_MODULES]
        + ["!!! Exception - Call to undefined function course_get_format() !!!"])
    assert src.course(cid) is not None
    assert src.course_counts(cid) == (sections, 0)      # activities gone, sections left
    assert not recycled(src, cid)
    # the same delete through Moodle's API with course/lib.php loaded finishes it
    src.delete_course(cid)
    assert src.course(cid) is None and src.context(50, cid) is None


def test_delete_course(src, tmp_path):
    cat = src.session["session_category"]
    cid = src.add_course(cat, "DEL-1", "À supprimer", files=[("a.txt", b"hello"), ("b.txt", 3000)],
                         activities=["page"])
    ctx = src.context(50, cid)
    # the recycle bin (on by default) backs the course up first, which loads course/lib.php
    r = src.php("delete_course.php", "--courseid=%d" % cid, "--non-interactive")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[:3] == ["Deleting course id %d" % cid, "Course name: À supprimer", "Short name: DEL-1"]
    assert lines[3:-2] == ["++ Deleted - %s ++" % w for w in DELETED_BEFORE_THE_CRASH + ["Page", "Resource"]
                           + DELETED_AFTER_THE_MODULES + DELETED_AFTER_THE_FORMAT]
    assert 17 <= len(lines[3:-2]) <= 20
    assert lines[-2:] == ["Updating course count in categories...", "Done!"]
    assert src.course(cid) is None
    assert not src.query("SELECT id FROM {context} WHERE id = %s OR path LIKE %s", (ctx["id"], ctx["path"] + "/%"))
    assert not src.query("SELECT id FROM {files} WHERE contextid = %s", (ctx["id"],))
    assert not src.query("SELECT id FROM {course_sections} WHERE course = %s", (cid,))
    assert not src.query("SELECT id FROM {course_modules} WHERE course = %s", (cid,))
    n = src.query("SELECT COUNT(*) AS n FROM {course} WHERE category = %s", (cat,))[0]["n"]
    assert [c for c in src.categories() if c["id"] == cat][0]["coursecount"] == n
    mine = recycled(src, cid)
    assert len(mine) == 1
    with tarfile.open(os.path.join(src.dataroot, "recyclebin", mine[0])) as tf:
        assert tf.getnames()[0] == ".ARCHIVE_INDEX"
    # the category bin switched off in config_plugins: nothing is backed up, and (course/lib.php
    # never loaded) the delete dies as with --disablerecyclebin
    src.query("UPDATE {config_plugins} SET value = '0' WHERE plugin = 'tool_recyclebin'")
    try:
        cid = src.add_course(cat, "DEL-4", "Sans corbeille")
        r = src.php("delete_course.php", "--courseid=%d" % cid, "--non-interactive")
        assert r.returncode == 1 and "course_get_format" in r.stdout.splitlines()[-1]
        assert src.course(cid) is not None and not recycled(src, cid)
    finally:
        src.query("UPDATE {config_plugins} SET value = '1' WHERE plugin = 'tool_recyclebin'")


def test_delete_not_found_and_confirmation(src):
    cat = src.session["session_category"]
    cid = src.add_course(cat, "DEL-2", "Corbeille", files=[("c.txt", 2000)])
    # without --non-interactive: asks; end of input or "n" is a no, exit 0, nothing deleted
    for answer in ("", "n\n"):
        r = src.php("delete_course.php", "--courseid=%d" % cid, input=answer)
        assert r.returncode == 0 and src.course(cid) is not None
        assert "Are you sure you wish to delete this course? (y/N)" in r.stdout
    r = src.php("delete_course.php", "--courseid=%d" % cid, "--non-interactive")
    assert r.returncode == 0 and src.course(cid) is None
    r = src.php("delete_course.php", "--courseid=%d" % cid, "--non-interactive")
    assert r.returncode == 1 and r.stderr.strip() == "Course not found" and r.stdout == ""
    # interactive "y" works
    cid = src.add_course(cat, "DEL-3", "Oui")
    r = src.php("delete_course.php", "--courseid=%d" % cid, input="y\n")
    assert r.returncode == 0 and src.course(cid) is None
