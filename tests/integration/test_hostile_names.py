"""Issue 13, untrusted text: course names typed in Moodle with an ESC
sequence, a C1 CSI, a newline, a tab, a backslash or accents. Every
human-facing output (plan, stderr, the store's operation log, the mails,
status, inspect) shows them escaped on one line; list's tab-separated
lines keep one line per course and read back to the exact name; JSON keeps
the exact name; accents stay UTF-8.

Run: SA_BUILD=$PWD/build/asan /usr/bin/python3 -m pytest -q tests/integration/test_hostile_names.py
"""

import json
import re

import pytest

from fakesite import FakeSite
from harness.build import run_cli
from harness.platforms import (PHP, SESSION, Workspace, mail_conf,
                               needs_php, unique)

pytestmark = needs_php

# shortname -> fullname
HOSTILE = {
    "ctrl\x1b[31mred": "Evil \x1b[2J\x1b]0;title\x07 course",
    "csi\u009b31m": "C1 \u009b2J course",
    "two\nlines": "Full\nname",
    "tab\there": "Full\tname",
    "back\\slash": "Back\\slash",
    "Géo-éco": "Géographie économique",
}
ESCAPED = {
    "ctrl\x1b[31mred": "ctrl\\x1b[31mred",
    "csi\u009b31m": "csi\\xc2\\x9b31m",
    "two\nlines": "two\\x0alines",
    "tab\there": "tab\\x09here",
    "back\\slash": "back\\slash",
    "Géo-éco": "Géo-éco",
}
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def tsv_decode(field):
    """A list field as a script reads it: \\t \\n \\r \\\\ and \\xNN."""
    out = bytearray()
    i, b = 0, field.encode()
    while i < len(b):
        if b[i] != 0x5c:
            out.append(b[i])
            i += 1
            continue
        c = chr(b[i + 1])
        if c == "x":
            out.append(int(b[i + 2:i + 4], 16))
            i += 4
        else:
            out.append({"t": 9, "n": 10, "r": 13, "\\": 0x5c}[c])
            i += 2
    return out.decode()


def assert_clean(text, what):
    """One printable line per line: no ESC, no C0 but newline (and tab,
    which plain text may use), no DEL, no C1."""
    bad = RAW_CONTROL.search(text)
    assert bad is None, "%s has %r: %r" % (what, bad.group(), text)


class World(Workspace):
    def __init__(self, mariadb, tmp_path):
        self.site = FakeSite.create(mariadb, tmp_path / "sites",
                                    unique("host"))
        super().__init__(tmp_path)
        self.cat = self.site.add_category(SESSION, 0, idnumber=SESSION)
        self.ids = {}
        for i, (short, full) in enumerate(HOSTILE.items()):
            self.ids[short] = self.site.add_course(
                self.cat, short, full, files=[("a%d.txt" % i, 1000 + i)])

    def configure(self, **sections):
        sections.setdefault("jobs", {"timeout": "10s"})
        self.write_config({"source": {"moodle": self.site.site_dir,
                                      "php": PHP}, **sections})
        self.sa("status", check=0)


@pytest.fixture
def world(mariadb, tmp_path):
    w = World(mariadb, tmp_path)
    try:
        yield w
    finally:
        w.site.destroy()


def test_hostile_names(world, smtp_server):
    world.configure(mail=mail_conf(smtp_server.url))
    evil = world.ids["ctrl\x1b[31mred"]

    # plan: text escaped, one line per course; JSON exact
    r = world.sa("plan", "archive", SESSION, check=0)
    assert_clean(r.stdout, "plan")
    assert_clean(r.stderr, "plan's stderr")
    course_lines = [l for l in r.stdout.splitlines()
                    if re.match(r"  (pending|archived|failed) ", l)]
    assert len(course_lines) == len(HOSTILE), r.stdout
    for short, shown in ESCAPED.items():
        assert any(shown in l for l in course_lines), (shown, r.stdout)
    plan_txt = (world.store / SESSION / ".session" / "plan.txt").read_text()
    assert_clean(plan_txt, "plan.txt")
    r = world.sa("plan", "archive", SESSION, "--json", check=0)
    plan = json.loads(r.stdout)
    assert sorted(c["shortname"] for c in plan["courses"]) == \
        sorted(HOSTILE)

    # archive with one failure: stderr, the mails, the operation log
    split = world.ids["two\nlines"]
    world.site.set_fault(evil, "backup", "exit1")
    world.site.set_fault(split, "backup", "exit1")
    r = world.sa("archive", SESSION, check=6)
    assert_clean(r.stderr, "archive's stderr")
    assert "'ctrl\\x1b[31mred' failed" in r.stderr
    assert "'two\\x0alines' failed" in r.stderr
    mails = smtp_server.wait_for(2)
    for m in mails:
        # SMTP lines end with CRLF: any other CR would be a name's
        body = m.message.get_content().replace("\r\n", "\n")
        assert_clean(body, "mail %r" % m.message["Subject"])
        assert b"\x1b" not in m.raw and "\u009b".encode() not in m.raw
    started, last = mails[0].message.get_content(), \
        mails[-1].message.get_content()
    for shown in ESCAPED.values():
        assert shown in started, (shown, started)
    assert "Géo-éco" in started
    assert "Failed courses" in last, last
    assert "  ctrl\\x1b[31mred (id %d): " % evil in last, last
    assert "  two\\x0alines (id %d): " % split in last, last

    # status text escapes the course names and the last error
    r = world.sa("status", SESSION, check=0)
    assert_clean(r.stdout, "status")

    world.site.clear_faults()
    r = world.sa("archive", SESSION, "--retry-failed", check=0)
    assert_clean(r.stderr, "retry's stderr")

    logs = list((world.store / SESSION / ".session").glob("log-*.txt"))
    assert logs, "no operation log in the store"
    for log in logs:
        text = log.read_text()
        assert_clean(text, log.name)
        assert "'ctrl\\x1b[31mred' failed" in text, text
        assert "'two\\x0alines' failed" in text, text
        # every line is a message of its own: no name split one
        for line in text.splitlines():
            assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} ",
                            line), (log.name, line)
            assert "\t" not in line, (log.name, line)

    # list: one line per course, five fields, each name reads back
    r = world.sa("list", SESSION, check=0)
    assert_clean(r.stdout.replace("\t", " "), "list")
    lines = r.stdout.split("\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    assert len(lines) == len(HOSTILE), r.stdout
    by_id = {}
    for line in lines:
        fields = line.split("\t")
        assert len(fields) == 5, fields
        assert fields[0] == "archived", fields
        by_id[int(fields[1])] = tsv_decode(fields[4])
    assert by_id == {cid: short for short, cid in world.ids.items()}
    assert "Géo-éco" in r.stdout
    assert "back\\\\slash" in r.stdout and "tab\\there" in r.stdout
    assert "two\\nlines" in r.stdout

    # list --json: the exact names
    r = world.sa("list", SESSION, "--json", check=0)
    listing = {c["source_course_id"]: c for c in json.loads(r.stdout)}
    for short, cid in world.ids.items():
        assert listing[cid]["shortname"] == short
        assert listing[cid]["fullname"] == HOSTILE[short]

    # inspect reads the names back from the backup: escaped too
    f = world.store / SESSION / listing[evil]["file"]
    r = run_cli("inspect", f, check=0)
    assert_clean(r.stdout.replace("\t", " "), "inspect")
