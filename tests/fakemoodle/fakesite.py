"""Fake Moodle 4.5.6 sites for sessionarchiver's tests.

A fake site is a directory laid out like Moodle (config.php, admin/cli/backup.php,
admin/cli/restore_backup.php, admin/cli/delete_course.php, lib/...) plus a
dataroot (filedir/ content pool, temp/, recyclebin/) and a MariaDB database
with Moodle's real table/column names.  The tool can run its production
command lines against it::

    php <site_dir>/admin/cli/backup.php --courseid=N --destination=DIR

Python API (see the README in this folder for more)::

    site = FakeSite.create(mariadb, root_dir, "src")
    cat = site.add_category("2025-2026")
    cid = site.add_course(cat, "MATH-1", "Maths 1", files=[("a.txt", b"hello"), ("big.bin", 10_000_000)])
    site.set_fault(cid, "backup", "hang")
    desc = generate_session(site, n_courses=30)

Command line (for demo scripts)::

    /usr/bin/python3 tests/fakemoodle/fakesite.py create --socket S --root DIR --name NAME \
        [--prefix mdl_] [--session 2025-2026 --courses 30] [--seed 0]
"""

import argparse
import hashlib
import json
import mimetypes
import os
import random
import re
import secrets
import shutil
import string
import subprocess
import sys
import time

import pymysql

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, "site")
SCHEMA = os.path.join(HERE, "schema.sql")

RELEASE = "4.5.6 (Build: 20250811)"
VERSION = "2024100706"
MODULES = ["assign", "assignment", "book", "chat", "choice", "data", "feedback", "folder", "forum",
           "glossary", "h5pactivity", "imscp", "label", "lesson", "lti", "page", "qbank", "quiz",
           "resource", "scorm", "survey", "url", "wiki", "workshop"]
# modules with an instance table in schema.sql
INSTANCE_TABLES = {"assign", "folder", "forum", "label", "page", "quiz", "resource", "url"}

CONTEXT_SYSTEM, CONTEXT_COURSECAT, CONTEXT_COURSE, CONTEXT_MODULE = 10, 40, 50, 70
CHUNK = 1 << 20


class _SocketServer:
    """Minimal stand-in for harness.mariadb.MariaDB when only a socket path is known."""

    def __init__(self, socket):
        self.socket = socket

    def connect(self, db=None):
        kw = dict(unix_socket=self.socket, user="root", charset="utf8mb4", autocommit=True)
        if db:
            kw["database"] = db
        return pymysql.connect(**kw)


def _php_str(s):
    return "'" + str(s).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _content_chunks(spec):
    """Yield the bytes of a content spec, in chunks (never the whole content at once).

    spec: bytes | int (that many random bytes, unique) |
          dict(size=N, kind='random'|'text'|'zero', seed=anything-hashable)
          (same dict => same bytes => same contenthash).
    """
    if isinstance(spec, (bytes, bytearray)):
        for i in range(0, len(spec), CHUNK):
            yield bytes(spec[i:i + CHUNK])
        return
    if isinstance(spec, int):
        spec = {"size": spec}
    size = int(spec["size"])
    kind = spec.get("kind", "random")
    seed = spec.get("seed")
    if kind == "zero":
        left = size
        block = b"\0" * CHUNK
        while left > 0:
            n = min(left, CHUNK)
            yield block[:n]
            left -= n
        return
    if kind == "text":
        rnd = random.Random(repr(seed) if seed is not None else secrets.token_hex(8))
        words = ["cours", "leçon", "exercice", "élève", "mathématiques", "physique", "histoire",
                 "géographie", "chapitre", "devoir", "examen", "corrigé", "annexe", "théorème"]
        lines = []
        for i in range(2000):
            lines.append(" ".join(rnd.choice(words) for _ in range(10)) + " %d\n" % i)
        block = "".join(lines).encode()
        while len(block) < CHUNK:
            block += block
        block = block[:CHUNK]
        left = size
        while left > 0:
            n = min(left, CHUNK)
            yield block[:n]
            left -= n
        return
    # random
    if seed is None:
        left = size
        while left > 0:
            n = min(left, CHUNK)
            yield os.urandom(n)
            left -= n
        return
    rnd = random.Random(repr(seed))
    base = rnd.randbytes(min(size, CHUNK)) if size else b""
    left, i = size, 0
    while left > 0:
        n = min(left, CHUNK)
        block = base if i == 0 else i.to_bytes(8, "little") + base[8:]
        yield block[:n]
        left -= n
        i += 1


