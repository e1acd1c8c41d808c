"""sessionarchiver doctor: a healthy setup (two fake Moodle sites on the
real-MariaDB fixture, a store, an index, an SMTP server, a fake web service)
passes; each broken piece FAILs with its hint and exit 1.

Not simulated: an absent /dev/fuse (it cannot be hidden safely from a test
running as root) and an unwritable store (root writes anywhere).

Run: SA_BUILD=/work/main/build/asan /usr/bin/python3 -m pytest -q tests/integration/test_doctor.py
"""

import http.server
import json
import os
import pathlib
import re
import shutil
import sqlite3
import stat
import threading
import time
import urllib.parse

import pytest

from fakesite import FakeSite
from harness.build import run_cli
from harness.platforms import PHP, needs_php, write_config, write_private

TOKEN = "0123456789abcdef0123456789abcdef"

pytestmark = needs_php


def fuse_ready():
    try:
        return (stat.S_ISCHR(os.stat("/dev/fuse").st_mode)
                and shutil.which("fusermount3") is not None)
    except OSError:
        return False


def tool_version():
    return run_cli("--version", check=0).stdout.split()[1]


# ------------------------------------------------------------------ helpers
def doctor(conf=None, *args, check=None, env=None):
    """Runs doctor --json; returns (exit code, {name: check}, process)."""
    cmd = ["doctor", "--json", *args]
    if conf is not None:
        cmd = ["-c", conf] + cmd
    proc = run_cli(*cmd, env=env)
    out = json.loads(proc.stdout)
    assert set(out) == {"ok", "checks"}
    checks = {}
    for c in out["checks"]:
        assert set(c) == {"name", "status", "detail", "hint"}, c
        assert c["status"] in ("OK", "WARN", "FAIL"), c
        assert c["name"] not in checks, f"check {c['name']} twice"
        if c["status"] != "OK":
            assert c["hint"], f"{c['name']} has no hint"
        checks[c["name"]] = c
    assert out["ok"] == (proc.returncode == 0)
    assert proc.returncode in (0, 1), proc.stderr
    assert out["ok"] == all(c["status"] != "FAIL" for c in out["checks"])
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout,
                                          proc.stderr)
    return proc.returncode, checks, proc


def failing(checks):
    return {n for n, c in checks.items() if c["status"] == "FAIL"}


# what core_webservice_get_site_info must list for the tool's reads
WS_FUNCTIONS = ["core_webservice_get_site_info", "core_course_get_categories",
                "core_course_get_courses_by_field", "core_course_get_contents"]


class FakeWebService:
    """Moodle's webservice/rest/server.php for core_webservice_get_site_info:
    the site's info for TOKEN (its service's functions: self.functions),
    Moodle's invalidtoken error otherwise."""

    def __init__(self):
        self.requests = []
        self.functions = list(WS_FUNCTIONS)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                form = urllib.parse.parse_qs(self.rfile.read(n).decode())
                outer.requests.append((self.path, form))
                if (self.path != "/moodle/webservice/rest/server.php"
                        or form.get("wsfunction") !=
                        ["core_webservice_get_site_info"]):
                    body = {"exception": "moodle_exception",
                            "errorcode": "invalidrecord",
                            "message": "Can't find data record"}
                elif form.get("wstoken") != [TOKEN]:
                    body = {"exception": "moodle_exception",
                            "errorcode": "invalidtoken",
                            "message": "Invalid token - token not found"}
                else:
                    body = {"sitename": "Fake Moodle", "username": "wsuser",
                            "release": "4.5.6 (Build: 20250811)",
                            "version": "2024100706",
                            "functions": [{"name": f, "version": "2024100706"}
                                          for f in outer.functions]}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     Handler)
        self.url = "http://127.0.0.1:%d/moodle" % self.httpd.server_port
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def webservice():
    ws = FakeWebService()
    yield ws
    ws.stop()


# ------------------------------------------------------------------ sites
@pytest.fixture(scope="module")
def sites_root(tmp_path_factory):
    return tmp_path_factory.mktemp("doc")


@pytest.fixture(scope="module")
def src(mariadb, sites_root):
    s = FakeSite.create(mariadb, sites_root, "doc_src")
    yield s
    s.destroy()


@pytest.fixture(scope="module")
def arc(mariadb, sites_root):
    s = FakeSite.create(mariadb, sites_root, "doc_arc")
    yield s
    s.destroy()


