#!/usr/bin/python3
"""Writes a benchmark session of synthetic, real-shaped Moodle backups.

    gen-store.py --store DIR --session NAME --courses N [--seed S] [--jobs J]

DIR must already be a store (`sessionarchiver init --store DIR`). The session
gets a category tree of 10 faculties x 9 departments (100 folders), N course
backups spread over them, and .session/manifest.jsonl with one line per
course (file, sha256, source_course_id, shortname, fullname, site_hash), as
the archive operation would write it. Prints the file count and total bytes.

Each .mbz is shaped like Moodle 4.5.6's (see shared/fixtures/moodle-real and
tests/fakemoodle/site/lib/backuplib.php): a gzip'ed ustar whose first member
is .ARCHIVE_INDEX, then activities/, course/ (course.xml), files/ (content
blobs named by SHA-1), files.xml, moodle_backup.xml *after* files/, sections/,
users.xml and an empty moodle_backup.log. Every course has its own
original_course_id, shortname and fullname in both moodle_backup.xml and
course/course.xml.

Sizes are skewed: 20 KB * 250 ** (u ** 1.5), u uniform, i.e. 20 KB to 5 MB,
median ~140 KB, ~6.6 GB for 10,000 courses. Of the blob bytes, 55-85 %
are random (incompressible, as photos, PDFs and videos are) and the rest is
text that deflates about 4:1.

Why it is fast (the PHP fake site needs seconds per course): the gzip stream
is assembled from independently deflated, byte-aligned pieces (a full flush
after each, as pigz does): XML and tar headers are deflated at level 6 per
file, random blobs become stored blocks (what deflate emits for random data
anyway), and text blobs are concatenations of 128 KiB text chunks deflated
once per worker. The result is one ordinary gzip member with a correct CRC-32
and length; gzip -t, tar and libarchive read it like any other.
"""

import argparse
import hashlib
import io
import json
import multiprocessing
import os
import random
import struct
import sys
import tarfile
import zlib

BACKUP_TIME = 1795676950  # the fixtures' clock (2026-11-26)
DIR_MTIME = 1356998400  # Moodle gives directories 2013-01-01
START_DATE = 1788220800
WWWROOT = "http://moodle.example.edu"
SITE_HASH = "8c7c090f9a24e0f17e92e0bb2a8106a6"
MIN_SIZE, MAX_SIZE, SKEW = 20_000, 5_000_000, 1.5

FACULTIES = ["Sciences", "Lettres", "Droit", "Medecine", "Economie",
             "Ingenierie", "Arts", "Langues", "Sport", "Education"]
DEPARTMENTS = ["Licence-1", "Licence-2", "Licence-3", "Master-1", "Master-2",
               "Doctorat", "Tronc-commun", "Options", "Formation-continue"]
MODULES = ["resource", "page", "forum", "assign", "quiz", "label", "folder",
           "url"]
WORDS = ("lorem ipsum dolor sit amet consectetuer adipiscing elit nulla non "
         "arcu lacinia neque faucibus fringilla vivamus porttitor turpis ac "
         "leo integer in sapien nullam eget nisl aliquam erat volutpat cras "
         "elementum mauris suscipit ligula pharetra semper nibh ante cursus "
         "purus vel sagittis velit metus malesuada lectus justo vulputate "
         "mollis sed tempor magna vitae tortor temporibus autem quibusdam et "
         "aut officiis debitis rerum necessitatibus saepe eveniet ut "
         "voluptates repudiandae sint molestiae recusandae pellentesque "
         "cours chapitre exercice corrigé étudiant évaluation séance travaux "
         "dirigés physique chimie histoire géographie mathématiques analyse "
         "algèbre probabilités").split()

RANDOM_POOL = 64 << 20
TEXT_CHUNK = 128 << 10
TEXT_CHUNKS = 32


def categories():
    """The 100 category folders: 10 faculties, each with 9 departments."""
    out = []
    for f in FACULTIES:
        out.append(f)
        out.extend(f"{f}/{d}" for d in DEPARTMENTS)
    return out


