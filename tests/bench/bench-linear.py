#!/usr/bin/python3
"""Benchmark: verify and purge --preview stay linear in the session's size
(issue 18). run-bench.sh calls it at its end (SA_BENCH_LINEAR=0 skips it),
or

    /usr/bin/python3 tests/bench/bench-linear.py BUILD_DIR

For each size of $SA_BENCH_LINEAR_SIZES (default 1000,10000) it makes, on
a private MariaDB (tests/integration/harness/mariadb.py), a source fake
site with a session category 2025-2026 of that many courses in 10
sub-categories and an archive fake site holding the restored copies (same
names, sections and activities, under Archives/2025-2026/...), and a store
whose manifest and archive journal say what archive and restore would
have written (no backup files: verify without --deep and purge --preview
read none). The index is built before the timer starts. Timed, the median
of $SA_BENCH_LINEAR_RUNS (3) runs each:

    index --rebuild                           (the states of N courses
                                               derived from the journals)
    verify 2025-2026                          (PASS N/N)
    purge 2025-2026 --side source --preview   (N courses listed)
    purge 2025-2026 --side archive --preview  (N courses listed)

Printed: the time per course at each size, and for each command the ratio
of the time per course at the largest size to the time per course at the
smallest, measured in the same run (the baseline). Target <= 1.5 (flat:
a quadratic step would give 10 at 10x the courses).

Then, unless SA_BENCH_PGSQL=0 or PostgreSQL is missing (issue 17): the
source site of the largest size, each course given one file, copied row
for row onto a private PostgreSQL (tests/integration/harness/postgres.py),
and `plan archive 2025-2026` (categories, courses, the distinct-content
estimates) timed against each server, the median of the runs: ratio
PostgreSQL / MariaDB, target <= 1.5.

Exit 0 all targets met, 1 one missed, 2 could not run. Everything lives in
$SA_BENCH_DIR (default /var/tmp/sessionarchiver-bench)/linear, recreated
by each run.
"""

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "fakemoodle"))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

SESSION = "2025-2026"
CATEGORIES = 10
TARGET = 1.5


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def tree(site, parent, idnumber=None):
    root = site.add_category(SESSION, parent, idnumber=idnumber or "")
    return root, [site.add_category("Cat-%02d" % i, root)
                  for i in range(CATEGORIES)]


def make_world(mariadb, base, n, files=False):
    """Sites, store and config for a session of n courses (with files,
    one small file each): the config path and the source site."""
    from fakesite import FakeSite

    work = os.path.join(base, "n%d" % n)
    os.makedirs(work)
    src = FakeSite.create(mariadb, work, "lsrc%d" % n)
    arc = FakeSite.create(mariadb, work, "larc%d" % n)
    root, src_cats = tree(src, 0, SESSION)
    target = arc.add_category("Archives", 0, idnumber="ARCH")
    _, arc_cats = tree(arc, target)
    now = int(time.time())
    src_hash, arc_hash = md5(src.siteidentifier), md5(arc.siteidentifier)
    manifest, journal = [], []
    for site in (src, arc):
        site.conn.autocommit(False)
    for i in range(n):
        k = i % CATEGORIES
        short, full = "L%05d" % i, "Linear course %d" % i
        # the copy has what the original has (a file is a resource)
        some = [("f.txt", dict(size=300 + i % 700, kind="text",
                               seed=short))] if files else ()
        sid = src.add_course(src_cats[k], short, full, files=some)
        aid = arc.add_course(arc_cats[k], short, full, files=some)
        folder = "Cat-%02d" % k
        manifest.append({
            "v": 1, "time": now, "source_course_id": sid,
            "file": "%s/%s.mbz" % (folder, short),
            "sha256": hashlib.sha256(short.encode()).hexdigest(),
            "shortname": short, "fullname": full,
            "category_path": folder, "category_names": [folder],
            "session_category": SESSION, "session_category_id": root,
            "site_hash": src_hash})
        journal.append({"v": 1, "time": now, "event": "backup",
                        "site": src_hash, "source_course_id": sid})
        journal.append({"v": 1, "time": now + 1, "event": "restore",
                        "site": arc_hash, "source_course_id": sid,
                        "archive_course_id": aid, "shortname": short,
                        "category_id": arc_cats[k]})
    for site in (src, arc):
        site.conn.commit()
        site.conn.autocommit(True)
    store = os.path.join(work, "store")
    run(CLI, "init", "--store", store)
    meta = os.path.join(store, SESSION, ".session")
    os.makedirs(meta, exist_ok=True)
    os.makedirs(os.path.join(store, SESSION, "Cat-00"), exist_ok=True)

    def write(name, rows):
        with open(os.path.join(meta, name), "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")

    write("manifest.jsonl", manifest)
    write("journal-%s.jsonl" % src_hash,
          [e for e in journal if e["event"] == "backup"] +
          [{"v": 1, "time": now, "event": "archive_complete",
            "site": src_hash}])
    write("journal-%s.jsonl" % arc_hash,
          [e for e in journal if e["event"] == "restore"])
    conf = os.path.join(work, "sa.conf")
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("[store]\npath = %s\nindex = %s\n"
                "[source]\nmoodle = %s\nphp = %s\n"
                "[archive]\nmoodle = %s\nphp = %s\ntarget = id:%d\n"
                % (store, os.path.join(work, "index.db"), src.site_dir,
                   PHP, arc.site_dir, PHP, target))
    run(CLI, "-c", conf, "index")
    return conf, src