class Setup:
    """A store, its index, and a configuration naming both sites."""

    def __init__(self, tmp_path, src, arc):
        self.tmp = tmp_path
        self.src, self.arc = src, arc
        self.store = tmp_path / "store"
        self.index = tmp_path / "index.db"
        run_cli("init", "--store", self.store, check=0)
        run_cli("index", "--store", self.store, "--index", self.index,
                check=0)
        for site in (src, arc):
            let_nobody_in(site)
        self.source = {"moodle": src.site_dir, "php": PHP, "user": "nobody"}
        self.archive = {"moodle": arc.site_dir, "php": PHP, "user": "nobody"}
        self.mail = None
        self.mode = 0o600

    def write(self, name="sa.conf"):
        path = write_config(self.tmp / name, {
            "store": {"path": self.store, "index": self.index},
            "source": self.source, "archive": self.archive,
            "mail": self.mail})
        os.chmod(path, self.mode)
        return path

    def add_session(self, version, name="2025-2026"):
        meta = self.store / name / ".session"
        meta.mkdir(parents=True)
        line = {"v": 1, "time": 1, "source_course_id": 2,
                "file": "M.mbz", "sha256": "0" * 64, "size": 1,
                "shortname": "M", "fullname": "M", "category_path": "",
                "site_hash": "x", "tool_version": version}
        (meta / "manifest.jsonl").write_text(json.dumps(line) + "\n")


def let_nobody_in(site):
    """Lets user nobody (the configured user) reach the site as a web
    server's user does: the folders on the way, the code read-only, the
    dataroot read-write, MariaDB's socket."""
    socket_dir = os.path.dirname(site.server.socket)
    for path in (site.site_dir, site.dataroot, socket_dir):
        p = pathlib.Path(path)
        for d in (p, *p.parents):
            d.chmod(d.stat().st_mode | 0o001)
    for top, extra in ((site.site_dir, 0o005), (site.dataroot, 0o007)):
        for root, dirs, files in os.walk(top):
            os.chmod(root, os.stat(root).st_mode | extra)
            for f in files:
                f = os.path.join(root, f)
                os.chmod(f, os.stat(f).st_mode | (extra & 0o006))


@pytest.fixture
def setup(tmp_path, src, arc):
    return Setup(tmp_path, src, arc)


# ------------------------------------------------------------------ healthy
def test_healthy(setup, smtp_server, webservice):
    setup.mail = {"url": smtp_server.url, "from": "sa@example.org",
                  "to": "admins@example.org", "starttls": "no"}
    write_private(setup.tmp / "ws.token", TOKEN)
    setup.source.update(url=webservice.url,
                        token_file=setup.tmp / "ws.token")
    setup.add_session(tool_version())
    conf = setup.write()
    rc, checks, proc = doctor(conf)
    want = {"config", "config.permissions", "store", "store.writable",
            "store.space", "index", "store.tool_versions",
            "source.config_php", "source.php", "source.database",
            "source.moodle", "source.bridge_worker", "source.cli_scripts",
            "source.user", "source.webservice", "archive.config_php",
            "archive.php", "archive.database", "archive.moodle",
            "archive.bridge_worker", "archive.cli_scripts", "archive.user",
            "platforms.moodle_version", "window", "mail", "fuse.device",
            "fuse.fusermount3"}
    assert set(checks) == want
    for name, c in checks.items():
        if name == "store.space" and c["status"] == "WARN":
            assert "free" in c["detail"]  # the test machine's disk
            continue
        if name.startswith("fuse.") and not fuse_ready():
            assert c["status"] == "FAIL"
            continue
        assert c["status"] == "OK", c
    assert rc == (0 if fuse_ready() else 1)
    assert "4.5.6 (Build: 20250811)" in checks["source.moodle"]["detail"]
    assert "2024100706" in checks["platforms.moodle_version"]["detail"]
    assert "PHP 8" in checks["source.php"]["detail"]
    assert "'nobody'" in checks["source.user"]["detail"]
    assert "wsuser" in checks["source.webservice"]["detail"]
    assert re.search(r"set-up took \d+\.\d\d s",
                     checks["archive.bridge_worker"]["detail"])
    assert webservice.requests[0][1]["wstoken"] == [TOKEN]
    # connect + EHLO only: no mail without --send-test-mail
    assert smtp_server.messages == []
    assert TOKEN not in proc.stdout + proc.stderr
    assert setup.src.dbpass not in proc.stdout + proc.stderr
    # the store is left as it was
    assert os.listdir(setup.store / ".sessionarchiver") == ["store.ini"]


