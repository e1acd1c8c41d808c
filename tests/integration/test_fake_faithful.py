"""The fake Moodle site is faithful to a real one as the tool sees it: a
backup made by the fake's backup.php, read by the tool's own reader
(`sessionarchiver inspect`), gives the same kinds of fields as the real
Moodle 4.5.6 backups in shared/fixtures, and the fake's output lines are
the ones MOODLE.md gives verbatim."""
import json
import re
import subprocess

import pytest

from fakesite import FakeSite
from harness.build import real_fixtures, run_cli


def inspect(paths):
    return json.loads(run_cli("inspect", "--json", *paths, check=0).stdout)


def shape(record):
    """Field names and JSON types, nested course.xml included."""
    out = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out[key] = shape(value)
        elif key != "file":
            out[key] = type(value).__name__
    return out


def test_fake_backup_reads_like_a_real_one(mariadb, tmp_path, built):
    real = inspect(real_fixtures())
    site = FakeSite.create(mariadb, tmp_path / "sites", "faithful")
    cat = site.add_category("2025-2026")
    course = site.add_course(cat, "FAITH-1", "Cours fidèle & <i>complet</i>",
                             files=[("notes.txt", b"x" * 5000)])
    dest = tmp_path / "out"
    dest.mkdir()
    proc = subprocess.run(
        ["php", f"{site.site_dir}/admin/cli/backup.php",
         f"--courseid={course}", f"--destination={dest}"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "== Performing backup... =="
    assert re.fullmatch(
        rf"Writing {re.escape(str(dest))}/backup-moodle2-course-{course}"
        r"-faith-1-\d{8}-\d{4}\.mbz", lines[1])
    assert lines[2] == "Backup completed."
    fake = inspect(sorted(dest.glob("*.mbz")))[0]

    # same fields, same types, as every real backup
    for r in real:
        assert shape(fake) == shape(r), r["file"]
    assert fake["format"] == "tar.gz" and fake["type"] == "course"
    assert fake["original_course_id"] == course
    assert fake["original_course_shortname"] == "FAITH-1"
    assert fake["original_course_fullname"] == "Cours fidèle & <i>complet</i>"
    assert fake["course"]["id"] == course
    assert fake["moodle_version"] == real[0]["moodle_version"]
    assert fake["moodle_release"] == real[0]["moodle_release"]
    assert len(fake["original_site_identifier_hash"]) == 32
    assert fake["sections"] >= 1 and fake["activities"] == 1