def run(*argv, want=0):
    p = subprocess.run([str(a) for a in argv], capture_output=True,
                       text=True)
    if p.returncode != want:
        sys.exit("bench-linear: %s: exit %d\n%s%s" % (
            " ".join(map(str, argv)), p.returncode, p.stdout, p.stderr))
    return p


def timed(conf, n, *args, check):
    t = time.monotonic()
    p = run(CLI, "-c", conf, *args)
    elapsed = time.monotonic() - t
    check(conf, p, n)
    return elapsed


def check_verify(conf, p, n):
    first = p.stdout.splitlines()[0] if p.stdout else ""
    if first != "PASS %d/%d" % (n, n):
        sys.exit("bench-linear: verify of %d courses: %r" % (n, first))


def check_preview(conf, p, n):
    got = len(json.loads(p.stdout)["courses"])
    if got != n:
        sys.exit("bench-linear: preview lists %d of %d courses" % (got, n))


def check_rebuilt(conf, n):
    st = json.loads(run(CLI, "-c", conf, "status", SESSION,
                        "--json").stdout)
    if st["courses_total"] != n:
        sys.exit("bench-linear: index --rebuild: %d of %d courses"
                 % (st["courses_total"], n))


COMMANDS = [
    ("index --rebuild", ("index", "--rebuild"),
     lambda conf, p, n: check_rebuilt(conf, n)),
    ("verify", ("verify", SESSION), check_verify),
    ("purge --side source --preview",
     ("purge", SESSION, "--side", "source", "--preview", "--json"),
     check_preview),
    ("purge --side archive --preview",
     ("purge", SESSION, "--side", "archive", "--preview", "--json"),
     check_preview),
]


