"""A throw-away PostgreSQL server for the integration tests, and the fake
Moodle site's database copied onto it.

Python API::

    pg = PostgreSQL()          # a private folder under /tmp, nothing runs yet
    pg.start()                 # initdb + pg_ctl start on a private socket folder
    conn = pg.connect("mydb")  # psycopg2 connection, as the superuser
    pg.create_user("u", "pw"); pg.create_database("x", owner="u")
    pg.stop(); pg.kill()       # pg_ctl stop -m fast; SIGKILL the postmaster

    copy_site(site, pg, prefix=None)  # FakeSite (MariaDB) -> a PostgreSQL copy

The server runs as the system user postgres when started by root (initdb
refuses root), listens on no TCP port, only on the socket folder
(.s.PGSQL.5432 in pg.socket_dir), trusts the superuser on that socket and
asks every other user for its password (scram-sha-256), as a real site
does. Debian's postgresql package provides initdb and pg_ctl under
/usr/lib/postgresql/VERSION/bin.

pytest: the session fixture ``postgres`` yields a started server and always
stops it; it skips (with a reason) when PostgreSQL or psycopg2 is missing.
"""

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

try:
    import psycopg2
except ImportError:  # pragma: no cover - reported by the fixture
    psycopg2 = None

from pgschema import pg_schema

PORT = 5432


def find_bin(prog):
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/" + prog))
    return found[-1] if found else shutil.which(prog)


class PostgreSQLError(RuntimeError):
    pass


class PostgreSQL:
    START_TIMEOUT = 60
    kind = "postgresql"  # FakeSite makes its database here in PostgreSQL's layout

    def __init__(self):
        self.basedir = tempfile.mkdtemp(prefix="sa-pg-")
        self.datadir = os.path.join(self.basedir, "data")
        self.socket_dir = os.path.join(self.basedir, "run")
        self.socket = self.socket_dir  # what FakeSite's config.php names
        self.log = os.path.join(self.basedir, "server.log")
        self.as_user = None
        if os.geteuid() == 0:
            self.as_user = "postgres"
            pw = pwd.getpwnam("postgres")
            os.chmod(self.basedir, 0o755)
            os.chown(self.basedir, pw.pw_uid, pw.pw_gid)

    def _run(self, *argv, check=True):
        cmd = list(argv)
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--"] + cmd
        r = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, cwd=self.basedir)
        if check and r.returncode != 0:
            raise PostgreSQLError("%s failed (%d):\n%s" % (
                " ".join(argv), r.returncode,
                r.stdout.decode(errors="replace")))
        return r

    def start(self):
        if not os.path.isdir(self.datadir):
            self._run(find_bin("initdb"), "-D", self.datadir, "-U",
                      "postgres", "-E", "UTF8", "--locale=C.UTF-8",
                      "--auth-local=trust", "--auth-host=reject")
            with open(os.path.join(self.datadir, "pg_hba.conf"), "w") as f:
                f.write("local all postgres trust\n"
                        "local all all scram-sha-256\n")
            if self.as_user:
                pw = pwd.getpwnam(self.as_user)
                os.chown(os.path.join(self.datadir, "pg_hba.conf"),
                         pw.pw_uid, pw.pw_gid)
            self._run("mkdir", "-p", self.socket_dir)
        opts = ("-k %s -c listen_addresses='' -p %d -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off "
                "-c shared_buffers=32MB -c max_connections=100"
                % (self.socket_dir, PORT))
        r = self._run(find_bin("pg_ctl"), "-D", self.datadir, "-l", self.log,
                      "-w", "-t", str(self.START_TIMEOUT), "-o", opts,
                      "start", check=False)
        if r.returncode != 0:
            raise PostgreSQLError("pg_ctl start failed:\n%s\n%s" % (
                r.stdout.decode(errors="replace"), self.server_log()))
        return self

    def server_log(self, tail=4000):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-tail:]
        except OSError:
            return "(no server log)"

    def stop(self):
        if os.path.exists(os.path.join(self.datadir, "postmaster.pid")):
            self._run(find_bin("pg_ctl"), "-D", self.datadir, "-m", "fast",
                      "-w", "stop", check=False)

    def kill(self):
        """SIGKILL the postmaster, as a crash would; start() recovers."""
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as f:
                pid = int(f.readline())
        except (OSError, ValueError):
            return
        os.kill(pid, signal.SIGKILL)
        for _ in range(200):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)

    def destroy(self):
        self.stop()
        shutil.rmtree(self.basedir, ignore_errors=True)

    # ------------------------------------------------------------------ SQL
    def connect(self, db="postgres", user="postgres", password=None):
        conn = psycopg2.connect(host=self.socket_dir, port=PORT, user=user,
                                password=password, dbname=db,
                                connect_timeout=5)
        conn.autocommit = True
        return conn

    def execute(self, sql, args=None, db="postgres"):
        conn = self.connect(db)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def create_user(self, user, password):
        self.execute('CREATE USER "%s" PASSWORD %%s' % user, (password,))

    def create_database(self, name, owner):
        self.execute('CREATE DATABASE "%s" OWNER "%s" ENCODING \'UTF8\''
                     % (name, owner))


def copy_site(site, pg, prefix=None, name=None):
    """The fake site's database (MariaDB) copied onto pg: a database and a
    user of their own, the schema of pg_schema(), every row, the id
    sequences moved past the rows. Returns {dbname, dbuser, dbpass,
    prefix}."""
    prefix = prefix or site.prefix
    name = name or ("fmpg_" + site.name)[:60].lower()
    password = "pw-" + os.urandom(6).hex()
    pg.create_user(name, password)
    pg.create_database(name, owner=name)
    conn = pg.connect(name, user=name, password=password)
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            for stmt in pg_schema(prefix):
                cur.execute(stmt)
            tables = [t for t in (list(r.values())[0]
                                  for r in site.query("SHOW TABLES"))
                      if t.startswith(site.prefix)]
            for t in tables:
                short = t[len(site.prefix):]
                rows = site.query("SELECT * FROM {%s}" % short)
                if not rows:
                    continue
                cols = list(rows[0])
                cur.executemany(
                    "INSERT INTO %s%s (%s) VALUES (%s)" % (
                        prefix, short, ", ".join(cols),
                        ", ".join(["%s"] * len(cols))),
                    [tuple(r[c] for c in cols) for r in rows])
                cur.execute("SELECT setval(pg_get_serial_sequence(%%s, 'id'),"
                            " (SELECT COALESCE(MAX(id), 0) + 1 FROM %s%s),"
                            " false)" % (prefix, short), (prefix + short,))
        conn.commit()
    finally:
        conn.close()
    return {"dbname": name, "dbuser": name, "dbpass": password,
            "prefix": prefix}


# ---------------------------------------------------------------------- pytest
try:
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:
    @pytest.fixture(scope="session")
    def postgres():
        if not find_bin("initdb") or not find_bin("pg_ctl"):
            pytest.skip("PostgreSQL is not installed (apt-get install "
                        "postgresql)")
        if psycopg2 is None:
            pytest.skip("psycopg2 is not installed (python3-psycopg2)")
        pg = PostgreSQL()
        try:
            pg.start()
            yield pg
        finally:
            pg.destroy()

    @pytest.fixture(params=["mariadb", "postgresql"])
    def moodle_server(request):
        """The database server of the fake sites, each test run on both:
        the session's MariaDB, then its PostgreSQL."""
        return request.getfixturevalue(
            "mariadb" if request.param == "mariadb" else "postgres")
