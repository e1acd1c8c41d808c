"""The walls between the folders: only indexer/ speaks SQL to the index
(the others ask its typed functions), and only moodle/ talks to Moodle's
database client libraries.

Run: /usr/bin/python3 -m pytest -q tests/integration/test_layers.py
"""

import pathlib
import re

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
