#!/usr/bin/python3
"""Helper of bench-ops.sh: the fake Moodle sites of the archive and restore
benchmarks (issues 5 and 6).

    bench-ops.py sites --socket S --root DIR --courses N [--categories C]
        Creates the source site "src" (a session category 2025-2026,
        idnumber 2025-2026, with C sub-categories Cat-00.. holding N empty
        courses, round robin) and the archive site "arc". Prints, one per
        line: SRC_SITE_DIR, ARC_SITE_DIR; and writes DIR/courses.tsv
        (course id TAB category folder, in id order).
    bench-ops.py fault --root DIR --site NAME --op OP [--mode M]
        Sets (or, without --mode, clears) fault OP on every course ('*').
    bench-ops.py category --root DIR --site NAME --name NAME
        Creates a top-level category on site NAME; prints its id.
    bench-ops.py count --root DIR --site NAME --category ID
        Prints how many courses the category's subtree holds.
    bench-ops.py ids --root DIR --site NAME --category ID
        Prints the ids of the courses in the category's subtree, one per
        line (none when the category is gone).
    bench-ops.py costs --root DIR --site NAME --bootstrap-ms B --work-ms W
        The fake's costs (FakeSite.set_costs): B ms per PHP process, W ms
        per backup, restore and delete.
    bench-ops.py rss --until FILE
        Samples, twice a second until FILE exists, the resident memory of
        each bridge worker process; prints the largest in KiB seen in the
        first quarter of the run, in the last quarter, and overall.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fakemoodle"))

from fakesite import FakeSite, _SocketServer  # noqa: E402

SESSION = "2025-2026"


def load(root, name):
    """The FakeSite of root/name, from its site.json."""
    with open(os.path.join(root, name, "site.json")) as f:
        d = json.load(f)
    return FakeSite(_SocketServer(d["socket"]), os.path.join(root, name),
                    d["name"], d["prefix"], d["dbname"], d["dbuser"],
                    d["dbpass"], d["site_dir"], d["dataroot"],
                    d["siteidentifier"], d["wwwroot"])


def cmd_sites(a):
    os.makedirs(a.root, exist_ok=True)
    src = FakeSite.create(a.socket, a.root, "src")
    arc = FakeSite.create(a.socket, a.root, "arc")
    session = src.add_category(SESSION, 0, idnumber=SESSION)
    cats = [("Cat-%02d" % i, src.add_category("Cat-%02d" % i, session))
            for i in range(a.categories)]
    rows = []
    # one connection, autocommit off: 500 courses in seconds, not minutes
    src.conn.autocommit(False)
    for i in range(a.courses):
        folder, cat = cats[i % len(cats)]
        cid = src.add_course(cat, "B%05d" % i, "Bench course %d" % i)
        rows.append((cid, folder))
    src.conn.commit()
    src.conn.autocommit(True)
    with open(os.path.join(a.root, "courses.tsv"), "w") as f:
        for cid, folder in sorted(rows):
            f.write("%d\t%s\n" % (cid, folder))
    print(src.site_dir)
    print(arc.site_dir)


def cmd_fault(a):
    site = load(a.root, a.site)
    site.set_fault("*", a.op, a.mode)


def cmd_category(a):
    site = load(a.root, a.site)
    print(site.add_category(a.name, 0, idnumber=a.name))


def cmd_count(a):
    site = load(a.root, a.site)
    cat = site.category(a.category)
    rows = site.query("SELECT COUNT(*) AS n FROM {course} c JOIN"
                      " {course_categories} k ON k.id = c.category"
                      " WHERE k.id = %s OR k.path LIKE %s",
                      (a.category, cat["path"] + "/%"))
    print(rows[0]["n"])


def cmd_ids(a):
    site = load(a.root, a.site)
    cat = site.category(a.category)
    if not cat:
        return
    for r in site.query("SELECT c.id FROM {course} c JOIN"
                        " {course_categories} k ON k.id = c.category"
                        " WHERE k.id = %s OR k.path LIKE %s ORDER BY c.id",
                        (a.category, cat["path"] + "/%")):
        print(r["id"])


def cmd_costs(a):
    load(a.root, a.site).set_costs(a.bootstrap_ms, a.work_ms)


def worker_rss():
    """KiB of resident memory of each bridge worker process."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
            if not any(x.endswith(b"sessionarchiver-bridge.php")
                       for x in argv) or b"worker" not in argv:
                continue
            with open("/proc/%s/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        out.append(int(line.split()[1]))
        except OSError:
            continue
    return out


def cmd_rss(a):
    samples = []
    while not os.path.exists(a.until):
        samples.append(max(worker_rss(), default=0))
        time.sleep(0.5)
    q = max(1, len(samples) // 4)
    print(max(samples[:q], default=0), max(samples[-q:], default=0),
          max(samples, default=0))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sites")
    s.add_argument("--socket", required=True)
    s.add_argument("--root", required=True)
    s.add_argument("--courses", type=int, required=True)
    s.add_argument("--categories", type=int, default=10)
    s.set_defaults(fn=cmd_sites)
    f = sub.add_parser("fault")
    f.add_argument("--root", required=True)
    f.add_argument("--site", required=True)
    f.add_argument("--op", required=True)
    f.add_argument("--mode")
    f.set_defaults(fn=cmd_fault)
    c = sub.add_parser("category")
    c.add_argument("--root", required=True)
    c.add_argument("--site", required=True)
    c.add_argument("--name", required=True)
    c.set_defaults(fn=cmd_category)
    n = sub.add_parser("count")
    n.add_argument("--root", required=True)
    n.add_argument("--site", required=True)
    n.add_argument("--category", type=int, required=True)
    n.set_defaults(fn=cmd_count)
    i = sub.add_parser("ids")
    i.add_argument("--root", required=True)
    i.add_argument("--site", required=True)
    i.add_argument("--category", type=int, required=True)
    i.set_defaults(fn=cmd_ids)
    k = sub.add_parser("costs")
    k.add_argument("--root", required=True)
    k.add_argument("--site", required=True)
    k.add_argument("--bootstrap-ms", type=int, required=True)
    k.add_argument("--work-ms", type=int, required=True)
    k.set_defaults(fn=cmd_costs)
    r = sub.add_parser("rss")
    r.add_argument("--until", required=True)
    r.set_defaults(fn=cmd_rss)
    a = ap.parse_args()
    return a.fn(a) or 0


if __name__ == "__main__":
    sys.exit(main())
