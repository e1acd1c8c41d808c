"""`status` after refused control writes: the CLI (`sessionarchiver
status`) and the mount's status files show the last real operation, and
the latest refusal on a line of its own (last_refused), never a refusal as
if it were an operation. A flood of bad control writes leaves a bounded
trace: at most a few refused rows per session in the index, and a bounded
number of log lines that say how many refusals were not logged.

The stores, mounts and helpers are test_mount.py's.

Run: make -s SAN=1 all unit-tests && \
     SA_BUILD=build/asan /usr/bin/python3 -m pytest -q \
         tests/integration/test_status.py
"""
import errno
import json
import os
import re
import socket
import time

# store and mounted are fixtures: pytest finds them here by name
from test_mount import (SESSION, mounted, read_all, read_status, store,
                        wait_for, write_control)  # noqa: F401

UNKNOWN = ("unknown command 'archve' (archive, restore, verify, purge, "
           "pause, resume, cancel, index)")
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
# fs/daemon.c and indexer/runs.h
REFUSALS_LOGGED, REFUSED_KEPT = 50, 10


def insert_run(store, operation, state, started, ended=None, last_error=None,
               pid=1):
    with store.db() as db:
        sid = db.execute("SELECT id FROM sessions WHERE name = ?",
                         (SESSION,)).fetchone()[0]
        db.execute("INSERT INTO runs(session_id, operation, state, pid, "
                   "host, started, updated, ended, last_error) VALUES "
                   "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (sid, operation, state, pid, socket.gethostname(),
                    started, ended or started, ended, last_error))
    db.close()


def refused_rows(store):
    with store.db() as db:
        rows = db.execute("SELECT started, last_error FROM runs WHERE "
                          "state = 'refused' ORDER BY id").fetchall()
    db.close()
    return rows


def cli_status(store):
    return json.loads(store.cli("status", "--json", SESSION).stdout)


def test_status_shows_the_last_real_operation(store, mounted):
    m = mounted
    now = int(time.time())
    insert_run(store, "archive", "failed", now - 120, now - 60,
               "archive ended with exit status 1; see log")
    assert write_control(m.path(SESSION, "control"), "archve\n") == \
        errno.EINVAL
    st = read_status(m)
    assert (st["operation"], st["state"]) == ("archive", "failed")
    # the run's own error, not the refusal's
    assert st["last_error"] == "archive ended with exit status 1; see log"
    assert re.fullmatch(STAMP + " " + re.escape(UNKNOWN),
                        st["last_refused"]), st["last_refused"]
    # the CLI says the same, in text and JSON
    assert read_all(m.path(SESSION, "status")).decode() == store.cli(
        "status", SESSION).stdout
    assert read_all(m.path(SESSION, "status.json")).decode() == store.cli(
        "status", "--json", SESSION).stdout
    one = cli_status(store)
    assert (one["operation"], one["state"]) == ("archive", "failed")
    refused = one["last_refused"]
    assert set(refused) == {"time", "operation", "reason"}
    assert (refused["operation"], refused["reason"]) == ("control", UNKNOWN)
    assert refused["time"] == st["last_refused"][:19]
    # the overview line names the operation, not the refusal
    line = [l for l in store.cli("status").stdout.splitlines()
            if l.startswith(SESSION + ":")][0]
    assert line.startswith(f"{SESSION}: archive failed"), line
    assert read_all(m.path("status")).decode() == store.cli("status").stdout

    # steering with nothing to steer is a refusal too, and named so
    assert write_control(m.path(SESSION, "control"), "cancel\n") == \
        errno.EINVAL
    one = cli_status(store)
    assert (one["operation"], one["state"]) == ("archive", "failed")
    assert one["last_refused"]["operation"] == "cancel"
    assert one["last_refused"]["reason"] == (
        f"cancel: no operation is running on '{SESSION}'")