def course_plan(i, seed):
    """Deterministic name, category and target size of course i."""
    r = random.Random(seed * 1_000_003 + i)
    size = int(MIN_SIZE * (MAX_SIZE / MIN_SIZE) ** (r.random() ** SKEW))
    cats = categories()
    cat = cats[i % len(cats)]
    cid = 1000 + i
    dept = cat.split("/")[-1][:3].upper()
    shortname = f"{cat.split('/')[0][:4].upper()}-{dept}-{i:05d}"
    fullname = f"Cours {cat.replace('/', ' ')} n°{i} — évaluation & TD"
    fname = (f"backup-moodle2-course-{cid}-{shortname.lower()}"
             "-20261126-0709.mbz")
    return {"i": i, "cid": cid, "shortname": shortname,
            "fullname": fullname, "category": cat, "file": fname,
            "size": size, "seed": seed}


def esc(s):
    return (str(s).replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def x(tag, value, indent):
    return f"{' ' * indent}<{tag}>{esc(value)}</{tag}>\n"


def xmlfile(body):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode()


def empty_xml(root, children=()):
    s = f"<{root}>\n"
    for c in children:
        s += f"  <{c}>\n  </{c}>\n"
    return xmlfile(s + f"</{root}>")


# --- the gzip stream, from byte-aligned deflate pieces ----------------------

class Worker:
    """Per-process pools: random bytes and pre-deflated text chunks."""

    def __init__(self, seed):
        r = random.Random(seed)
        self.random = r.randbytes(RANDOM_POOL)
        vocab = WORDS + [f"{w}{k}" for k, w in enumerate(WORDS * 20)]
        self.text = []  # (raw, deflated)
        for _ in range(TEXT_CHUNKS):
            words = " ".join(r.choices(vocab, k=TEXT_CHUNK // 5)).encode()
            raw = words[:TEXT_CHUNK]
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            self.text.append((raw, c.compress(raw) + c.flush(zlib.Z_FULL_FLUSH)))
        self.text_ratio = (sum(len(a) for a, _ in self.text) /
                           sum(len(b) for _, b in self.text))


class GzipOut:
    """A gzip member written as a series of independently deflated pieces."""

    def __init__(self, f):
        self.f = f
        self.crc = 0
        self.size = 0
        self.main = zlib.compressobj(6, zlib.DEFLATED, -15)
        # magic, deflate, no flags, mtime 0, xfl 0, OS unix
        f.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03")

    def _account(self, raw):
        self.crc = zlib.crc32(raw, self.crc)
        self.size += len(raw)

    def compressible(self, raw):
        self._account(raw)
        self.f.write(self.main.compress(raw))

    def _flush_main(self):
        self.f.write(self.main.flush(zlib.Z_FULL_FLUSH))

    def stored(self, raw):
        """Incompressible bytes as stored blocks (at most 65535 each)."""
        self._flush_main()
        self._account(raw)
        view = memoryview(raw)
        for at in range(0, len(raw), 65535):
            block = view[at:at + 65535]
            n = len(block)
            self.f.write(struct.pack("<BHH", 0, n, n ^ 0xFFFF))
            self.f.write(block)

    def predeflated(self, raw, deflated):
        self._flush_main()
        self._account(raw)
        self.f.write(deflated)

    def close(self):
        self.f.write(self.main.flush(zlib.Z_FULL_FLUSH))
        self.f.write(b"\x03\x00")  # final, empty, fixed-Huffman block
        self.f.write(struct.pack("<II", self.crc, self.size & 0xFFFFFFFF))


class Blob:
    """A files/ member: raw bytes plus how to deflate them."""

    def __init__(self, pieces):
        self.pieces = pieces  # [("stored"|"pre"|"deflate", raw, deflated)]
        h = hashlib.sha1()
        for _, raw, _ in pieces:
            h.update(raw)
        self.sha1 = h.hexdigest()
        self.size = sum(len(p[1]) for p in pieces)


def make_blobs(w, r, n, random_bytes, text_deflated, tag):
    """n content files sharing random_bytes and ~text_deflated on disk."""
    blobs = []
    for k in range(n):
        pieces = [("deflate", f"{tag} file {k}\n".encode(), None)]
        rb = random_bytes // n
        while rb > 0:
            take = min(rb, r.randrange(64 << 10, 4 << 20))
            at = r.randrange(0, RANDOM_POOL - take)
            pieces.append(("stored", w.random[at:at + take], None))
            rb -= take
        td = text_deflated // n
        while td > 0:
            raw, defl = w.text[r.randrange(TEXT_CHUNKS)]
            if td >= len(defl):
                pieces.append(("pre", raw, defl))
                td -= len(defl)
            else:
                pieces.append(("deflate",
                               raw[:int(td * w.text_ratio)], None))
                td = 0
        blobs.append(Blob(pieces))
    return blobs


def course_members(w, plan):
    """The ordered member list: (name, kind, data) kind in d, s (bytes), b."""
    r = random.Random(plan["seed"] * 7_000_003 + plan["i"])
    size = plan["size"]
    cid, i = plan["cid"], plan["i"]
    ctx = 10 * cid
    n_sections = min(12, 2 + size // 400_000 + r.randrange(3))
    n_act = min(40, 2 + size // 150_000 + r.randrange(4))
    sections = [(100 * cid + s, s) for s in range(n_sections)]
    acts = []
    for a in range(n_act):
        mod = MODULES[r.randrange(len(MODULES))] if a else "resource"
        sec = sections[r.randrange(n_sections)]
        acts.append({"id": 1000 * cid + a, "mod": mod, "sec": sec,
                     "name": f"{mod.capitalize()} {a + 1}"})
    holders = [a for a in acts if a["mod"] in ("resource", "folder")]

    # Skeleton: ~4 KB, and ~1 KB deflated per activity or section.
    budget = max(2_000, size - 4_000 - 1_000 * (n_act + n_sections))
    share = r.uniform(0.55, 0.85)
    n_blobs = min(30, 1 + size // 250_000 + r.randrange(2))
    blobs = make_blobs(w, r, n_blobs, int(budget * share),
                       int(budget * (1 - share)), plan["shortname"])
    files = []  # rows of files.xml
    for k, b in enumerate(blobs):
        a = holders[k % len(holders)]
        files.append({"id": 100 * cid + k, "hash": b.sha1,
                      "ctx": ctx + 1 + acts.index(a), "size": b.size,
                      "name": f"document-{k + 1}.pdf"})

    m = []
    d = lambda name: m.append((name, "d", None))
    s = lambda name, data: m.append((name, "s", data))
    if acts:
        d("activities/")
    for a in reversed(acts):
        p = f"activities/{a['mod']}_{a['id']}/"
        d(p)
        s(p + "grade_history.xml", empty_xml("grade_history",
                                             ["grade_grades"]))
        intro = " ".join(r.choices(WORDS, k=r.randrange(20, 200)))
        s(p + f"{a['mod']}.xml", xmlfile(
            f'<activity id="{a["id"]}" moduleid="{a["id"]}" '
            f'modulename="{a["mod"]}" contextid="{ctx}">\n'
            f'  <{a["mod"]} id="{a["id"]}">\n' + x("name", a["name"], 4) +
            x("intro", intro, 4) + x("introformat", 1, 4) +
            x("timemodified", BACKUP_TIME, 4) +
            f'  </{a["mod"]}>\n</activity>'))
        refs = "".join(f"    <file>\n      <id>{f['id']}</id>\n    </file>\n"
                       for f in files if f["ctx"] == ctx + 1 +
                       acts.index(a))
        s(p + "inforef.xml", xmlfile(
            "<inforef>\n" + (f"  <fileref>\n{refs}  </fileref>\n"
                             if refs else "") + "</inforef>"))
        s(p + "roles.xml", empty_xml("roles", ["role_overrides",
                                               "role_assignments"]))
        s(p + "grades.xml", empty_xml("activity_gradebook",
                                      ["grade_items", "grade_letters"]))
        s(p + "filters.xml", empty_xml("filters", ["filter_actives",
                                                   "filter_configs"]))
        s(p + "comments.xml", empty_xml("comments"))
        s(p + "module.xml", xmlfile(
            f'<module id="{a["id"]}" version="2024100700">\n' +
            x("modulename", a["mod"], 2) + x("sectionid", a["sec"][0], 2) +
            x("sectionnumber", a["sec"][1], 2) + x("idnumber", "", 2) +
            x("added", BACKUP_TIME - 86400, 2) + x("visible", 1, 2) +
            "  <tags>\n  </tags>\n</module>"))
        s(p + "competencies.xml", empty_xml("course_module_competencies",
                                            ["competencies"]))
        s(p + "xapistate.xml", empty_xml("states"))
        s(p + "completion.xml", empty_xml("completions",
                                          ["completionviews"]))
        s(p + "calendar.xml", empty_xml("events"))
        if a["mod"] in ("assign", "forum", "quiz"):
            s(p + "grading.xml", empty_xml("areas"))
    s("badges.xml", empty_xml("badges"))
    s("completion.xml", empty_xml("course_completion"))
    d("course/")
    summary = " ".join(r.choices(WORDS, k=r.randrange(50, 600)))
    body = f'<course id="{cid}" contextid="{ctx}">\n'
    for k, v in [("shortname", plan["shortname"]),
                 ("fullname", plan["fullname"]),
                 ("idnumber", f"IDN-{cid}"), ("summary", summary),
                 ("summaryformat", 1), ("format", "topics"),
                 ("showgrades", 1), ("newsitems", 5),
                 ("startdate", START_DATE), ("enddate", 0),
                 ("visible", 1), ("lang", ""), ("theme", ""),
                 ("timecreated", START_DATE - 86400),
                 ("timemodified", BACKUP_TIME - 3600),
                 ("pdfexportfont", "$@NULL@$"), ("enablecompletion", 1)]:
        body += x(k, v, 2)
    body += (f'  <category id="{i % 100 + 2}">\n' +
             x("name", plan["category"].split("/")[-1], 4) +
             x("description", "", 4) + "  </category>\n  <tags>\n  </tags>\n"
             "  <customfields>\n  </customfields>\n</course>")
    s("course/course.xml", xmlfile(body))
    s("course/inforef.xml", xmlfile(
        "<inforef>\n  <roleref>\n    <role>\n      <id>5</id>\n    </role>\n"
        "  </roleref>\n</inforef>"))
    s("course/roles.xml", empty_xml("roles", ["role_overrides",
                                              "role_assignments"]))
    s("course/completiondefaults.xml",
      empty_xml("course_completion_defaults"))
    s("course/filters.xml", empty_xml("filters", ["filter_actives",
                                                  "filter_configs"]))
    s("course/comments.xml", empty_xml("comments"))
    s("course/contentbank.xml", empty_xml("contents"))
    s("course/enrolments.xml", empty_xml("enrolments", ["enrols"]))
    s("course/competencies.xml", empty_xml(
        "course_competencies", ["competencies", "user_competencies"]))
    s("course/calendar.xml", empty_xml("events"))
    if blobs:
        d("files/")
        by_prefix = {}
        for b in blobs:
            by_prefix.setdefault(b.sha1[:2], []).append(b)
        for pre, bl in by_prefix.items():
            d(f"files/{pre}/")
            for b in bl:
                m.append((f"files/{pre}/{b.sha1}", "b", b))
    rows = ""
    for f in files:
        rows += (f'  <file id="{f["id"]}">\n' + x("contenthash", f["hash"], 4) +
                 x("contextid", f["ctx"], 4) +
                 x("component", "mod_resource", 4) +
                 x("filearea", "content", 4) + x("itemid", 0, 4) +
                 x("filepath", "/", 4) + x("filename", f["name"], 4) +
                 x("filesize", f["size"], 4) +
                 x("mimetype", "application/pdf", 4) +
                 x("timecreated", BACKUP_TIME, 4) + "  </file>\n")
    s("files.xml", xmlfile("<files>\n" + rows + "</files>"))
    s("grade_history.xml", empty_xml("grade_history", ["grade_grades"]))
    s("gradebook.xml", empty_xml("gradebook", ["attributes",
                                               "grade_categories",
                                               "grade_items"]))
    s("groups.xml", empty_xml("groups", ["groupcustomfields", "groupings"]))
    s("moodle_backup.xml", moodle_backup_xml(plan, ctx, acts, sections, r))
    s("outcomes.xml", empty_xml("outcomes_definition"))
    s("questions.xml", empty_xml("question_categories"))
    s("roles.xml", empty_xml("roles_definition"))
    s("scales.xml", empty_xml("scales_definition"))
    d("sections/")
    for sid, num in sections:
        p = f"sections/section_{sid}/"
        d(p)
        s(p + "inforef.xml", xmlfile("<inforef>\n</inforef>"))
        s(p + "section.xml", xmlfile(
            f'<section id="{sid}">\n' + x("number", num, 2) +
            x("name", f"Séance {num}", 2) + x("summary", "", 2) +
            x("sequence", ",".join(str(a["id"]) for a in acts
                                   if a["sec"][0] == sid), 2) +
            x("visible", 1, 2) + "</section>"))
    s("users.xml", empty_xml("users"))
    s("moodle_backup.log", b"")
    return m


def moodle_backup_xml(plan, ctx, acts, sections, r):
    i4 = 4
    s = "<moodle_backup>\n  <information>\n"
    for k, v in [("name", plan["file"]), ("moodle_version", 2024100706),
                 ("moodle_release", "4.5.6 (Build: 20250811)"),
                 ("backup_version", 2024100700), ("backup_release", "4.5"),
                 ("backup_date", BACKUP_TIME), ("mnet_remoteusers", 0),
                 ("include_files", 1),
                 ("include_file_references_to_external_content", 0),
                 ("original_wwwroot", WWWROOT),
                 ("original_site_identifier_hash", SITE_HASH),
                 ("original_course_id", plan["cid"]),
                 ("original_course_format", "topics"),
                 ("original_course_fullname", plan["fullname"]),
                 ("original_course_shortname", plan["shortname"]),
                 ("original_course_startdate", START_DATE),
                 ("original_course_enddate", 0),
                 ("original_course_contextid", ctx),
                 ("original_system_contextid", 1)]:
        s += x(k, v, i4)
    s += (f'    <details>\n      <detail backup_id="{r.getrandbits(128):032x}">'
          "\n" + x("type", "course", 8) + x("format", "moodle2", 8) +
          x("interactive", 1, 8) + x("mode", 10, 8) +
          x("execution", 1, 8) + x("executiontime", 0, 8) +
          "      </detail>\n    </details>\n    <contents>\n")
    if acts:
        s += "      <activities>\n"
        for a in acts:
            s += ("        <activity>\n" + x("moduleid", a["id"], 10) +
                  x("sectionid", a["sec"][0], 10) +
                  x("modulename", a["mod"], 10) + x("title", a["name"], 10) +
                  x("directory", f"activities/{a['mod']}_{a['id']}", 10) +
                  x("insubsection", "", 10) + "        </activity>\n")
        s += "      </activities>\n"
    s += "      <sections>\n"
    for sid, num in sections:
        s += ("        <section>\n" + x("sectionid", sid, 10) +
              x("title", str(num), 10) +
              x("directory", f"sections/section_{sid}", 10) +
              "        </section>\n")
    s += ("      </sections>\n      <course>\n" +
          x("courseid", plan["cid"], 8) + x("title", plan["shortname"], 8) +
          x("directory", "course", 8) + "      </course>\n"
          "    </contents>\n    <settings>\n")
    for n in ["filename", "users", "anonymize", "role_assignments",
              "activities", "blocks", "files", "filters", "comments",
              "badges", "calendarevents", "userscompletion", "logs",
              "grade_histories", "questionbank", "groups", "competencies"]:
        s += ("      <setting>\n" + x("level", "root", 8) + x("name", n, 8) +
              x("value", plan["file"] if n == "filename" else 1, 8) +
              "      </setting>\n")
    for a in acts:
        an = f"{a['mod']}_{a['id']}"
        for k in ("included", "userinfo"):
            s += ("      <setting>\n" + x("level", "activity", 8) +
                  x("activity", an, 8) + x("name", f"{an}_{k}", 8) +
                  x("value", 1, 8) + "      </setting>\n")
    s += "    </settings>\n  </information>\n</moodle_backup>"
    return xmlfile(s)


def tar_header(name, kind, size):
    ti = tarfile.TarInfo(name)
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    if kind == "d":
        ti.type, ti.mode, ti.mtime, ti.size = tarfile.DIRTYPE, 0o755, \
            DIR_MTIME, 0
    else:
        ti.type, ti.mode, ti.mtime, ti.size = tarfile.REGTYPE, 0o644, \
            BACKUP_TIME, size
    return ti.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")


def write_course(w, plan, path):
    members = course_members(w, plan)
    sizes = [0 if k == "d" else len(v) if k == "s" else v.size
             for _, k, v in members]
    index = f"Moodle archive file index. Count: {len(members)}\n"
    for (name, kind, _), size in zip(members, sizes):
        index += (f"{name}\td\t0\t?\n" if kind == "d" else
                  f"{name}\tf\t{size}\t{BACKUP_TIME}\n")
    members.insert(0, (".ARCHIVE_INDEX", "s", index.encode()))
    sizes.insert(0, len(members[0][2]))
    written = 0
    with open(path, "wb") as f:
        gz = GzipOut(f)
        for (name, kind, data), size in zip(members, sizes):
            gz.compressible(tar_header(name, kind, size))
            written += 512
            if kind == "s":
                gz.compressible(data)
            elif kind == "b":
                for how, raw, defl in data.pieces:
                    if how == "stored":
                        gz.stored(raw)
                    elif how == "pre":
                        gz.predeflated(raw, defl)
                    else:
                        gz.compressible(raw)
            written += size
            if size % 512:
                gz.compressible(bytes(512 - size % 512))
                written += 512 - size % 512
        # two zero blocks, then padding to a 10240-byte record
        end = written + 1024
        end += -end % 10240
        gz.compressible(bytes(end - written))
        gz.close()


_worker = None


def init_worker(seed):
    global _worker
    _worker = Worker(seed * 31 + os.getpid())


def make_one(args):
    plan, session_dir = args
    folder = os.path.join(session_dir, plan["category"])
    final = os.path.join(folder, plan["file"])
    tmp = os.path.join(folder, "." + plan["file"] + ".tmp")
    write_course(_worker, plan, tmp)
    h = hashlib.sha256()
    with open(tmp, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    os.rename(tmp, final)
    return {"file": f"{plan['category']}/{plan['file']}",
            "sha256": h.hexdigest(), "source_course_id": plan["cid"],
            "shortname": plan["shortname"], "fullname": plan["fullname"],
            "site_hash": SITE_HASH, "size": os.path.getsize(final)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--session", required=True)
    ap.add_argument("--courses", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    opt = ap.parse_args()

    session_dir = os.path.join(opt.store, opt.session)
    for c in categories():
        os.makedirs(os.path.join(session_dir, c), exist_ok=True)
    os.makedirs(os.path.join(session_dir, ".session"), exist_ok=True)
    plans = [(course_plan(i, opt.seed), session_dir)
             for i in range(opt.courses)]
    # biggest first, so that both workers finish together
    plans.sort(key=lambda p: -p[0]["size"])
    lines, total = [], 0
    with multiprocessing.Pool(opt.jobs, init_worker, (opt.seed,)) as pool:
        for n, row in enumerate(pool.imap_unordered(make_one, plans, 8), 1):
            total += row.pop("size")
            lines.append(row)
            if n % 500 == 0:
                print(f"gen-store: {n}/{opt.courses} files, "
                      f"{total / 1e9:.2f} GB", file=sys.stderr, flush=True)
    lines.sort(key=lambda l: l["file"])
    with open(os.path.join(session_dir, ".session", "manifest.jsonl"),
              "w") as f:
        for l in lines:
            f.write(json.dumps(l, ensure_ascii=False) + "\n")
    print(f"{len(lines)} {total}")


if __name__ == "__main__":
    main()