def test_text_output_and_test_mail(setup, smtp_server):
    setup.mail = {"url": smtp_server.url, "from": "sa@example.org",
                  "to": "admins@example.org, ops@example.org",
                  "starttls": "no"}
    conf = setup.write()
    proc = run_cli("-c", conf, "doctor", "--send-test-mail")
    lines = proc.stdout.splitlines()
    for line in lines[:-1]:
        assert line.split()[0] in ("OK", "WARN", "FAIL"), line
    assert any(line.startswith("OK    mail.test ") for line in lines)
    summary = lines[-1]
    assert summary.endswith(" FAIL") and " checks: " in summary
    msg = smtp_server.wait_for(1)[0]
    assert msg.rcpt_tos == ["admins@example.org", "ops@example.org"]
    assert msg.message["Subject"] == "sessionarchiver: test mail"


def test_help_and_usage(built):
    proc = run_cli("doctor", "--help", check=0)
    assert proc.stdout.startswith("usage: sessionarchiver doctor")
    assert "--send-test-mail" in proc.stdout
    run_cli("doctor", "--bogus", check=2)
    run_cli("doctor", "extra-argument", check=2)


# ------------------------------------------------------------------ failures
def test_config_permissions(setup):
    pw = write_private(setup.tmp / "db.pw", setup.src.dbpass)
    setup.source.update(db=f"mysql://{setup.src.dbuser}@localhost/"
                           f"{setup.src.dbname}?socket="
                           f"{setup.src.server.socket}",
                        db_password_file=pw)
    setup.mode = 0o644
    conf = setup.write()
    rc, checks, proc = doctor(conf, check=1)
    c = checks["config.permissions"]
    assert c["status"] == "FAIL" and "mode 0644" in c["detail"]
    assert "chmod 600" in c["hint"]
    # the syntax is fine, and the other checks still ran with the file
    assert checks["config"]["status"] == "OK"
    assert checks["store"]["status"] == "OK"
    assert checks["source.database"]["status"] == "OK"
    assert setup.src.dbpass not in proc.stdout + proc.stderr


def test_config_writable_by_others(setup):
    setup.mode = 0o666
    rc, checks, _ = doctor(setup.write(), check=1)
    c = checks["config.permissions"]
    assert c["status"] == "FAIL" and "writable by group or others" in \
        c["detail"] and "chmod go-w" in c["hint"]


def test_config_syntax(setup):
    conf = setup.write()
    with open(conf, "a") as f:
        f.write("[jobs]\nparallel = lots\n")
    rc, checks, _ = doctor(conf, check=1)
    c = checks["config"]
    assert c["status"] == "FAIL" and f"{conf}:" in c["detail"]
    assert "parallel" in c["detail"]
    # without a configuration, the platforms are not checked; FUSE is
    assert "source.database" not in checks and "fuse.device" in checks


