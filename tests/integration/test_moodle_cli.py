"""moodle/'s CLI backend (cli.c): the command lines that run Moodle's
admin/cli scripts, as the configured system user.

Run: SA_BUILD=/work/main/build/asan /usr/bin/python3 -m pytest -q tests/integration/test_moodle_cli.py
"""

import os
import pwd
import subprocess

import pytest

from harness.moodletest import fresh_site_fixture, ok, php_conf
from harness.platforms import PHP, needs_php

pytestmark = needs_php


site = fresh_site_fixture("sam_cli")


def test_cli_argv_users(site, tmp_path):
    nobody = pwd.getpwnam("nobody")
    d = ok(php_conf(tmp_path, site.site_dir, "user = nobody\n", name="nobody.conf"))
    assert d["backup_argv"] == ["/usr/bin/setpriv", "--reuid=%d" % nobody.pw_uid, "--regid=%d" % nobody.pw_gid,
                                "--init-groups", "--pdeathsig=keep", PHP, site.site_dir + "/admin/cli/backup.php",
                                "--courseid=2"]
    assert d["backup_argv"][1] == "--reuid=65534"
    me = pwd.getpwuid(os.geteuid()).pw_name
    d = ok(php_conf(tmp_path, site.site_dir, "user = %s\n" % me, name="me.conf"))
    assert d["backup_argv"] == [PHP, site.site_dir + "/admin/cli/backup.php", "--courseid=2"]
    d = ok(php_conf(tmp_path, site.site_dir, "user = sa-no-such-user\n", name="nouser.conf"))
    assert d["backup_argv"] is None and d["backup_argv_error"] == "no system user 'sa-no-such-user'"


def test_setpriv_argv_runs(site, tmp_path):
    """The setpriv command line really runs php as nobody (root only)."""
    if os.geteuid() != 0:
        pytest.skip("setpriv --reuid needs root")
    d = ok(php_conf(tmp_path, site.site_dir, "user = nobody\n", name="run.conf"))
    argv = d["backup_argv"][:6] + ["-r", "echo posix_geteuid();"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if r.returncode != 0 and "posix_geteuid" in r.stderr:
        pytest.skip("php without the posix extension")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(pwd.getpwnam("nobody").pw_uid)