def test_refusals_alone_read_idle(store, mounted):
    m = mounted
    st = read_status(m)
    assert (st["state"], st["last_refused"]) == ("idle", "-")
    assert cli_status(store)["last_refused"] is None
    assert write_control(m.path(SESSION, "control"), "archve\n") == \
        errno.EINVAL
    st = read_status(m)
    assert (st["operation"], st["state"], st["last_error"]) == (
        "-", "idle", "-")
    assert st["last_refused"].endswith(" " + UNKNOWN)
    assert (st["done"], st["total"], st["remaining"]) == ("3", "3", "0")


def test_a_flood_of_bad_writes_is_bounded(store, mounted):
    m = mounted
    ctl = m.path(SESSION, "control")
    assert write_control(ctl, "index\n") == 0
    wait_for(lambda: read_status(m)["state"] == "finished", timeout=20,
             what="the index run")
    real = [r for r in store.runs() if r[1] != "refused"]
    log_before = store.log_text()
    n = 2000
    t0 = time.monotonic()
    fd = os.open(ctl, os.O_WRONLY | os.O_TRUNC)
    try:
        for i in range(n):
            try:
                os.write(fd, b"archve\n")
            except OSError as e:
                assert e.errno == errno.EINVAL, (i, e)
            else:
                raise AssertionError(f"write {i} accepted")
    finally:
        os.close(fd)
    elapsed = time.monotonic() - t0
    assert m.alive(), m.log()

    # status: the last real operation, and the refusal apart
    st = read_status(m)
    assert (st["operation"], st["state"]) == ("index", "finished")
    assert st["last_refused"].endswith(" " + UNKNOWN)
    assert read_all(m.path(SESSION, "status")).decode() == store.cli(
        "status", SESSION).stdout

    # the index keeps the latest few refusals, nothing else changed
    rows = refused_rows(store)
    assert len(rows) == REFUSED_KEPT, len(rows)
    assert all(r == (0, UNKNOWN) for r in rows), rows
    assert [r for r in store.runs() if r[1] != "refused"] == real

    # the log: a bounded number of lines, then how many were not logged
    new = store.log_text()[len(log_before):].splitlines()
    logged = [l for l in new if l.endswith(f"refused: {UNKNOWN}")]
    windows = int(elapsed // 60) + 1
    assert len(new) <= windows * (REFUSALS_LOGGED + 1), (len(new), elapsed)
    assert len(logged) >= REFUSALS_LOGGED
    # reading the log through the mount tells the count not logged yet
    log = read_all(m.path(SESSION, "log")).decode()
    untold = [int(x) for x in re.findall(
        r"sessionarchiverfs: (\d+) more refused control writes not logged",
        log[len(log_before):])]
    assert untold and sum(untold) + len(logged) == n, (untold, len(logged))
    assert store.log_text() == log
    # nothing more to tell: a second read adds nothing
    assert read_all(m.path(SESSION, "log")).decode() == log

    # and the mount still works
    assert write_control(ctl, "index\n") == 0
    wait_for(lambda: [r for r in store.runs() if r[1] != "refused"][-1][1]
             == "finished", timeout=20, what="the second index run")
    assert read_status(m)["operation"] == "index"


def test_old_refusal_rows_are_tidied_when_mounted(store, fuse_mount):
    """Refusals recorded before (started set, every one kept) are brought
    to the same form when the mount starts."""
    now = int(time.time())
    insert_run(store, "verify", "finished", now - 300, now - 200)
    for i in range(30):
        insert_run(store, "control", "refused", now - 100 + i,
                   now - 100 + i, f"bad {i}")
    m = fuse_mount(store.root, store.index, ["rescan=0"])
    rows = refused_rows(store)
    assert rows == [(0, f"bad {i}") for i in range(20, 30)]
    st = read_status(m)
    assert (st["operation"], st["state"]) == ("verify", "finished")
    assert st["last_refused"].endswith(" bad 29")
    assert cli_status(store)["operation"] == "verify"
