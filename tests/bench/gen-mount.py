#!/usr/bin/python3
"""Writes the session the mount benchmarks list, and its index rows.

    gen-mount.py --store DIR --index FILE --session NAME --courses N
                 --categories C [--seed S]

DIR must already be a store and FILE an index of it made by
`sessionarchiver index` (so that the schema, its version and the meta rows
are the program's own). The session gets C category folders (top-level
faculties, each with departments below it: C = F * (1 + D)), N course
files spread evenly over all of them, named like real backups, and the
index gets one row per session, category and course, as a scan of that
tree would leave them (on_disk = 1, archived, size, mtime_ns and inode
equal to the file's).

The course files are sparse: `truncate` to a plausible backup size (the
skew of gen-store.py, 20 KB to 5 MB), so 100,000 of them take a few
hundred MB of inodes and no data blocks. Listing does not read them, and
because size, mtime and inode match the index, the scan the daemon runs at
startup finds nothing changed and reads none of them either (an index that
named files missing from the disk would see every course marked vanished
by that scan, and the mount would list nothing).

Prints "FILES CATEGORIES BYTES".
"""

import argparse
import hashlib
import os
import random
import sqlite3
import sys

BACKUP_TIME = 1795676950  # the fixtures' clock (2026-11-26)
MIN_SIZE, MAX_SIZE, SKEW = 20_000, 5_000_000, 1.5
SITE_HASH = "8c7c090f9a24e0f17e92e0bb2a8106a6"


def category_paths(n):
    """n folder paths: F faculties, each with D departments below it."""
    # the most square split with F * (1 + D) == n
    best = None
    for f in range(1, n + 1):
        if n % f == 0 and n // f >= 1:
            d = n // f - 1
            if best is None or abs(f - d) < abs(best[0] - best[1]):
                best = (f, d)
    f_count, d_count = best
    out = []
    for f in range(f_count):
        fac = f"Faculte-{f:03d}"
        out.append(fac)
        out.extend(f"{fac}/Departement-{d:03d}" for d in range(d_count))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--index", required=True)
    ap.add_argument("--session", required=True)
    ap.add_argument("--courses", type=int, required=True)
    ap.add_argument("--categories", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    opt = ap.parse_args()

    r = random.Random(opt.seed)
    session_dir = os.path.join(opt.store, opt.session)
    cats = category_paths(opt.categories)
    for c in cats:
        os.makedirs(os.path.join(session_dir, c), exist_ok=True)

    db = sqlite3.connect(opt.index)
    db.execute("PRAGMA foreign_keys = ON")
    with db:
        sid = db.execute("INSERT INTO sessions(name) VALUES (?) "
                         "RETURNING id", (opt.session,)).fetchone()[0]
        cat_id = {}
        for c in cats:
            parent, _, name = c.rpartition("/")
            cat_id[c] = db.execute(
                "INSERT INTO categories(session_id, parent_id, name, path,"
                " on_disk) VALUES (?, ?, ?, ?, 1) RETURNING id",
                (sid, cat_id.get(parent), name, c)).fetchone()[0]
        total = 0
        rows = []
        for i in range(opt.courses):
            cat = cats[i % len(cats)]
            cid = 1000 + i
            short = f"C{i % len(cats):04d}-{i:06d}"
            name = (f"backup-moodle2-course-{cid}-{short.lower()}"
                    "-20261126-0709.mbz")
            rel = f"{cat}/{name}"
            path = os.path.join(session_dir, rel)
            size = int(MIN_SIZE * (MAX_SIZE / MIN_SIZE) **
                       (r.random() ** SKEW))
            with open(path, "wb") as f:
                f.truncate(size)
            os.utime(path, ns=(BACKUP_TIME * 10**9,
                               (BACKUP_TIME + i) * 10**9 + 123456789))
            st = os.stat(path)
            total += size
            rows.append((sid, cat_id[cat], name, rel, st.st_size,
                         st.st_mtime_ns, st.st_ino,
                         hashlib.sha256(rel.encode()).hexdigest(), cid,
                         100000 + i, short, f"Cours {short} — TD",
                         4 + i % 9, 10 + i % 31, SITE_HASH,
                         "http://moodle.example.edu", BACKUP_TIME,
                         2024100706, "4.5.6 (Build: 20250811)"))
        db.executemany(
            "INSERT INTO courses(session_id, category_id, name, file, state,"
            " on_disk, size, mtime_ns, inode, sha256, in_manifest,"
            " manifest_sha256, source_course_id, archive_course_id,"
            " shortname, fullname, sections, activities, site_hash,"
            " wwwroot, backup_date, moodle_version, moodle_release)"
            " VALUES (?1, ?2, ?3, ?4, 'archived', 1, ?5, ?6, ?7, ?8, 0,"
            " NULL, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
            rows)
    db.close()
    print(f"{opt.courses} {len(cats)} {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
