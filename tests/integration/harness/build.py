"""Where the programs under test are: SA_BUILD (set by `make test` to the
sanitizer build), else <repo>/build. Also the repository and shared/.

SA_FS_NO_OPENAT2=1 makes fs_env() preload sa-noopenat2.so into
sessionarchiverfs, so that the daemon sees a kernel without openat2(2)
(issue 13); `make test` runs test_mount.py once more that way."""
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
NOOPENAT2 = BUILD / "tests" / "sa-noopenat2.so"


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


def no_openat2_wanted():
    """Whether SA_FS_NO_OPENAT2=1 asks every daemon to run without
    openat2."""
    return os.environ.get("SA_FS_NO_OPENAT2") == "1"


def fs_env(extra=None, no_openat2=None):
    """sanitizer_env(extra) for sessionarchiverfs; with no_openat2 (by
    default when SA_FS_NO_OPENAT2=1) sa-noopenat2.so is preloaded, and
    extra may hold SA_NOOPENAT2_ERRNO for the shim."""
    env = sanitizer_env(extra)
    if no_openat2 is None:
        no_openat2 = no_openat2_wanted()
    if not no_openat2:
        return env
    assert NOOPENAT2.exists(), f"{NOOPENAT2} missing: run make unit-tests"
    env["LD_PRELOAD"] = " ".join(filter(None, [str(NOOPENAT2),
                                                env.get("LD_PRELOAD")]))
    # ASan wants its runtime first among the libraries and refuses a
    # preload before it; the shim needs none of it. Programs built
    # without ASan ignore the variable.
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"),
                                                 "verify_asan_link_order=0"]))
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
