#!/usr/bin/python3
"""Stand-in for `sessionarchiver archive` in the demo, until issue 5 lands.

    archive-standin.py SITE_JSON SESSION STORE TMPDIR

Backs up every course of the session's category tree on the source site with
the site's own admin/cli/backup.php, one course at a time, each into its own
temporary directory, and lays the backups out the way archive will:

    STORE/SESSION/<category path>/<sanitised shortname>.mbz
    STORE/SESSION/.session/manifest.jsonl          (format: indexer/journal.h)
    STORE/SESSION/.session/journal-<md5 of siteidentifier>.jsonl

Names follow indexer/names.c (names_sanitize, names_course_file): unsafe
bytes ('/', '\\', control characters) become '_', a leading '.' becomes '_',
at most 200 bytes, and courses whose names collide in the session get
"-<course id>". Prints each command it runs ("+ ..."), one line per course,
and exits 6 (the tool's "some courses failed") when a course could not be
backed up. This is demo scaffolding, not the archive operation: no window, no
space estimate, no resume, no parallel jobs.
"""

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import pymysql

NAMES_MAX = 200
TOOL_VERSION = "demo-standin (backup.php)"


def sanitize(name, max_bytes=NAMES_MAX, fallback="course"):
    """Python twin of names_sanitize() in indexer/names.c."""
    max_bytes = min(max_bytes, NAMES_MAX)
    name = name.lstrip(" \t")
    out = b""
    for ch in name:
        cp = ord(ch)
        if cp < 0x20 or cp == 0x7f or 0x80 <= cp <= 0x9f or ch in "/\\" or 0xd800 <= cp <= 0xdfff:
            b = b"_"
        else:
            b = ch.encode("utf-8")
        if len(out) + len(b) > max_bytes:
            break
        out += b
    out = out.rstrip(b" \t")
    if not out:
        return fallback
    if out.startswith(b"."):
        out = b"_" + out[1:]
    if out.endswith(b".tmp") or out.endswith(b".part"):
        if len(out) == max_bytes:
            out = out[:-1]
        out += b"_"
    return out.decode("utf-8")


def course_file(shortname, course_id, disambiguate):
    suffix = "-%d.mbz" % course_id if disambiguate else ".mbz"
    return sanitize(shortname, NAMES_MAX - len(suffix.encode())) + suffix


def say(*argv):
    print("+ " + " ".join(shlex.quote(str(a)) for a in argv), flush=True)


