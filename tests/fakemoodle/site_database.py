"""The fake site's database: Moodle 4.5.6's tables (schema.sql) on MariaDB,
or on PostgreSQL in Moodle's PostgreSQL layout (when the server given is a
tests/integration/harness/postgres.py PostgreSQL, whose kind is
"postgresql"), the rows a fresh install has, and the category, context and
course rows Moodle's APIs write. sessionarchiver's SQL backend
(moodle/db.c) reads them."""

import os
import re
import time

import pymysql

from pgschema import pg_ddl, pg_schema

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema.sql")

RELEASE = "4.5.6 (Build: 20250811)"
VERSION = "2024100706"
MODULES = ["assign", "assignment", "book", "chat", "choice", "data", "feedback", "folder", "forum",
           "glossary", "h5pactivity", "imscp", "label", "lesson", "lti", "page", "qbank", "quiz",
           "resource", "scorm", "survey", "url", "wiki", "workshop"]
# modules with an instance table in schema.sql
INSTANCE_TABLES = {"assign", "folder", "forum", "label", "page", "quiz", "resource", "url"}

CONTEXT_SYSTEM, CONTEXT_COURSECAT, CONTEXT_COURSE, CONTEXT_MODULE = 10, 40, 50, 70


class _SocketServer:
    """Minimal stand-in for harness.mariadb.MariaDB when only a socket path is known."""

    def __init__(self, socket):
        self.socket = socket

    def connect(self, db=None):
        kw = dict(unix_socket=self.socket, user="root", charset="utf8mb4", autocommit=True)
        if db:
            kw["database"] = db
        return pymysql.connect(**kw)


class SiteDatabase:
    """FakeSite's database half: needs server, prefix, dbname, dbuser, dbpass,
    siteidentifier, wwwroot and _conn (see FakeSite.__init__)."""

    @property
    def postgresql(self):
        return getattr(self.server, "kind", "mariadb") == "postgresql"

    def _root_conn(self, db=None):
        return self.server.connect(db)

    def _create_db(self):
        if self.postgresql:
            self.server.create_user(self.dbuser, self.dbpass)
            self.server.create_database(self.dbname, owner=self.dbuser)
            with self.conn.cursor() as cur:
                for stmt in pg_schema(self.prefix):
                    cur.execute(stmt)
            return
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
        if self.postgresql:
            if self._conn is None or self._conn.closed:
                # the site's own account: what it makes, the site's PHP may write
                self._conn = self.server.connect(self.dbname, user=self.dbuser, password=self.dbpass)
            return self._conn
        if self._conn is None or not self._conn.open:
            self._conn = self.server.connect(self.dbname)
        return self._conn

    def _fix(self, sql):
        q = '"' if self.postgresql else "`"
        return re.sub(r"\{([a-z][a-z0-9_]*)\}", lambda m: "%s%s%s%s" % (q, self.prefix, m.group(1), q), sql)

    def ddl(self, sql):
        """A CREATE TABLE written for MySQL on one line, for this site's server."""
        return pg_ddl(sql) if self.postgresql else sql

    def query(self, sql, args=None):
        """Run SQL on the site DB (root connection on MariaDB, the site's account on PostgreSQL).
        `{table}` becomes the prefixed table name. Returns a list of dicts for SELECTs, else the id
        of the row an INSERT made (lastrowid)."""
        if self.postgresql:
            return self._pg_query(sql, args)
        self.conn.ping(reconnect=True)
        with self.conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute(self._fix(sql), args)
            if cur.description:
                return list(cur.fetchall())
            return cur.lastrowid

    def _pg_query(self, sql, args):
        import psycopg2.extras
        insert = re.match(r"\s*INSERT INTO \{([a-z0-9_]+)\} \(([^)]*)\)", sql)
        text = self._fix(sql)
        if insert and not re.search(r"\bRETURNING\b", sql):
            text += " RETURNING id"
        with self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(text, args)
            rows = list(cur.fetchall()) if cur.description else None
            if insert and re.match(r"\s*id\s*,", insert.group(2)):
                # an id given: the sequence moves past it, as MariaDB's AUTO_INCREMENT does
                cur.execute("SELECT setval(pg_get_serial_sequence(%%s, 'id'), (SELECT MAX(id) FROM %s))"
                            % self._fix("{%s}" % insert.group(1)), (self.prefix + insert.group(1),))
        if insert:
            return rows[0]["id"]
        return [dict(r) for r in rows] if rows is not None else None

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

    def courses(self, category_id=None):
        sql = ("SELECT id, category, sortorder, fullname, shortname, idnumber, startdate, enddate, visible,"
               " timemodified FROM {course} WHERE id <> 1")
        if category_id is not None:
            return self.query(sql + " AND category = %s ORDER BY id", (category_id,))
        return self.query(sql + " ORDER BY id")

    def course(self, course_id):
        rows = self.query("SELECT * FROM {course} WHERE id = %s", (course_id,))
        return rows[0] if rows else None

    def course_counts(self, course_id):
        """(number of sections, number of activities not being deleted)."""
        s = self.query("SELECT COUNT(*) AS n FROM {course_sections} WHERE course = %s", (course_id,))[0]["n"]
        a = self.query("SELECT COUNT(*) AS n FROM {course_modules} WHERE course = %s AND deletioninprogress = 0",
                       (course_id,))[0]["n"]
        return s, a

    def _drop_database(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self.postgresql:
            self.server.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % self.dbname)
            self.server.execute('DROP USER IF EXISTS "%s"' % self.dbuser)
            return
        c = self._root_conn()
        try:
            with c.cursor() as cur:
                cur.execute("DROP DATABASE IF EXISTS `%s`" % self.dbname)
                cur.execute("DROP USER IF EXISTS %s@'localhost'", (self.dbuser,))
        finally:
            c.close()