class FakeSite:
    """One fake Moodle site (directory + dataroot + database)."""

    def __init__(self, server, root, name, prefix, dbname, dbuser, dbpass, site_dir, dataroot,
                 siteidentifier, wwwroot):
        self.server = server
        self.root = root
        self.name = name
        self.prefix = prefix
        self.dbname = dbname
        self.dbuser = dbuser
        self.dbpass = dbpass
        self.site_dir = site_dir
        self.dataroot = dataroot
        self.siteidentifier = siteidentifier
        self.wwwroot = wwwroot
        self._conn = None

    # ------------------------------------------------------------ creation
    @classmethod
    def create(cls, mariadb, root_dir, name, prefix="mdl_", siteidentifier=None, wwwroot=None):
        """Make the database, its user, the schema and seed rows, the site dir and the dataroot."""
        if isinstance(mariadb, str):
            mariadb = _SocketServer(mariadb)
        if not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise ValueError("site name must be [A-Za-z0-9_]+")
        root = os.path.join(os.path.abspath(str(root_dir)), name)
        site_dir = os.path.join(root, "moodle")
        dataroot = os.path.join(root, "moodledata")
        if os.path.exists(site_dir):
            raise FileExistsError(site_dir)
        dbname = ("fm_" + name)[:64]
        dbuser = ("fm_" + name)[:32]
        dbpass = "pw-" + secrets.token_hex(8)
        if siteidentifier is None:
            alnum = string.ascii_letters + string.digits
            siteidentifier = "".join(secrets.choice(alnum) for _ in range(32)) + "localhost"
        if wwwroot is None:
            wwwroot = "http://localhost/" + name
        site = cls(mariadb, root, name, prefix, dbname, dbuser, dbpass, site_dir, dataroot,
                   siteidentifier, wwwroot)
        site._create_db()
        site._create_files()
        site._seed()
        return site

    def _root_conn(self, db=None):
        return self.server.connect(db)

    def _create_db(self):
        c = self._root_conn()
        try:
            with c.cursor() as cur:
                cur.execute("CREATE DATABASE `%s` DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                            % self.dbname)
                cur.execute("CREATE USER %s@'localhost' IDENTIFIED BY %s", (self.dbuser, self.dbpass))
                cur.execute("GRANT ALL PRIVILEGES ON `%s`.* TO %%s@'localhost'" % self.dbname, (self.dbuser,))
        finally:
            c.close()
        with open(SCHEMA, encoding="utf-8") as f:
            sql = f.read().replace("{PREFIX}", self.prefix)
        sql = "\n".join(l for l in sql.splitlines() if not l.startswith("--"))
        with self.conn.cursor() as cur:
            for stmt in sql.split(";\n"):
                if stmt.strip():
                    cur.execute(stmt)

    def _create_files(self):
        shutil.copytree(TEMPLATE, self.site_dir)   # a copy: PHP resolves __DIR__ through symlinks
        for d in ("filedir", "temp", "temp/backup", "trashdir", "cache", "localcache", "sessions"):
            os.makedirs(os.path.join(self.dataroot, d), exist_ok=True)
        opts = ("array (\n  'dbpersist' => 0,\n  'dbport' => '',\n  'dbsocket' => %s,\n"
                "  'dbcollation' => 'utf8mb4_unicode_ci',\n)" % _php_str(self.server.socket))
        cfg = (
            "<?php  // Moodle configuration file\n\n"
            "unset($CFG);\nglobal $CFG;\n$CFG = new stdClass();\n\n"
            "$CFG->dbtype    = 'mariadb';\n"
            "$CFG->dblibrary = 'native';\n"
            "$CFG->dbhost    = 'localhost';\n"
            "$CFG->dbname    = %s;\n"
            "$CFG->dbuser    = %s;\n"
            "$CFG->dbpass    = %s;\n"
            "$CFG->prefix    = %s;\n"
            "$CFG->dboptions = %s;\n\n"
            "$CFG->wwwroot   = %s;\n"
            "$CFG->dataroot  = %s;\n"
            "$CFG->admin     = 'admin';\n\n"
            "$CFG->directorypermissions = 0777;\n\n"
            "require_once(__DIR__ . '/lib/setup.php');\n\n"
            "// There is no php closing tag in this file,\n"
            "// it is intentional because it prevents trailing whitespace problems!\n"
        ) % (_php_str(self.dbname), _php_str(self.dbuser), _php_str(self.dbpass), _php_str(self.prefix),
             opts, _php_str(self.wwwroot), _php_str(self.dataroot))
        with open(os.path.join(self.site_dir, "config.php"), "w", encoding="utf-8") as f:
            f.write(cfg)
        with open(os.path.join(self.root, "site.json"), "w") as f:
            json.dump(self.describe(), f, indent=1)

    def _seed(self):
        now = int(time.time())
        for n, v in (("siteidentifier", self.siteidentifier), ("release", RELEASE), ("version", VERSION),
                     ("backup_version", "2024100700"), ("backup_release", "4.5"),
                     ("wwwroot", self.wwwroot)):
            self.query("INSERT INTO {config} (name, value) VALUES (%s, %s)", (n, v))
        # tool_recyclebin's defaults: both bins on (a deleted course goes to its category's bin)
        for n in ("coursebinenable", "categorybinenable"):
            self.query("INSERT INTO {config_plugins} (plugin, name, value) VALUES ('tool_recyclebin', %s, '1')",
                       (n,))
        self.query("INSERT INTO {context} (id, contextlevel, instanceid, path, depth) VALUES (1, 10, 0, '/1', 1)")
        self.query("INSERT INTO {course} (id, category, sortorder, fullname, shortname, summary, summaryformat,"
                   " format, newsitems, timecreated, timemodified) VALUES (1, 0, 0, 'Fake Moodle', 'fakemoodle',"
                   " '', 0, 'site', 3, %s, %s)", (now, now))
        self._new_context(CONTEXT_COURSE, 1, "/1", 1)
        self.query("INSERT INTO {course_sections} (course, section, summary, summaryformat, sequence,"
                   " timemodified) VALUES (1, 1, '', 0, '', %s)", (now,))
        for m in MODULES:
            self.query("INSERT INTO {modules} (name, cron, lastcron, search, visible) VALUES (%s, 0, 0, '', 1)",
                       (m,))
        # A fresh install has the default category "Category 1" (id 1).
        self.add_category("Category 1", 0, idnumber=None)

    # ------------------------------------------------------------ SQL
    @property
    def conn(self):
        if self._conn is None or not self._conn.open:
            self._conn = self.server.connect(self.dbname)
        return self._conn

    def _fix(self, sql):
        return re.sub(r"\{([a-z][a-z0-9_]*)\}", lambda m: "`%s%s`" % (self.prefix, m.group(1)), sql)

    def query(self, sql, args=None):
        """Run SQL on the site DB (root connection). `{table}` becomes the prefixed table name.
        Returns a list of dicts for SELECTs, else lastrowid."""
        self.conn.ping(reconnect=True)
        with self.conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute(self._fix(sql), args)
            if cur.description:
                return list(cur.fetchall())
            return cur.lastrowid

    def _new_context(self, level, instanceid, parent_path, parent_depth):
        cid = self.query("INSERT INTO {context} (contextlevel, instanceid, path, depth) VALUES (%s, %s, NULL, 0)",
                         (level, instanceid))
        path = "%s/%d" % (parent_path, cid)
        self.query("UPDATE {context} SET path = %s, depth = %s WHERE id = %s", (path, parent_depth + 1, cid))
        return {"id": cid, "path": path, "depth": parent_depth + 1}

    def context(self, level, instanceid):
        rows = self.query("SELECT * FROM {context} WHERE contextlevel = %s AND instanceid = %s", (level, instanceid))
        return rows[0] if rows else None

    # ------------------------------------------------------------ categories
    def add_category(self, name, parent_id=0, idnumber=""):
        """core_course_category::create(): returns the new category id."""
        now = int(time.time())
        if parent_id:
            parent = self.query("SELECT * FROM {course_categories} WHERE id = %s", (parent_id,))[0]
            pctx = self.context(CONTEXT_COURSECAT, parent_id)
            depth, ppath = parent["depth"] + 1, parent["path"]
        else:
            pctx = {"path": "/1", "depth": 1}
            depth, ppath = 1, ""
        n = self.query("SELECT COUNT(*) AS n FROM {course_categories}")[0]["n"]
        cid = self.query("INSERT INTO {course_categories} (name, idnumber, description, descriptionformat, parent,"
                         " sortorder, coursecount, visible, visibleold, timemodified, depth, path)"
                         " VALUES (%s, %s, NULL, 0, %s, %s, 0, 1, 1, %s, %s, '')",
                         (name, idnumber if idnumber else None, parent_id, (n + 1) * 10000, now, depth))
        self.query("UPDATE {course_categories} SET path = %s WHERE id = %s", ("%s/%d" % (ppath, cid), cid))
        self._new_context(CONTEXT_COURSECAT, cid, pctx["path"], pctx["depth"])
        return cid

    def category(self, category_id):
        """The course_categories row of that id, or None."""
        rows = self.query("SELECT * FROM {course_categories} WHERE id = %s", (category_id,))
        return rows[0] if rows else None

    def categories(self):
        return self.query("SELECT id, name, idnumber, parent, path, depth, sortorder, coursecount, visible"
                          " FROM {course_categories} ORDER BY sortorder, id")

    # ------------------------------------------------------------ courses
    def add_course(self, category_id, shortname, fullname, idnumber="", files=(), sections=3, activities=(),
                   summary=None, startdate=None, enddate=0, visible=1, format="topics"):
        """Create a course like Moodle's generator does.

        files: list of (filename, content) or (filename, content, folder_name). content is bytes, an int
               (that many random bytes) or a dict(size=, kind='random'|'text'|'zero', seed=) - the same
               dict gives the same content (shared contenthash). filename may hold a sub path
               ('annexes/x.bin'). Without folder_name each file is its own 'resource' activity; files with
               the same folder_name go into one 'folder' activity.
        sections: number of sections besides section 0 (rows 0..sections).
        activities: extra activities: 'page' or dict(mod='page', name='...', section=0).
        """
        now = int(time.time())
        if startdate is None:
            startdate = now - now % 86400
        cat = self.query("SELECT * FROM {course_categories} WHERE id = %s", (category_id,))
        if not cat:
            raise ValueError("no category %s" % category_id)
        cat = cat[0]
        sort = self.query("SELECT COALESCE(MAX(sortorder), 0) AS s FROM {course} WHERE category = %s",
                          (category_id,))[0]["s"]
        sort = max(int(sort) + 1, cat["sortorder"] + 1)
        if summary is None:
            summary = "Cours de test pour l’archivage — " + fullname
        cid = self.query("INSERT INTO {course} (category, sortorder, fullname, shortname, idnumber, summary,"
                         " summaryformat, format, showgrades, newsitems, startdate, enddate, visible, visibleold,"
                         " timecreated, timemodified, cacherev, showcompletionconditions)"
                         " VALUES (%s,%s,%s,%s,%s,%s,0,%s,1,0,%s,%s,%s,%s,%s,%s,%s,1)",
                         (category_id, sort, fullname, shortname, idnumber, summary, format, startdate, enddate,
                          visible, visible, now, now, now))
        catctx = self.context(CONTEXT_COURSECAT, category_id)
        cctx = self._new_context(CONTEXT_COURSE, cid, catctx["path"], catctx["depth"])
        secids = []
        for s in range(sections + 1):
            secids.append(self.query("INSERT INTO {course_sections} (course, section, name, summary, summaryformat,"
                                     " sequence, visible, timemodified) VALUES (%s,%s,NULL,'',1,'',1,%s)",
                                     (cid, s, now)))
        modids = {r["name"]: r["id"] for r in self.query("SELECT id, name FROM {modules}")}
        seq = {}

        def add_cm(mod, name, section=0, intro=None):
            sid = secids[min(section, len(secids) - 1)]
            inst = 0
            if mod in INSTANCE_TABLES:
                inst = self.query("INSERT INTO {%s} (course, name, intro, introformat, timemodified)"
                                  " VALUES (%%s,%%s,%%s,0,%%s)" % mod,
                                  (cid, name, intro if intro is not None else "Test %s" % mod, now))
            cmid = self.query("INSERT INTO {course_modules} (course, module, instance, section, idnumber, added,"
                              " visible, downloadcontent) VALUES (%s,%s,%s,%s,'',%s,1,1)",
                              (cid, modids[mod], inst, sid, now))
            ctx = self._new_context(CONTEXT_MODULE, cmid, cctx["path"], cctx["depth"])
            seq.setdefault(sid, []).append(cmid)
            return cmid, ctx

        folders = {}
        for i, f in enumerate(files):
            fname, content = f[0], f[1]
            folder = f[2] if len(f) > 2 else None
            if folder is not None:
                if folder not in folders:
                    folders[folder] = add_cm("folder", folder)
                ctxid, comp, sortorder = folders[folder][1]["id"], "mod_folder", 0
            else:
                _, ctx = add_cm("resource", os.path.basename(fname))
                ctxid, comp, sortorder = ctx["id"], "mod_resource", 1
            self.add_file(ctxid, comp, "content", 0, fname, content, sortorder=sortorder, time_=now)
        for a in activities:
            if isinstance(a, str):
                a = {"mod": a}
            add_cm(a["mod"], a.get("name", "%s %d" % (a["mod"].capitalize(), len(seq) + 1)), a.get("section", 0),
                   a.get("intro"))
        for sid, cmids in seq.items():
            self.query("UPDATE {course_sections} SET sequence = %s WHERE id = %s",
                       (",".join(str(x) for x in cmids), sid))
        self._update_coursecount(category_id)
        return cid

    def _update_coursecount(self, category_id):
        self.query("UPDATE {course_categories} SET coursecount = (SELECT COUNT(*) FROM {course}"
                   " WHERE category = %s) WHERE id = %s", (category_id, category_id))

    def store_content(self, content):
        """Write content into the file pool (streamed). Returns (contenthash, size)."""
        tmpdir = os.path.join(self.dataroot, "temp", "filestorage")
        os.makedirs(tmpdir, exist_ok=True)
        tmp = os.path.join(tmpdir, "new-" + secrets.token_hex(8))
        h = hashlib.sha1()
        size = 0
        with open(tmp, "wb") as out:
            for chunk in _content_chunks(content):
                h.update(chunk)
                out.write(chunk)
                size += len(chunk)
        ch = h.hexdigest()
        dest = self.filedir_path(ch)
        if os.path.exists(dest):
            os.unlink(tmp)
        else:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            os.replace(tmp, dest)
        return ch, size

    def filedir_path(self, contenthash):
        return os.path.join(self.dataroot, "filedir", contenthash[:2], contenthash[2:4], contenthash)

    @staticmethod
    def pathnamehash(contextid, component, filearea, itemid, filepath, filename):
        return hashlib.sha1(("/%d/%s/%s/%d%s%s" % (contextid, component, filearea, itemid, filepath, filename))
                            .encode()).hexdigest()

    def _file_row(self, contextid, component, filearea, itemid, filepath, filename, ch, size, mimetype, t,
                  sortorder=0):
        pnh = self.pathnamehash(contextid, component, filearea, itemid, filepath, filename)
        if self.query("SELECT id FROM {files} WHERE pathnamehash = %s", (pnh,)):
            return
        self.query("INSERT INTO {files} (contenthash, pathnamehash, contextid, component, filearea, itemid,"
                   " filepath, filename, userid, filesize, mimetype, status, source, author, license,"
                   " timecreated, timemodified, sortorder, referencefileid)"
                   " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,NULL,%s,%s,0,NULL,NULL,NULL,%s,%s,%s,NULL)",
                   (ch, pnh, contextid, component, filearea, itemid, filepath, filename, size, mimetype, t, t,
                    sortorder))

    def add_file(self, contextid, component, filearea, itemid, name, content, sortorder=0, time_=None):
        """Add one stored file (+ the '.' directory rows Moodle keeps). name may be 'sub/dir/file'."""
        t = time_ or int(time.time())
        parts = name.strip("/").split("/")
        filename = parts[-1]
        filepath = "/" + "".join(p + "/" for p in parts[:-1])
        acc = "/"
        self._file_row(contextid, component, filearea, itemid, "/", ".", hashlib.sha1(b"").hexdigest(), 0, None, t)
        for p in parts[:-1]:
            acc += p + "/"
            self._file_row(contextid, component, filearea, itemid, acc, ".", hashlib.sha1(b"").hexdigest(), 0,
                           None, t)
        ch, size = self.store_content(content)
        mt = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        self._file_row(contextid, component, filearea, itemid, filepath, filename, ch, size, mt, t, sortorder)
        return ch, size

    def courses(self, category_id=None):
        sql = ("SELECT id, category, sortorder, fullname, shortname, idnumber, startdate, enddate, visible,"
               " timemodified FROM {course} WHERE id <> 1")
        if category_id is not None:
            return self.query(sql + " AND category = %s ORDER BY id", (category_id,))
        return self.query(sql + " ORDER BY id")

    def course(self, course_id):
        rows = self.query("SELECT * FROM {course} WHERE id = %s", (course_id,))
        return rows[0] if rows else None

    def course_files(self, course_id, include_dirs=False):
        """files rows of the course context subtree (component backup excluded)."""
        ctx = self.context(CONTEXT_COURSE, course_id)
        if not ctx:
            return []
        sql = ("SELECT f.* FROM {files} f JOIN {context} c ON c.id = f.contextid"
               " WHERE (c.id = %s OR c.path LIKE %s) AND f.component <> 'backup'")
        if not include_dirs:
            sql += " AND f.filename <> '.'"
        return self.query(sql + " ORDER BY f.id", (ctx["id"], ctx["path"] + "/%"))

    def course_estimate(self, course_id):
        """MOODLE.md's estimate: sum of filesize over the DISTINCT contenthash of the course subtree."""
        seen = {}
        for f in self.course_files(course_id):
            seen[f["contenthash"]] = f["filesize"]
        return sum(seen.values())

    def course_counts(self, course_id):
        """(number of sections, number of activities not being deleted)."""
        s = self.query("SELECT COUNT(*) AS n FROM {course_sections} WHERE course = %s", (course_id,))[0]["n"]
        a = self.query("SELECT COUNT(*) AS n FROM {course_modules} WHERE course = %s AND deletioninprogress = 0",
                       (course_id,))[0]["n"]
        return s, a

    # ------------------------------------------------------------ web services
    WS_FUNCTIONS = ("core_webservice_get_site_info", "core_course_get_categories",
                    "core_course_get_courses_by_field", "core_course_get_contents")

    def create_ws_token(self, functions=WS_FUNCTIONS, token=None, service="sessionarchiver"):
        """A permanent web-service token of the admin (user 2) for a service allowing `functions`, as
        Moodle's admin/webservice/tokens.php makes one (tables external_services, external_services_functions,
        external_tokens, created here when missing). Returns the token (32 hex digits unless given).
        Serve the site with `php -S 127.0.0.1:PORT -t site_dir`: webservice/rest/server.php checks it."""
        for sql in (
            "CREATE TABLE IF NOT EXISTS {external_services} (id bigint(10) NOT NULL AUTO_INCREMENT,"
            " name varchar(200) NOT NULL, enabled tinyint(1) NOT NULL DEFAULT 0,"
            " requiredcapability varchar(150) DEFAULT NULL, restrictedusers tinyint(1) NOT NULL DEFAULT 0,"
            " component varchar(100) DEFAULT NULL, timecreated bigint(10) NOT NULL DEFAULT 0,"
            " timemodified bigint(10) DEFAULT NULL, shortname varchar(255) DEFAULT NULL,"
            " downloadfiles tinyint(1) NOT NULL DEFAULT 0, uploadfiles tinyint(1) NOT NULL DEFAULT 0,"
            " PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
            "CREATE TABLE IF NOT EXISTS {external_services_functions} (id bigint(10) NOT NULL AUTO_INCREMENT,"
            " externalserviceid bigint(10) NOT NULL, functionname varchar(200) NOT NULL DEFAULT '',"
            " PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
            "CREATE TABLE IF NOT EXISTS {external_tokens} (id bigint(10) NOT NULL AUTO_INCREMENT,"
            " token varchar(128) NOT NULL DEFAULT '', privatetoken varchar(64) DEFAULT NULL,"
            " tokentype smallint(4) NOT NULL, userid bigint(10) NOT NULL, externalserviceid bigint(10) NOT NULL,"
            " sid varchar(128) DEFAULT NULL, contextid bigint(10) NOT NULL, creatorid bigint(10) NOT NULL DEFAULT 1,"
            " iprestriction varchar(255) DEFAULT NULL, validuntil bigint(10) DEFAULT NULL,"
            " timecreated bigint(10) NOT NULL, lastaccess bigint(10) DEFAULT NULL, name varchar(255) DEFAULT NULL,"
            " PRIMARY KEY (id), KEY token_ix (token)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
            " COLLATE=utf8mb4_unicode_ci"):
            self.query(sql)
        now = int(time.time())
        sid = self.query("INSERT INTO {external_services} (name, enabled, restrictedusers, timecreated, shortname,"
                         " downloadfiles, uploadfiles) VALUES (%s, 1, 0, %s, %s, 0, 0)", (service, now, service))
        for f in functions:
            self.query("INSERT INTO {external_services_functions} (externalserviceid, functionname) VALUES (%s, %s)",
                       (sid, f))
        token = token or secrets.token_hex(16)
        self.query("INSERT INTO {external_tokens} (token, privatetoken, tokentype, userid, externalserviceid,"
                   " contextid, creatorid, timecreated, name) VALUES (%s, %s, 0, 2, %s, 1, 2, %s, %s)",
                   (token, secrets.token_hex(32), sid, now, service))
        return token

    # ------------------------------------------------------------ faults
    @property
    def faults_file(self):
        return os.path.join(self.site_dir, "fakemoodle-faults.json")

    def faults(self):
        try:
            with open(self.faults_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def set_fault(self, course_id, op, mode):
        """op: 'backup' | 'restore' | 'delete'. course_id: the course id ('*' = any course; for restore
        the ORIGINAL course id found in the archive). mode None removes the fault.
        backup: exit1, nofile, hang, die, slow:S, cpu:S
        restore: exception, die-placeholder, die-after-restore, exit1, hang, slow:S, cpu:S
        delete: exit1, hang, die, slow:S, cpu:S"""
        all_ = self.faults()
        key = str(course_id)
        if mode is None:
            all_.get(key, {}).pop(op, None)
        else:
            all_.setdefault(key, {})[op] = mode
        tmp = self.faults_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(all_, f)
        os.replace(tmp, self.faults_file)

    def clear_faults(self):
        try:
            os.unlink(self.faults_file)
        except FileNotFoundError:
            pass

    # ------------------------------------------------------------ running the CLI scripts
    def cli(self, script):
        return os.path.join(self.site_dir, "admin", "cli", script)

    def php(self, script, *args, timeout=120, input=None, **kw):
        """Run `php <site>/admin/cli/<script> args...`; returns CompletedProcess (text)."""
        return subprocess.run(["php", self.cli(script)] + [str(a) for a in args], capture_output=True, text=True,
                              timeout=timeout, input=input, **kw)

    def delete_course(self, course_id, recyclebin=False):
        """Deletes a course the way Moodle's web interface does (course/lib.php loaded, then
        delete_course()), with the recycle bin off unless asked: a clean delete for tests to set
        a scene with, unlike admin/cli/delete_course.php --disablerecyclebin (MOODLE.md).
        Returns the CompletedProcess; raises when PHP fails."""
        code = ("define('CLI_SCRIPT', true); require %s; require_once($CFG->dirroot . '/course/lib.php');"
                " if (!%s) { $CFG->forced_plugin_settings['tool_recyclebin'] ="
                " array('coursebinenable' => 0, 'categorybinenable' => 0); }"
                " $c = $DB->get_record('course', array('id' => %d));"
                " if (!$c) { fwrite(STDERR, 'Course not found'); exit(1); }"
                " delete_course($c, false); fix_course_sortorder();"
                % (_php_str(os.path.join(self.site_dir, "config.php")), "true" if recyclebin else "false",
                   int(course_id)))
        r = subprocess.run(["php", "-r", code], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("delete_course(%d): %s%s" % (course_id, r.stdout, r.stderr))
        return r

    # ------------------------------------------------------------ misc
    def describe(self):
        return {"name": self.name, "site_dir": self.site_dir, "dataroot": self.dataroot, "dbname": self.dbname,
                "dbuser": self.dbuser, "dbpass": self.dbpass, "prefix": self.prefix,
                "siteidentifier": self.siteidentifier, "wwwroot": self.wwwroot, "socket": self.server.socket,
                "config": os.path.join(self.site_dir, "config.php")}

    def destroy(self):
        """Drop the database and user, remove the directories."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        c = self._root_conn()
        try:
            with c.cursor() as cur:
                cur.execute("DROP DATABASE IF EXISTS `%s`" % self.dbname)
                cur.execute("DROP USER IF EXISTS %s@'localhost'", (self.dbuser,))
        finally:
            c.close()
        shutil.rmtree(self.root, ignore_errors=True)


# ---------------------------------------------------------------- data generator
FACULTIES = {
    "Sciences": ["Maths", "Physique", "Chimie", "SVT", "Informatique"],
    "Lettres": ["Français", "Philosophie", "Histoire-Géographie"],
    "Langues": ["Anglais", "Espagnol", "Allemand"],
    "Arts": ["Musique", "Arts plastiques"],
    "Économie & Gestion": ["Économie", "Gestion"],
    "Sport": [],
}


def generate_session(site, session_name="2025-2026", n_categories=12, n_courses=20, file_sizes=(100, 50000),
                     shared_files=True, tricky=True, seed=0, files_per_course=(0, 3)):
    """Build a category tree under a session root category and fill it with courses.

    Returns a dict: session_category (id), categories {"2025-2026/Sciences/Maths": id}, courses [{id,
    shortname, fullname, category, category_path, estimate, files, tags}], tricky {tag: id or [ids]},
    empty_course (id), shared_contents (number of shared content specs used).
    """
    rnd = random.Random(seed)
    cats = {}
    root = site.add_category(session_name, 0, idnumber=session_name)
    cats[session_name] = root
    order = [(fac, None) for fac in FACULTIES]
    for k in range(max(len(v) for v in FACULTIES.values())):
        for fac, subs in FACULTIES.items():
            if k < len(subs):
                order.append((subs[k], fac))
    made = 0
    for name, parent in order:
        if made >= n_categories:
            break
        if parent is None:
            cats["%s/%s" % (session_name, name)] = site.add_category(name, root)
        elif "%s/%s" % (session_name, parent) in cats:
            cats["%s/%s/%s" % (session_name, parent, name)] = site.add_category(
                name, cats["%s/%s" % (session_name, parent)])
        else:
            continue
        made += 1
    paths = list(cats)
    leafs = [p for p in paths if not any(q.startswith(p + "/") for q in paths)] or paths
    shared = [dict(size=rnd.randint(*file_sizes), kind=rnd.choice(["random", "text"]),
                   seed=("shared", seed, session_name, i)) for i in range(3)] if shared_files else []
    courses = []
    tags = {}

    def mk(shortname, fullname, catpath, files, tag=None, activities=()):
        cid = site.add_course(cats[catpath], shortname, fullname, files=files, activities=activities)
        info = {"id": cid, "shortname": shortname, "fullname": fullname, "category": cats[catpath],
                "category_path": catpath, "files": [f[0] for f in files], "estimate": site.course_estimate(cid),
                "tags": [tag] if tag else []}
        courses.append(info)
        if tag:
            if tag in tags:
                tags[tag] = tags[tag] if isinstance(tags[tag], list) else [tags[tag]]
                tags[tag].append(cid)
            else:
                tags[tag] = cid
        return cid

    year = session_name.split("-")[-1]
    n_tricky = 9 if tricky else 0
    for i in range(max(0, n_courses - n_tricky)):
        catpath = leafs[i % len(leafs)]
        subj = catpath.split("/")[-1]
        short = "%s-%03d-%s" % (re.sub(r"[^A-Z]", "", subj.upper())[:4] or "CRS", i + 1, year)
        nfiles = rnd.randint(*files_per_course)
        files = []
        for j in range(nfiles):
            if shared and rnd.random() < 0.3:
                files.append(("partage-%d.dat" % shared.index(rnd.choice(shared)), rnd.choice(shared)))
            else:
                files.append(("doc-%d-%d.%s" % (i + 1, j + 1, rnd.choice(["txt", "bin", "pdf"])),
                              dict(size=rnd.randint(*file_sizes), kind=rnd.choice(["random", "text"]),
                                   seed=("f", seed, session_name, i, j))))
        # de-duplicate names inside one course
        seen = set()
        files = [f for f in files if not (f[0] in seen or seen.add(f[0]))]
        mk(short, "%s %d (%s)" % (subj, i + 1, session_name), catpath, files,
           activities=rnd.sample(["page", "forum", "label", "assign", "url"], rnd.randint(0, 2)))
    if tricky:
        sci = "%s/Sciences" % session_name if "%s/Sciences" % session_name in cats else session_name
        let = "%s/Lettres" % session_name if "%s/Lettres" % session_name in cats else session_name
        sz = lambda k: dict(size=rnd.randint(*file_sizes), kind="text", seed=("t", seed, session_name, k))
        same = dict(size=max(file_sizes[0], 1000), kind="text", seed=("same", seed, session_name))
        mk("PHY/CHIM-%s" % year, "Physique/Chimie %s" % year, sci,
           [("poly-été.txt", sz(1)), ("annexes/données.bin", dict(size=rnd.randint(*file_sizes), seed=("t2", seed))),
            ("copie1.txt", same, "Dossier ressources"), ("copie2.txt", same, "Dossier ressources")], "slash")
        mk('HIST "Moderne" & Géo %s' % year, 'Histoire "moderne" & Géographie <b>', let,
           [], "html", activities=[{"mod": "label", "name": 'Étiquette "citation" & co'}])
        mk("Éco-Gestion été %s" % year, "Économie et gestion — été %s" % year, session_name,
           [("résumé.txt", sz(3))], "accent")
        mk("L'anglais d'aujourd'hui %s" % year, "L'anglais d'aujourd'hui", session_name,
           [("vocab.txt", sz(4))], "quote")
        long_short = ("LONG-%s-" % year + "x" * 250)[:250]
        mk(long_short, "Cours au nom court très long", session_name, [("long.txt", sz(5))], "long")
        mk(".cache-%s" % year, "Cours qui commence par un point", session_name, [("point.txt", sz(6))], "dot")
        mk("A/B-%s" % year, "Cours A/B", session_name, [("ab1.txt", sz(7))], "collide")
        mk("AB-%s" % year, "Cours AB", session_name, [("ab2.txt", sz(8))], "collide")
        mk("VIDE-%s" % year, "Cours vide %s" % year, session_name, [], "empty")
    return {"session": session_name, "session_category": root, "categories": cats, "courses": courses,
            "tricky": tags, "empty_course": tags.get("empty"), "shared_contents": len(shared)}


# ---------------------------------------------------------------- CLI
def main(argv=None):
    ap = argparse.ArgumentParser(description="Create a fake Moodle site")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create")
    c.add_argument("--socket", required=True)
    c.add_argument("--root", required=True)
    c.add_argument("--name", required=True)
    c.add_argument("--prefix", default="mdl_")
    c.add_argument("--wwwroot")
    c.add_argument("--session")
    c.add_argument("--courses", type=int, default=20)
    c.add_argument("--categories", type=int, default=8)
    c.add_argument("--min-size", type=int, default=100)
    c.add_argument("--max-size", type=int, default=50000)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--no-tricky", action="store_true")
    a = ap.parse_args(argv)
    site = FakeSite.create(a.socket, a.root, a.name, prefix=a.prefix, wwwroot=a.wwwroot)
    out = site.describe()
    if a.session:
        out["session"] = generate_session(site, a.session, n_categories=a.categories, n_courses=a.courses,
                                          file_sizes=(a.min_size, a.max_size), tricky=not a.no_tricky, seed=a.seed)
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