def main(argv):
    if len(argv) != 5:
        sys.stderr.write("usage: archive-standin.py SITE_JSON SESSION STORE TMPDIR\n")
        return 2
    site_json, session, store, tmproot = argv[1:]
    with open(site_json) as f:
        site = json.load(f)
    conn = pymysql.connect(unix_socket=site["socket"], user=site["dbuser"], password=site["dbpass"],
                           database=site["dbname"], charset="utf8mb4", autocommit=True)
    p = site["prefix"]
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("SELECT id, name, path FROM `%scourse_categories` WHERE parent = 0 AND"
                    " (idnumber = %%s OR name = %%s) ORDER BY idnumber = %%s DESC, id LIMIT 1" % p,
                    (session, session, session))
        root = cur.fetchone()
        if not root:
            sys.stderr.write("archive-standin: no top category %r on the source site\n" % session)
            return 1
        cur.execute("SELECT id, name, path FROM `%scourse_categories`"
                    " WHERE id = %%s OR path LIKE %%s" % p, (root["id"], root["path"] + "/%"))
        cats = {r["id"]: r for r in cur.fetchall()}
        cur.execute("SELECT id, category, shortname, fullname FROM `%scourse` WHERE category IN (%s)"
                    " ORDER BY id" % (p, ",".join(str(i) for i in cats)))
        courses = cur.fetchall()
    conn.close()

    def folder(cat_id):
        ids = [int(x) for x in cats[cat_id]["path"].strip("/").split("/")]
        ids = ids[ids.index(root["id"]) + 1:]
        return "/".join(sanitize(cats[i]["name"], fallback="category") for i in ids)

    plain = {}
    for c in courses:
        plain.setdefault(course_file(c["shortname"], c["id"], False), []).append(c["id"])
    site_hash = hashlib.md5(site["siteidentifier"].encode()).hexdigest()
    sdir = os.path.join(store, session)
    meta = os.path.join(sdir, ".session")
    os.makedirs(meta, exist_ok=True)
    os.makedirs(tmproot, exist_ok=True)
    backup_php = os.path.join(site["site_dir"], "admin", "cli", "backup.php")
    print("source: %s, category %r (id %d): %d courses in %d categories"
          % (site["site_dir"], root["name"], root["id"], len(courses), len(cats)), flush=True)

    failed = done = 0
    total_bytes = 0
    for n, c in enumerate(courses, 1):
        name = course_file(c["shortname"], c["id"], len(plain[course_file(c["shortname"], c["id"], False)]) > 1)
        rel = "/".join(x for x in (folder(c["category"]), name) if x)
        final = os.path.join(sdir, rel)
        event = {"source_course_id": c["id"], "file": rel, "site": site_hash}
        if os.path.exists(final):
            print("[%2d/%d] course %d: %s already in the store, skipped" % (n, len(courses), c["id"], rel))
            done += 1
            continue
        tmp = tempfile.mkdtemp(prefix="course-%d-" % c["id"], dir=tmproot)
        print("[%2d/%d] course %d %s" % (n, len(courses), c["id"], json.dumps(c["shortname"], ensure_ascii=False)))
        say("php", backup_php, "--courseid=%d" % c["id"], "--destination=" + tmp)
        t0 = time.monotonic()
        r = subprocess.run(["php", backup_php, "--courseid=%d" % c["id"], "--destination=" + tmp],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
        got = [f for f in os.listdir(tmp) if f.endswith(".mbz")]
        error = None
        if r.returncode != 0:
            error = "backup.php exited %d: %s" % (r.returncode, r.stdout.strip().splitlines()[-1:] or "")
        elif len(got) != 1:
            # Moodle exits 0 and leaves the backup in the course's backup area when its own file
            # name would exceed 255 bytes: the real archive must notice and fetch it from there.
            last = [l for l in r.stdout.strip().splitlines() if l.strip()][-1:] or ["(no output)"]
            error = "backup.php exited 0 but wrote no file to the destination: %s" % last[0]
        if error:
            print("    FAILED: %s" % error, flush=True)
            shutil.rmtree(tmp, ignore_errors=True)
            event.update(event="backup_failed", error=error)
            with open(os.path.join(meta, "journal-%s.jsonl" % site_hash), "a") as j:
                j.write(json.dumps(dict(v=1, time=int(time.time()), **event), ensure_ascii=False) + "\n")
            failed += 1
            continue
        src = os.path.join(tmp, got[0])
        h = hashlib.sha256()
        with open(src, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
            os.fsync(f.fileno())
        size = os.path.getsize(src)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        say("mv", src, final)
        shutil.move(src, final)     # a rename when DIR/tmp and the store share a filesystem
        shutil.rmtree(tmp, ignore_errors=True)
        now = int(time.time())
        line = {"v": 1, "time": now, "source_course_id": c["id"], "file": rel, "sha256": h.hexdigest(),
                "size": size, "shortname": c["shortname"], "fullname": c["fullname"],
                "category_path": folder(c["category"]), "site_hash": site_hash, "tool_version": TOOL_VERSION}
        with open(os.path.join(meta, "manifest.jsonl"), "a") as m:
            m.write(json.dumps(line, ensure_ascii=False) + "\n")
        event.update(event="backup", sha256=h.hexdigest(), size=size)
        with open(os.path.join(meta, "journal-%s.jsonl" % site_hash), "a") as j:
            j.write(json.dumps(dict(v=1, time=now, **event), ensure_ascii=False) + "\n")
        print("    %d bytes in %.1f s" % (size, time.monotonic() - t0), flush=True)
        done += 1
        total_bytes += size
    print("archive (stand-in): %d backed up (%d bytes), %d failed, of %d courses"
          % (done, total_bytes, failed, len(courses)), flush=True)
    return 6 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
