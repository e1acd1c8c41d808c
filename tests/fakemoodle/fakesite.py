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

One module per part of the site, as sessionarchiver's moodle/ has one file
per way of reaching Moodle: site_database.py (the SQL backend's tables),
site_files.py (the file pool), site_webservice.py (web-service tokens),
site_cli.py (the PHP scripts and their faults), session_generator.py.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import string
import sys

from session_generator import generate_session
from site_cli import SiteCli, _php_str
from site_database import SiteDatabase, _SocketServer
from site_files import SiteFiles
from site_webservice import SiteWebService

__all__ = ["FakeSite", "generate_session", "_SocketServer"]

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "site")


class FakeSite(SiteDatabase, SiteFiles, SiteWebService, SiteCli):
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

    def _create_files(self):
        shutil.copytree(TEMPLATE, self.site_dir)   # a copy: PHP resolves __DIR__ through symlinks
        for d in ("filedir", "temp", "temp/backup", "trashdir", "cache", "localcache", "sessions"):
            os.makedirs(os.path.join(self.dataroot, d), exist_ok=True)
        opts = ("array (\n  'dbpersist' => 0,\n  'dbport' => '',\n  'dbsocket' => %s,\n"
                "  'dbcollation' => 'utf8mb4_unicode_ci',\n)" % _php_str(self.server.socket))
        cfg = (
            "<?php  // Moodle configuration file\n\n"
            "unset($CFG);\nglobal $CFG;\n$CFG = new stdClass();\n\n"
            "$CFG->dbtype    = %s;\n"
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
        ) % (_php_str("pgsql" if self.postgresql else "mariadb"),
             _php_str(self.dbname), _php_str(self.dbuser), _php_str(self.dbpass), _php_str(self.prefix),
             opts, _php_str(self.wwwroot), _php_str(self.dataroot))
        with open(os.path.join(self.site_dir, "config.php"), "w", encoding="utf-8") as f:
            f.write(cfg)
        with open(os.path.join(self.root, "site.json"), "w") as f:
            json.dump(self.describe(), f, indent=1)

    # ------------------------------------------------------------ misc
    def describe(self):
        return {"name": self.name, "site_dir": self.site_dir, "dataroot": self.dataroot, "dbname": self.dbname,
                "dbuser": self.dbuser, "dbpass": self.dbpass, "prefix": self.prefix,
                "siteidentifier": self.siteidentifier, "wwwroot": self.wwwroot, "socket": self.server.socket,
                "config": os.path.join(self.site_dir, "config.php")}

    def destroy(self):
        """Drop the database and user, remove the directories."""
        self._drop_database()
        shutil.rmtree(self.root, ignore_errors=True)


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
