"""The command line itself: help, version, usage errors, store creation and
refusal of directories that are not stores."""
import os
import pathlib

from harness.build import run_cli

EXIT_USAGE, EXIT_REFUSED, EXIT_NOSTORE = 2, 4, 7


def test_help_and_version(built):
    out = run_cli("--help", check=0).stdout
    assert out.startswith("usage: sessionarchiver")
    for command in ("init", "inspect"):
        assert f"  {command} " in out
    version = run_cli("--version", check=0).stdout
    assert version.startswith("sessionarchiver ")
    for lib in ("libfuse", "libarchive", "SQLite", "libcurl", "MySQL"):
        assert lib in version


def test_usage_errors_exit_2(built):
    for args in ([], ["no-such-command"], ["--no-such-option"],
                 ["init"], ["init", "--store"], ["inspect"],
                 ["inspect", "--bogus", "x"]):
        proc = run_cli(*args, check=EXIT_USAGE)
        assert proc.stdout == ""
        assert "sessionarchiver" in proc.stderr


def test_command_help_goes_to_stdout(built):
    for command in ("init", "inspect"):
        proc = run_cli(command, "--help", check=0)
        assert proc.stdout.startswith(f"usage: sessionarchiver {command}")


def test_init_creates_store_once(built, tmp_path):
    store = tmp_path / "store"
    run_cli("init", "--store", store, check=0)
    ini = (store / ".sessionarchiver" / "store.ini").read_text()
    assert "format = 1" in ini
    store_id = [l for l in ini.splitlines() if l.startswith("id = ")][0]
    assert len(store_id) == len("id = ") + 32
    # global options also work before the command
    proc = run_cli("--store", store, "init", check=EXIT_REFUSED)
    assert "is a store already" in proc.stderr
    assert (store / ".sessionarchiver" / "store.ini").read_text() == ini
    # no temporary left behind by the atomic writer
    assert os.listdir(store / ".sessionarchiver") == ["store.ini"]


def test_init_in_missing_parent_fails(built, tmp_path):
    proc = run_cli("init", "--store", tmp_path / "no" / "such", check=1)
    assert "No such file or directory" in proc.stderr