def main():
    global CLI, PHP
    if len(sys.argv) != 2 or not os.access(
            os.path.join(sys.argv[1], "sessionarchiver"), os.X_OK):
        sys.exit("usage: bench-linear.py BUILD_DIR (with "
                 "BUILD_DIR/sessionarchiver built)")
    CLI = os.path.join(os.path.abspath(sys.argv[1]), "sessionarchiver")
    PHP = shutil.which("php")
    try:
        import pymysql  # noqa: F401
        from harness.mariadb import MariaDB
    except ImportError:
        print("bench-linear: needs python3-pymysql", file=sys.stderr)
        return 2
    if not PHP:
        print("bench-linear: needs php", file=sys.stderr)
        return 2
    sizes = sorted(int(s) for s in os.environ.get(
        "SA_BENCH_LINEAR_SIZES", "1000,10000").split(","))
    runs = int(os.environ.get("SA_BENCH_LINEAR_RUNS", "3"))
    base = os.path.join(os.environ.get("SA_BENCH_DIR",
                                       "/var/tmp/sessionarchiver-bench"),
                        "linear")
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    db = MariaDB(os.path.join(base, "mariadb"))
    db.start()
    try:
        per_course = {}
        for n in sizes:
            t = time.monotonic()
            conf, src = make_world(db, base, n, files=n == sizes[-1])
            print("bench-linear: %d courses set up in %.0f s"
                  % (n, time.monotonic() - t), flush=True)
            for name, args, check in COMMANDS:
                times = [timed(conf, n, *args, check=check)
                         for _ in range(runs)]
                per_course[name, n] = statistics.median(times) / n
                print("  %-32s %6d courses: %8.3f s, %7.1f us/course"
                      % (name, n, statistics.median(times),
                         per_course[name, n] * 1e6), flush=True)
        pg_ratio = None
        if os.environ.get("SA_BENCH_PGSQL", "1") != "0":
            pg_ratio = plan_on_both(conf, src, base, sizes[-1], runs)
    finally:
        db.stop()
    missed = 0
    lo, hi = sizes[0], sizes[-1]
    for name, _, _ in COMMANDS:
        ratio = per_course[name, hi] / per_course[name, lo]
        verdict = "PASS" if ratio <= TARGET else "MISS"
        missed |= verdict != "PASS"
        print("linear %s: %.1f us/course at %d vs %.1f at %d (ratio %.2f,"
              " target <= %.1fx) %s" % (
                  name, per_course[name, hi] * 1e6, hi,
                  per_course[name, lo] * 1e6, lo, ratio, TARGET, verdict))
    if pg_ratio is not None:
        verdict = "PASS" if pg_ratio <= TARGET else "MISS"
        missed |= verdict != "PASS"
        print("plan archive on PostgreSQL vs MariaDB, %d courses: ratio "
              "%.2f (target <= %.1fx) %s" % (sizes[-1], pg_ratio, TARGET,
                                             verdict))
    return 1 if missed else 0


def plan_on_both(conf, src, base, n, runs):
    """`plan archive` of the session on MariaDB, then on a PostgreSQL copy
    of the source's database: PostgreSQL's median / MariaDB's, or None
    when PostgreSQL is missing."""
    from harness import postgres as pgh

    if not pgh.find_bin("initdb") or pgh.psycopg2 is None:
        print("bench-linear: no PostgreSQL (postgresql, python3-psycopg2):"
              " its plan is not measured", file=sys.stderr)
        return None
    pg = pgh.PostgreSQL().start()
    try:
        t = time.monotonic()
        db = pgh.copy_site(src, pg)
        pg.execute("ANALYZE", db=db["dbname"])
        print("bench-linear: %d courses copied onto PostgreSQL in %.0f s"
              % (n, time.monotonic() - t), flush=True)
        pw = os.path.join(os.path.dirname(conf), "pg.pw")
        fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(db["dbpass"] + "\n")
        pg_conf = conf + ".pg"
        with open(conf) as f:
            text = f.read()
        fd = os.open(pg_conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text.replace(
                "[source]\n", "[source]\ndb = postgresql://%s@localhost/%s"
                "?socket=%s\ndb_password_file = %s\nurl = %s\n" % (
                    db["dbuser"], db["dbname"], pg.socket_dir, pw,
                    src.wwwroot), 1))
        plans, medians = {}, {}
        for name, c in (("MariaDB", conf), ("PostgreSQL", pg_conf)):
            times = []
            for _ in range(runs):
                t = time.monotonic()
                p = run(CLI, "-c", c, "plan", "archive", SESSION, "--json")
                times.append(time.monotonic() - t)
            plan = json.loads(p.stdout)
            if len(plan["courses"]) != n:
                sys.exit("bench-linear: the plan on %s lists %d of %d "
                         "courses" % (name, len(plan["courses"]), n))
            plans[name] = [(c["id"], c.get("estimate")) for c in
                           plan["courses"]]
            medians[name] = statistics.median(times)
            print("  plan archive on %-12s %6d courses: %8.3f s"
                  % (name, n, medians[name]), flush=True)
        if plans["MariaDB"] != plans["PostgreSQL"]:
            sys.exit("bench-linear: the two servers plan differently")
        return medians["PostgreSQL"] / medians["MariaDB"]
    finally:
        pg.destroy()


if __name__ == "__main__":
    sys.exit(main())
