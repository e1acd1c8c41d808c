"""The fake site's MySQL schema (schema.sql) as Moodle 4.5 lays its tables
out on PostgreSQL: BIGSERIAL ids, BIGINT/SMALLINT/INTEGER/VARCHAR/TEXT
columns, the same indexes. FakeSite uses it to make a PostgreSQL site;
tests/integration/harness/postgres.py to copy a MariaDB one."""

import os
import re

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema.sql")

_TYPES = [
    (r"bigint\(\d+\)", "BIGINT"),
    (r"mediumint\(\d+\)", "INTEGER"),
    (r"(?:tiny|small)int\(\d+\)", "SMALLINT"),
    (r"varchar\((\d+)\)", r"VARCHAR(\1)"),
    (r"longtext", "TEXT"),
    (r"decimal\((\d+),(\d+)\)", r"NUMERIC(\1,\2)"),
]


def pg_schema(prefix):
    """tests/fakemoodle/schema.sql (MySQL) as Moodle 4.5 lays it out on
    PostgreSQL: BIGSERIAL ids, BIGINT/SMALLINT/VARCHAR/TEXT columns, the
    same indexes. Returns a list of statements."""
    with open(SCHEMA, encoding="utf-8") as f:
        text = "\n".join(l for l in f.read().splitlines()
                         if not l.startswith("--"))
    out = []
    for stmt in (s.strip() for s in text.split(";")):
        # the body ends at the line that opens with ")" (ENGINE=...)
        m = re.match(r"CREATE TABLE `\{PREFIX\}(\w+)` \((.*?)\n\)[^\n]*$",
                     stmt, re.S)
        if not m:
            if stmt:
                raise ValueError("cannot translate: " + stmt[:80])
            continue
        table, body = prefix + m.group(1), m.group(2)
        cols, indexes = [], []
        for line in (l.strip().rstrip(",") for l in body.splitlines()):
            if not line:
                continue
            k = re.match(r"(UNIQUE )?KEY `\{PREFIX\}(\w+)` \((.*)\)", line)
            if k:
                indexes.append("CREATE %sINDEX %s%s ON %s (%s)" % (
                    "UNIQUE " if k.group(1) else "", prefix, k.group(2),
                    table, k.group(3).replace("`", "")))
                continue
            if line.startswith("PRIMARY KEY"):
                cols.append(line.replace("`", ""))
                continue
            c = re.match(r"`(\w+)` (.*)", line)
            name, rest = c.group(1), c.group(2)
            if "AUTO_INCREMENT" in rest:
                cols.append("%s BIGSERIAL" % name)
                continue
            for pat, rep in _TYPES:
                rest = re.sub(pat, rep, rest)
            cols.append("%s %s" % (name, rest))
        out.append("CREATE TABLE %s (\n  %s\n)" % (table,
                                                   ",\n  ".join(cols)))
        out += indexes
    return out


def pg_ddl(sql):
    """One CREATE TABLE of MySQL written on one line (as site_webservice.py
    writes those it adds) in PostgreSQL's words."""
    sql = re.sub(r"(\w+) bigint\(\d+\) NOT NULL AUTO_INCREMENT", r"\1 BIGSERIAL", sql)
    sql = re.sub(r",\s*(?:UNIQUE )?KEY \w+ \([^)]*\)", "", sql)
    sql = re.sub(r"\)\s*ENGINE=.*$", ")", sql)
    for pat, rep in _TYPES:
        sql = re.sub(pat, rep, sql)
    return sql
