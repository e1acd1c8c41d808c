"""moodle/'s config.php reader (configphp.c): Moodle's own config.php run
through php, its output dropped, its errors reported without its secrets.

Run: SA_BUILD=/work/main/build/asan /usr/bin/python3 -m pytest -q tests/integration/test_moodle_configphp.py
"""

from harness.moodletest import copy_site, edit_config, fresh_site_fixture, ok, php_conf, run_helper
from harness.platforms import needs_php

pytestmark = needs_php


site = fresh_site_fixture("sam_cfg")


def test_unknown_dbtype_refused(site, tmp_path):
    d = copy_site(site, tmp_path / "ms")
    edit_config(d, lambda t: t.replace("'mariadb'", "'sqlsrv'"))
    r = run_helper(php_conf(tmp_path, d))
    assert r.returncode == 2
    assert "sqlsrv platforms are not supported (dbtype must be mysqli, mariadb, auroramysql or pgsql)" \
        in r.stderr and site.dbpass not in r.stderr
    # pgsql is read with libpq (test_moodle_pgsql.py): here no server answers
    d = copy_site(site, tmp_path / "pg")
    edit_config(d, lambda t: t.replace("'mariadb'", "'pgsql'"))
    r = run_helper(php_conf(tmp_path, d, name="pg.conf"))
    assert r.returncode == 5 and "cannot connect to database" in r.stderr
    assert site.dbpass not in r.stdout + r.stderr


def test_config_php_output_and_errors(site, tmp_path):
    # what config.php prints is dropped; mysqli and a numeric port are fine
    d = copy_site(site, tmp_path / "noisy")
    edit_config(d, lambda t: t.replace("unset($CFG);", "echo \"noise {\\n\";\nunset($CFG);")
                .replace("'mariadb'", "'mysqli'").replace("'dbport' => ''", "'dbport' => 3306"))
    assert ok(php_conf(tmp_path, d, name="noisy.conf"))["site"]["wwwroot"] == site.wwwroot
    # a broken config.php: exit 2, and its text (the password) is never shown
    d = copy_site(site, tmp_path / "broken")
    edit_config(d, lambda t: t.replace("$CFG->dbpass    = '%s';" % site.dbpass,
                                       "$CFG->dbpass    = '%s' '%s';" % (site.dbpass, site.dbpass)))
    r = run_helper(php_conf(tmp_path, d, name="broken.conf"))
    assert r.returncode == 2 and "config.php" in r.stderr
    assert site.dbpass not in r.stdout + r.stderr
    # config.php that exits before the settings are printed
    d = copy_site(site, tmp_path / "exits")
    edit_config(d, lambda t: t.replace("unset($CFG);", "exit(0);"))
    r = run_helper(php_conf(tmp_path, d, name="exits.conf"))
    assert r.returncode == 2 and "without printing them" in r.stderr
    # no config.php at all
    r = run_helper(php_conf(tmp_path, str(tmp_path / "nowhere"), name="none.conf"))
    assert r.returncode == 2 and "cannot read '%s/nowhere/config.php'" % tmp_path in r.stderr


def test_wrong_password_in_config_php(site, tmp_path):
    d = copy_site(site, tmp_path / "pw")
    edit_config(d, lambda t: t.replace(site.dbpass, "not-" + site.dbpass))
    r = run_helper(php_conf(tmp_path, d))
    assert r.returncode == 5 and "Access denied" in r.stderr
    assert site.dbpass not in r.stdout + r.stderr