def test_not_a_store(setup, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    setup.store = empty
    rc, checks, _ = doctor(setup.write(), check=1)
    c = checks["store"]
    assert c["status"] == "FAIL" and "sessionarchiver init" in c["hint"]
    assert "store.writable" not in checks


def test_newer_index(setup):
    setup.index.unlink()
    db = sqlite3.connect(str(setup.index))
    db.execute("PRAGMA user_version = 99")
    db.close()
    rc, checks, _ = doctor(setup.write(), check=1)
    c = checks["index"]
    assert c["status"] == "FAIL" and "schema version 99" in c["detail"]
    assert "newer sessionarchiver" in c["hint"]
    # refused untouched
    db = sqlite3.connect(str(setup.index))
    assert db.execute("PRAGMA user_version").fetchone()[0] == 99
    db.close()


def test_index_missing_is_a_warning(setup):
    setup.index.unlink()
    rc, checks, _ = doctor(setup.write())
    assert checks["index"]["status"] == "WARN"
    assert "sessionarchiver index" in checks["index"]["hint"]
    assert not setup.index.exists()


def test_db_down(setup):
    pw = write_private(setup.tmp / "db.pw", setup.src.dbpass)
    dead = setup.tmp / "nothing.sock"
    setup.source.update(db=f"mysql://{setup.src.dbuser}@localhost/"
                           f"{setup.src.dbname}?socket={dead}",
                        db_password_file=pw)
    t = time.monotonic()
    rc, checks, proc = doctor(setup.write(), check=1)
    assert time.monotonic() - t < 20
    c = checks["source.database"]
    assert c["status"] == "FAIL" and "cannot connect" in c["detail"]
    assert str(dead) in c["detail"]
    assert "database server running" in c["hint"]
    assert failing(checks) == {"source.database"}
    assert setup.src.dbpass not in proc.stdout + proc.stderr


def test_missing_table(mariadb, sites_root, setup):
    s = FakeSite.create(mariadb, sites_root, "doc_drop")
    try:
        s.query("DROP TABLE {files}")
        setup.source["moodle"] = s.site_dir
        rc, checks, _ = doctor(setup.write(), check=1)
        c = checks["source.database"]
        assert c["status"] == "FAIL"
        assert "table 'mdl_files' missing" in c["detail"]
        assert "prefix" in c["hint"]
        assert failing(checks) == {"source.database"}
    finally:
        s.destroy()


def test_missing_column(mariadb, sites_root, setup):
    """A table of another shape (a Moodle upgrade not finished): the same
    hint as a missing table, from the server's own error code."""
    s = FakeSite.create(mariadb, sites_root, "doc_col")
    try:
        s.query("ALTER TABLE {course_modules} DROP COLUMN "
                "deletioninprogress")
        setup.source["moodle"] = s.site_dir
        rc, checks, _ = doctor(setup.write(), check=1)
        c = checks["source.database"]
        assert c["status"] == "FAIL", c
        assert "deletioninprogress" in c["detail"]
        assert "upgrade complete" in c["hint"]
    finally:
        s.destroy()


def test_missing_cli_script(setup, tmp_path):
    copy = tmp_path / "moodle-copy"
    shutil.copytree(setup.src.site_dir, copy)
    (copy / "admin" / "cli" / "backup.php").unlink()
    setup.source["moodle"] = copy
    del setup.source["user"]  # nobody may not read the copy
    rc, checks, _ = doctor(setup.write(), check=1)
    c = checks["source.cli_scripts"]
    assert c["status"] == "FAIL"
    assert f"{copy}/admin/cli/backup.php" in c["detail"]
    assert "restore_backup.php" not in c["detail"]
    assert failing(checks) == {"source.cli_scripts"}


def test_bridge_worker_that_dies(setup, tmp_path):
    broken = tmp_path / "bridge.php"
    broken.write_text("<?php\necho \"PHP Fatal error:  broken bridge\\n\";"
                      "\nexit(255);\n")
    del setup.source["user"], setup.archive["user"]  # nor read it
    rc, checks, _ = doctor(setup.write(), check=1,
                           env={"SA_BRIDGE": str(broken)})
    c = checks["source.bridge_worker"]
    assert c["status"] == "FAIL", c
    assert "broken bridge" in c["detail"] and "runner = cli" in c["hint"]
    assert failing(checks) == {"source.bridge_worker",
                               "archive.bridge_worker"}


def test_missing_config_php(setup, tmp_path):
    setup.archive["moodle"] = tmp_path / "nowhere"
    rc, checks, _ = doctor(setup.write(), check=1)
    assert checks["archive.config_php"]["status"] == "FAIL"
    # its database cannot be looked for: not a second FAIL for one cause
    assert "archive.database" not in checks
    assert "archive.cli_scripts" not in checks
    assert "platforms.moodle_version" not in checks


def test_unknown_user(setup):
    setup.source["user"] = "sa-no-such-user"
    rc, checks, _ = doctor(setup.write(), check=1)
    c = checks["source.user"]
    assert c["status"] == "FAIL"
    assert c["detail"] == "no system user 'sa-no-such-user'"
    assert failing(checks) == {"source.user"}


def test_no_user_as_root_warns(setup):
    del setup.archive["user"]
    rc, checks, _ = doctor(setup.write())
    if os.geteuid() == 0:
        assert checks["archive.user"]["status"] == "WARN"
        assert "www-data" in checks["archive.user"]["hint"]


def test_php_missing(setup):
    setup.source["php"] = "/nonexistent/php"
    rc, checks, _ = doctor(setup.write(), check=1)
    c = checks["source.php"]
    assert c["status"] == "FAIL" and "/nonexistent/php" in c["detail"]
    assert "php-cli" in c["hint"]
    assert "source.database" not in checks


def test_mail_server_down(setup, dead_smtp_port):
    setup.mail = {"url": f"smtp://127.0.0.1:{dead_smtp_port}",
                  "from": "sa@example.org", "to": "a@example.org",
                  "starttls": "no"}
    rc, checks, _ = doctor(setup.write(), check=1)
    c = checks["mail"]
    assert c["status"] == "FAIL" and str(dead_smtp_port) in c["detail"]
    assert "mail server" in c["hint"]
    assert failing(checks) == {"mail"}


def test_mail_starttls_refused(setup, smtp_server):
    """A server without STARTTLS while starttls = yes."""
    setup.mail = {"url": smtp_server.url, "from": "sa@example.org",
                  "to": "a@example.org"}
    rc, checks, _ = doctor(setup.write(), check=1)
    assert checks["mail"]["status"] == "FAIL"
    assert smtp_server.messages == []


def test_webservice_bad_token(setup, webservice):
    write_private(setup.tmp / "ws.token", "wrong-token")
    setup.archive.update(url=webservice.url,
                         token_file=setup.tmp / "ws.token")
    rc, checks, proc = doctor(setup.write(), check=1)
    c = checks["archive.webservice"]
    assert c["status"] == "FAIL" and "invalidtoken" in c["detail"]
    assert "Invalid token" in c["detail"]
    assert "wrong-token" not in proc.stdout + proc.stderr
    assert failing(checks) == {"archive.webservice"}


def test_webservice_without_a_function_the_tool_calls(setup, webservice):
    """The token works but its service lacks a function the tool's reads
    need: the FAIL says which, as archive would meet it."""
    webservice.functions.remove("core_course_get_contents")
    write_private(setup.tmp / "ws.token", TOKEN)
    setup.source.update(url=webservice.url,
                        token_file=setup.tmp / "ws.token")
    rc, checks, _ = doctor(setup.write(), check=1)
    c = checks["source.webservice"]
    assert c["status"] == "FAIL", c
    assert "does not allow core_course_get_contents" in c["detail"]
    assert "functions" in c["hint"]


def test_webservice_unreachable(setup, dead_smtp_port):
    write_private(setup.tmp / "ws.token", TOKEN)
    setup.source.update(url=f"http://127.0.0.1:{dead_smtp_port}",
                        token_file=setup.tmp / "ws.token")
    rc, checks, _ = doctor(setup.write(), check=1)
    c = checks["source.webservice"]
    assert c["status"] == "FAIL", c
    assert "cannot reach 'http://127.0.0.1:%d'" % dead_smtp_port in \
        c["detail"]
    assert "REST protocol" in c["hint"]


def test_moodle_versions_differ(mariadb, sites_root, setup):
    s = FakeSite.create(mariadb, sites_root, "doc_old")
    try:
        setup.archive["moodle"] = s.site_dir
        s.query("UPDATE {config} SET value = '2024042200' "
                "WHERE name = 'version'")
        s.query("UPDATE {config} SET value = '4.4 (Build: 20240422)' "
                "WHERE name = 'release'")
        rc, checks, _ = doctor(setup.write(), check=1)
        c = checks["platforms.moodle_version"]
        assert c["status"] == "FAIL" and "4.4 (Build: 20240422)" in \
            c["detail"]
        assert "--allow-version-mismatch" in c["hint"]
        # newer is no better: restore wants the same version
        s.query("UPDATE {config} SET value = '2025041400' "
                "WHERE name = 'version'")
        rc, checks, _ = doctor(setup.write(), check=1)
        assert checks["platforms.moodle_version"]["status"] == "FAIL"
    finally:
        s.destroy()


def test_site_mismatch(setup):
    setup.source["site"] = "0" * 32
    rc, checks, _ = doctor(setup.write(), check=1)
    c = checks["source.moodle"]
    assert c["status"] == "FAIL" and "not the configured one" in c["detail"]
    setup.source["site"] = setup.src.siteidentifier
    rc, checks, _ = doctor(setup.write())
    assert checks["source.moodle"]["status"] == "OK"


def test_other_tool_version_warns(setup):
    setup.add_session("0.0.1-old")
    rc, checks, _ = doctor(setup.write())
    c = checks["store.tool_versions"]
    assert c["status"] == "WARN" and "2025-2026 0.0.1-old" in c["detail"]
    assert "same sessionarchiver version" in c["hint"]


def test_hooks(setup, tmp_path):
    hook = tmp_path / "hook.sh"
    hook.write_text("#!/bin/sh\nexit 0\n")
    hook.chmod(0o644)
    conf = setup.write()
    with open(conf, "a") as f:
        f.write(f"[hooks]\npre_backup = {hook}\n")
    rc, checks, _ = doctor(conf, check=1)
    assert checks["hooks.pre_backup"]["status"] == "FAIL"
    hook.chmod(0o755)
    rc, checks, _ = doctor(conf)
    assert checks["hooks.pre_backup"]["status"] == "OK"
