"""A throw-away MariaDB server for the integration tests.

Python API::

    db = MariaDB(basedir)      # nothing happens yet
    db.start()                 # mariadb-install-db + mariadbd, waits for the socket
    conn = db.connect("mydb")  # pymysql connection, root over the unix socket
    db.create_database("x"); db.create_user("u", "pw", "x")
    db.stop()                  # SIGTERM, wait, SIGKILL after a timeout
    db.kill()                  # SIGKILL now: a crash; start() recovers

pytest: the session fixture ``mariadb`` (enable with
``pytest_plugins = ["harness.mariadb"]``) yields a started MariaDB and always
stops it; ``own_mariadb`` is one test's own, to kill.  They skip (with a
reason) when mariadbd is not installed.

Command line (for demo scripts)::

    /usr/bin/python3 tests/integration/harness/mariadb.py start DIR   # prints the socket path
    /usr/bin/python3 tests/integration/harness/mariadb.py stop DIR
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

try:
    import pymysql
except ImportError:  # pragma: no cover - reported by the fixture
    pymysql = None

SOCKET_PATH_MAX = 100  # sun_path is 108 bytes including the NUL


def _find(prog, extra=("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")):
    p = shutil.which(prog)
    if p:
        return p
    for d in extra:
        cand = os.path.join(d, prog)
        if os.access(cand, os.X_OK):
            return cand
    return None


def find_mariadbd():
    return _find("mariadbd") or _find("mysqld")


def find_install_db():
    return _find("mariadb-install-db") or _find("mysql_install_db")


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours still "exists": check /proc state
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            return False
    except OSError:
        return False
    return True


class MariaDBError(RuntimeError):
    pass


class MariaDB:
    """One private mariadbd instance living in ``basedir``."""

    START_TIMEOUT = 60.0
    STOP_TIMEOUT = 30.0

    def __init__(self, basedir):
        self.basedir = os.path.abspath(str(basedir))
        self.datadir = os.path.join(self.basedir, "data")
        self.pidfile = os.path.join(self.basedir, "mariadbd.pid")
        self.errlog = os.path.join(self.basedir, "mariadbd.err")
        self.sockfile = os.path.join(self.basedir, "socket.path")  # records the socket path
        self.proc = None
        self.pid = None
        self._sockdir = None
        self.socket = self._choose_socket()

    # ------------------------------------------------------------------ paths
    def _choose_socket(self):
        if os.path.exists(self.sockfile):
            with open(self.sockfile) as f:
                s = f.read().strip()
            if s:
                return s
        cand = os.path.join(self.basedir, "my.sock")
        if len(cand.encode()) <= SOCKET_PATH_MAX:
            return cand
        self._sockdir = tempfile.mkdtemp(prefix="mdb", dir="/tmp")
        return os.path.join(self._sockdir, "s")

    # ------------------------------------------------------------------ start
    def _install(self):
        if os.path.isdir(os.path.join(self.datadir, "mysql")):
            return
        os.makedirs(self.datadir, exist_ok=True)
        inst = find_install_db()
        if not inst:
            raise MariaDBError("mariadb-install-db not found")
        cmd = [inst, "--no-defaults", "--user=root", "--datadir=" + self.datadir,
               "--auth-root-authentication-method=socket", "--skip-test-db"]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=self.basedir)
        if r.returncode != 0:
            raise MariaDBError("mariadb-install-db failed (%d):\n%s"
                               % (r.returncode, r.stdout.decode(errors="replace")))

    def server_command(self):
        return [
            find_mariadbd(), "--no-defaults", "--user=root",
            "--datadir=" + self.datadir, "--socket=" + self.socket,
            "--skip-networking", "--pid-file=" + self.pidfile,
            "--log-error=" + self.errlog,
            "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M",
            "--innodb-log-buffer-size=1M", "--key-buffer-size=1M",
            "--innodb-flush-log-at-trx-commit=2", "--innodb-doublewrite=0",
            "--innodb-use-native-aio=0", "--performance-schema=OFF",
            "--skip-name-resolve", "--max-connections=200",
            "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
            "--max-allowed-packet=64M",
        ]

    def start(self, detach=False):
        if not find_mariadbd():
            raise MariaDBError("mariadbd not installed")
        if pymysql is None:
            raise MariaDBError("pymysql not installed")
        os.makedirs(self.basedir, exist_ok=True)
        self._install()
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        with open(self.sockfile, "w") as f:
            f.write(self.socket + "\n")
        kw = {}
        if detach:
            kw["start_new_session"] = True
        self.proc = subprocess.Popen(self.server_command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     cwd=self.basedir, **kw)
        self.pid = self.proc.pid
        deadline = time.monotonic() + self.START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise MariaDBError("mariadbd exited with %s during start-up; error log:\n%s"
                                   % (self.proc.returncode, self.error_log()))
            if os.path.exists(self.socket):
                try:
                    self.connect().close()
                    return self
                except Exception as e:  # not ready yet
                    last = e
            time.sleep(0.1)
        self.stop()
        raise MariaDBError("mariadbd not ready after %.0f s (%s); error log:\n%s"
                           % (self.START_TIMEOUT, last, self.error_log()))

    def error_log(self, tail=4000):
        try:
            with open(self.errlog, errors="replace") as f:
                return f.read()[-tail:]
        except OSError:
            return "(no error log)"

    # ------------------------------------------------------------------ stop
    def _read_pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        pid = self.pid or self._read_pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + self.STOP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc is not None:
                if self.proc.poll() is not None:
                    break
            elif not _pid_alive(pid):
                break
            time.sleep(0.05)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if self.proc is not None:
                self.proc.wait(10)
            else:
                for _ in range(200):
                    if not _pid_alive(pid):
                        break
                    time.sleep(0.05)
        self.proc = None
        self.pid = None
        if self._sockdir:
            shutil.rmtree(self._sockdir, ignore_errors=True)

    def kill(self):
        """SIGKILL, as the OOM killer or a crash would: start() again
        recovers the same data."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait(10)
        self.proc = None
        self.pid = None

    # ------------------------------------------------------------------ SQL
    def connect(self, db=None, **kw):
        args = dict(unix_socket=self.socket, user="root", charset="utf8mb4",
                    autocommit=True, connect_timeout=5)
        if db:
            args["database"] = db
        args.update(kw)
        return pymysql.connect(**args)

    def execute(self, sql, args=None, db=None):
        conn = self.connect(db)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall()
        finally:
            conn.close()

    def create_database(self, name):
        self.execute("CREATE DATABASE `%s` DEFAULT CHARACTER SET utf8mb4 "
                     "COLLATE utf8mb4_unicode_ci" % name.replace("`", "``"))

    def drop_database(self, name):
        self.execute("DROP DATABASE IF EXISTS `%s`" % name.replace("`", "``"))

    def create_user(self, user, password, db):
        self.execute("CREATE USER %s@'localhost' IDENTIFIED BY %s", (user, password))
        self.execute("GRANT ALL PRIVILEGES ON `%s`.* TO %%s@'localhost'"
                     % db.replace("`", "``"), (user,))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------- pytest
try:
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:
    @pytest.fixture(scope="session")
    def mariadb():
        if not find_mariadbd():
            pytest.skip("mariadbd is not installed (apt-get install mariadb-server)")
        if not find_install_db():
            pytest.skip("mariadb-install-db is not installed")
        if pymysql is None:
            pytest.skip("pymysql is not installed (python3-pymysql)")
        yield from _throwaway_server("mdbt")

    @pytest.fixture
    def own_mariadb(mariadb):
        """A MariaDB of one test's own, which it may kill and start
        again (the session's server is asked for only for its skips)."""
        yield from _throwaway_server("mdbo")


def _throwaway_server(prefix):
    """A started server in a new short /tmp folder (the socket stays
    inside it, so a restart finds it), stopped and removed after."""
    base = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    server = MariaDB(base)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------------- CLI
def main(argv):
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        sys.stderr.write("usage: mariadb.py start|stop DIR\n")
        return 2
    server = MariaDB(argv[2])
    if argv[1] == "start":
        pid = server._read_pid()
        if pid and _pid_alive(pid):
            print(server.socket)
            return 0
        server.start(detach=True)
        print(server.socket)
        return 0
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
