"""Where the programs under test are: SA_BUILD (set by `make test` to the
sanitizer build), else <repo>/build. Also the repository and shared/."""
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
BUILD = pathlib.Path(os.environ.get("SA_BUILD", REPO / "build"))
SHARED = pathlib.Path(os.environ.get("SA_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures" / "moodle-real"

CLI = BUILD / "sessionarchiver"
FSBIN = BUILD / "sessionarchiverfs"


def real_fixtures():
    """The real Moodle backups, or a pytest skip when shared/ is absent."""
    if not FIXTURES.is_dir():
        pytest.skip(f"real Moodle fixtures not found in {FIXTURES}")
    return sorted(FIXTURES.glob("*.mbz"))


def sanitizer_env(extra=None):
    """Environment for a program under test: sanitizer reports go to
    stderr and make the process fail, so a test sees them."""
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    if extra:
        env.update(extra)
    return env


def run_cli(*args, check=None, input=None, env=None, timeout=120):
    """Runs sessionarchiver with args; returns the CompletedProcess.
    check=N asserts the exit code is N."""
    proc = subprocess.run([str(CLI), *map(str, args)], input=input,
                          capture_output=True, text=True,
                          env=sanitizer_env(env), timeout=timeout)
    assert "Sanitizer" not in proc.stderr, proc.stderr
    if check is not None:
        assert proc.returncode == check, (
            f"exit {proc.returncode}, wanted {check}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def built():
    """Fails (not skips) when the programs were not built: run `make`."""
    for prog in (CLI, FSBIN):
        assert prog.exists(), f"{prog} missing: run make first"
    return BUILD
