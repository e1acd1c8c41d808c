"""The walls between the folders: only indexer/ speaks SQL to the index
(the others ask its typed functions), only moodle/ talks to Moodle's
database client libraries; the mount links none of them, and spells no
option of the operations (it hands the CLI a control line).

Run: /usr/bin/python3 -m pytest -q tests/integration/test_layers.py
"""

import os
import pathlib
import re
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[2]


def sources(*folders):
    for folder in folders:
        for p in sorted((REPO / folder).glob("*.[ch]")):
            yield p, p.read_text(encoding="utf-8")


def test_only_indexer_runs_sql_on_the_index():
    sql = re.compile(r"\bsqlite3_\w+\s*\(|\bidx_stmt\s*\(|\bidx_db\s*\(|"
                     r"#include\s*[<\"](sqlite3\.h|idx_sql\.h)[>\"]")
    found = [(p.relative_to(REPO).as_posix(), m.group(0))
             for p, text in sources("fs", "tools", "moodle", "common")
             for m in sql.finditer(text)]
    assert found == []


def test_only_moodle_uses_the_database_clients():
    client = re.compile(r"\b(PQ[a-z]\w*|mysql_(?!library_)\w+)\s*\(")
    found = [(p.relative_to(REPO).as_posix(), m.group(0))
             for p, text in sources("fs", "tools", "indexer", "common")
             for m in client.finditer(text)
             if not (p.name == "main.c" and m.group(1) in (
                 "PQlibVersion", "mysql_get_client_info"))]
    assert found == []


def test_the_mount_spells_no_operation_option():
    """The mount hands the CLI a control line (sessionarchiver control
    SESSION LINE); which options it means is said in tools/ only."""
    spelled = re.compile(r"--(side|target|deep|confirm|dry-run|preview|"
                         r"no-wait|set)\b|jobs\.parallel|window\.hours")
    found = [(p.relative_to(REPO).as_posix(), m.group(0))
             for p, text in sources("fs")
             for m in spelled.finditer(text)]
    assert found == []


def test_the_mount_links_no_moodle_client():
    """The mount starts operations as CLI processes: libcurl, the MySQL
    client and libpq stay out of it (the Makefile's build walls)."""
    build = pathlib.Path(os.environ.get("SA_BUILD", REPO / "build"))
    fs = build / "sessionarchiverfs"
    cli = build / "sessionarchiver"
    assert fs.exists() and cli.exists(), "build first (make)"
    libs = {str(b): subprocess.run(["ldd", str(b)], capture_output=True,
                                   text=True, check=True).stdout
            for b in (fs, cli)}
    client = re.compile(r"lib(curl|mariadb|mysqlclient|pq)\.so")
    assert client.findall(libs[str(fs)]) == []
    # the same check finds them where they belong
    assert {"curl", "pq"} <= set(client.findall(libs[str(cli)]))
