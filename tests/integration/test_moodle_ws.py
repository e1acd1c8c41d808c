"""moodle/'s web-service backend against the fake Moodle's REST endpoint.

A platform configured with `url` and `token_file` but neither `moodle` nor `db` is read through
Moodle's web services (POST <url>/webservice/rest/server.php) over libcurl. The fake site's
webservice/rest/server.php is served by `php -S` on a loopback port; the helper
build/<...>/tests/sa-moodletest prints what moodle.h returns, and these tests compare it with what
the database backend returns for the same site.

Run: SA_BUILD=/work/main/build/asan /usr/bin/python3 -m pytest -q tests/integration/test_moodle_ws.py
"""

import hashlib
import json
import os
import pathlib
import re
import shutil
import ssl
import subprocess
import threading
import time
import http.server

import pytest

from fakesite import FakeSite, generate_session
from harness.platforms import PHP, free_port, needs_php, php_server, write_private, write_secret
from harness.moodletest import ok, php_conf, run_helper

REPO = pathlib.Path(__file__).resolve().parents[2]

pytestmark = needs_php

UNAVAILABLE = "not available through web services"


# ------------------------------------------------------------------ helpers
def ws_conf(tmp, url, token, name="ws.conf", section="source", extra=""):
    tf = write_secret(pathlib.Path(tmp) / (name + ".token"), token)
    return write_private(pathlib.Path(tmp) / name, "[%s]\nurl = %s\ntoken_file = %s\n%s" % (section, url, tf, extra))


def ws_names(names):
    """What names become through Moodle's external_format_string (the fake's copy, run by php) and the
    decoding of the five entities: tags are gone, a lone '<' followed by a letter cuts the rest."""
    lib = REPO / "tests" / "fakemoodle" / "site" / "lib" / "externallib.php"
    code = ("require $argv[1]; echo json_encode(array_map('external_format_string',"
            " json_decode(stream_get_contents(STDIN))));")
    r = subprocess.run([PHP, "-r", code, "--", str(lib)], input=json.dumps(list(names)), capture_output=True,
                       text=True, check=True)
    ents = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "#39": "'", "#039": "'"}
    return [re.sub(r"&(amp|lt|gt|quot|#39|#039);", lambda m: ents[m.group(1)], x) for x in json.loads(r.stdout)]


def as_ws(db):
    """The web-service view of the helper's course list db: no estimate, names as Moodle formats them."""
    names = ws_names([x for c in db for x in (c["shortname"], c["fullname"])])
    out = []
    for i, c in enumerate(db):
        c = dict(c, estimate=0, shortname=names[2 * i], fullname=names[2 * i + 1])
        out.append(c)
    return out


# ------------------------------------------------------------------ the site and its server
@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("mws")


@pytest.fixture(scope="module")
def site(mariadb, root):
    s = FakeSite.create(mariadb, root, "mws_src", wwwroot="https://moodle.example.org/ws")
    ids = {}
    ids["s25"] = s25 = s.add_category("2025-2026", 0, idnumber="2025-2026")
    ids["sci"] = sci = s.add_category("Sciences & Techniques", s25, idnumber="SCI&T")
    ids["maths"] = maths = s.add_category("Maths <avancées>", sci, idnumber="MATHS-25")
    ids["let"] = let = s.add_category("Lettres \"classiques\" d'été", s25)
    ids["s24"] = s24 = s.add_category("2024-2025", 0, idnumber="2024-2025")
    c = {}
    c["math1"] = s.add_course(maths, "MATH-1", "Maths 1", files=[("a.txt", b"hello")], activities=["page", "forum"])
    c["amp"] = s.add_course(maths, "R&D-1", "Recherche & Développement \"appliqué\" l'été", idnumber="R&D",
                            activities=["label"])
    c["lt"] = s.add_course(let, "A < B", "a < b > c, 5 > 3", sections=5)
    c["html"] = s.add_course(let, "HTML-1", "Histoire <b>moderne</b> & Géographie", files=[("h.txt", 1000)])
    c["hidden"] = s.add_course(sci, "HID-1", "Cours caché", visible=0, activities=["url"])
    c["deleting"] = s.add_course(sci, "DEL-1", "En suppression", files=[("d.txt", 2222)], activities=["page", "url"])
    cm = s.query("SELECT id FROM {course_modules} WHERE course = %s ORDER BY id DESC LIMIT 1", (c["deleting"],))
    s.query("UPDATE {course_modules} SET deletioninprogress = 1 WHERE id = %s", (cm[0]["id"],))
    c["top"] = s.add_course(s25, "TOP-1", "Au sommet", files=[("t.txt", 500)], enddate=1900000000)
    c["old"] = s.add_course(s24, "OLD-1", "Ancien")
    s.ids, s.c = ids, c
    s.token = s.create_ws_token()
    yield s
    s.destroy()


@pytest.fixture(scope="module")
def server(site, root):
    log = root / "php-server.log"
    with php_server(site.site_dir, log) as url:
        yield url, log


@pytest.fixture(scope="module")
def conf(site, server, root):
    return ws_conf(root, server[0], site.token)


@pytest.fixture(scope="module")
def dbconf(site, root):
    return php_conf(root, site.site_dir, name="db.conf")


# ------------------------------------------------------------------ what the backend reads
def test_site(site, conf, dbconf, server):
    d = ok(conf)
    assert d["remote"] is True
    # no siteidentifier through web services: the rest is the DB's
    assert d["site"] == {"siteidentifier": None, "site_hash": None, "release": "4.5.6 (Build: 20250811)",
                         "version": 2024100706, "wwwroot": "https://moodle.example.org/ws", "dataroot": None}
    db = ok(dbconf)
    assert db["remote"] is False
    for k in ("release", "version", "wwwroot"):
        assert d["site"][k] == db["site"][k]
    assert d["backup_argv"] is None and UNAVAILABLE in d["backup_argv_error"]
    # the token went in POST bodies only: never in a request line of the server's log
    assert "server.php" in server[1].read_text()
    assert site.token not in server[1].read_text()


def test_categories(site, conf, dbconf):
    ws, db = ok(conf)["categories"], ok(dbconf)["categories"]
    # names decoded (&, quotes); the one with "<avancées>" loses it, as Moodle's format_string strips tags
    names = dict(zip([c["name"] for c in db], ws_names([c["name"] for c in db])))
    for c in db:
        c["name_path"] = "/".join(names.get(x, x) for x in c["name_path"].split("/"))
        c["name"] = names[c["name"]]
    assert ws == db
    names = {c["id"]: c for c in ws}
    assert names[site.ids["sci"]]["name"] == "Sciences & Techniques"
    assert names[site.ids["sci"]]["idnumber"] == "SCI&T"
    assert names[site.ids["let"]]["name_path"] == "/2025-2026/Lettres \"classiques\" d'été"
    assert names[site.ids["maths"]]["name"] == "Maths "


def test_courses_of_a_session(site, conf, dbconf):
    ws, db = ok(conf, "source", site.ids["s25"]), ok(dbconf, "source", site.ids["s25"])
    assert ws["courses"] == as_ws(db["courses"])
    assert len(ws["courses"]) == 7
    assert ws["single"] == ws["courses"]
    assert ws["missing"] == 1 and ws["site_course"] == 1
    got = {c["id"]: c for c in ws["courses"]}
    c = site.c
    assert got[c["amp"]]["shortname"] == "R&D-1" and got[c["amp"]]["idnumber"] == "R&D"
    assert got[c["amp"]]["fullname"] == "Recherche & Développement \"appliqué\" l'été"
    assert got[c["lt"]]["shortname"] == "A < B" and got[c["lt"]]["fullname"] == "a < b > c, 5 > 3"
    assert got[c["html"]]["fullname"] == "Histoire moderne & Géographie"
    assert got[c["lt"]]["sections"] == 6 and got[c["lt"]]["activities"] == 0
    assert (got[c["math1"]]["sections"], got[c["math1"]]["activities"]) == (4, 3)
    # the module being deleted is not listed by core_course_get_contents
    assert got[c["deleting"]]["activities"] == 2
    assert got[c["hidden"]]["visible"] == 0 and got[c["top"]]["enddate"] == 1900000000
    assert all(x["estimate"] == 0 for x in ws["courses"])


def test_courses_of_subtrees_and_flat(site, conf, dbconf):
    for cat in ("maths", "sci", "let", "s24"):
        ws, db = ok(conf, "source", site.ids[cat]), ok(dbconf, "source", site.ids[cat])
        assert ws["courses"] == as_ws(db["courses"]), cat
    ws = ok(conf, "source", site.ids["s25"], "flat")
    assert [c["id"] for c in ws["courses"]] == [site.c["top"]]
    ws = ok(conf, "source", site.ids["sci"], "flat")
    assert [c["id"] for c in ws["courses"]] == sorted([site.c["hidden"], site.c["deleting"]])
    assert ok(conf, "source", 1)["courses"] == []


def test_unknown_category(site, conf):
    r = run_helper(conf, "source", 999999)
    assert r.returncode == 1 and "no category with id 999999 on 'http://127.0.0.1:" in r.stderr


def test_generated_session(site, conf, dbconf):
    desc = generate_session(site, "2023-2024", n_categories=8, n_courses=20, file_sizes=(100, 2000), seed=3)
    ws = ok(conf, "source", desc["session_category"])
    db = ok(dbconf, "source", desc["session_category"])
    assert len(ws["courses"]) == 20
    assert {x["id"] for x in ws["courses"]} == {x["id"] for x in desc["courses"]}
    assert ws["courses"] == as_ws(db["courses"])
    assert ws["single"] == ws["courses"]
    short = {x["id"]: x["shortname"] for x in ws["courses"]}
    assert short[desc["tricky"]["html"]] == 'HIST "Moderne" & Géo 2024'
    assert short[desc["tricky"]["quote"]] == "L'anglais d'aujourd'hui 2024"
    assert short[desc["tricky"]["slash"]] == "PHY/CHIM-2024"


def test_selection_rule(site, server, root, dbconf):
    """url and token_file alone: web services; with moodle or db the database is read, url is wwwroot."""
    tf = write_secret(root / "sel.token", site.token)
    c = write_private(root / "sel1.conf", "[source]\nmoodle = %s\nphp = %s\nurl = %s\ntoken_file = %s\n"
                   % (site.site_dir, PHP, server[0], tf))
    d = ok(c)
    assert d["remote"] is False and d["site"]["site_hash"] == hashlib.md5(site.siteidentifier.encode()).hexdigest()
    pw = write_secret(root / "sel.pw", site.dbpass)
    c = write_private(root / "sel2.conf", "[archive]\ndb = mysql://%s@localhost/%s?socket=%s\ndb_password_file = %s\n"
                   "url = %s\ntoken_file = %s\n" % (site.dbuser, site.dbname, site.server.socket, pw, server[0], tf))
    d = ok(c, "archive")
    assert d["remote"] is False and d["site"]["wwwroot"] == server[0]
    # the archive section chooses the same way
    d = ok(ws_conf(root, server[0], site.token, name="arch.conf", section="archive"), "archive")
    assert d["remote"] is True
    # url alone is no platform to read
    c = write_private(root / "sel3.conf", "[source]\nurl = %s\n" % server[0])
    r = run_helper(c)
    assert r.returncode == 2 and "no Moodle directory" in r.stderr


# ------------------------------------------------------------------ errors
def test_wrong_token(site, server, root):
    wrong = "f" * 32 if site.token != "f" * 32 else "e" * 32
    r = run_helper(ws_conf(root, server[0], wrong, name="wrong.conf"))
    assert r.returncode == 5, r.stderr
    assert ("'%s' refused core_webservice_get_site_info: Invalid token - token not found (invalidtoken)"
            % server[0]) in r.stderr
    for out in (r.stdout, r.stderr, server[1].read_text()):
        assert wrong not in out and site.token not in out


def test_token_file_problems(site, server, root):
    c = write_private(root / "notf.conf", "[source]\nurl = %s\ntoken_file = %s\n" % (server[0], root / "none.token"))
    r = run_helper(c)
    assert r.returncode == 2 and "none.token" in r.stderr
    # a token readable by others: refused when the config is loaded
    tf = write_secret(root / "open.token", site.token)
    os.chmod(str(tf), 0o644)
    c = write_private(root / "open.conf", "[source]\nurl = %s\ntoken_file = %s\n" % (server[0], tf))
    r = run_helper(c)
    assert r.returncode == 2 and site.token not in r.stdout + r.stderr


def test_service_without_a_function(site, server, root):
    t = site.create_ws_token(functions=FakeSite.WS_FUNCTIONS[:3], service="partial")
    r = run_helper(ws_conf(root, server[0], t, name="partial.conf"))
    assert r.returncode == 5
    assert "does not allow core_course_get_contents" in r.stderr and t not in r.stdout + r.stderr


def test_nothing_listening(root):
    url = "http://127.0.0.1:%d" % free_port()
    t = time.monotonic()
    r = run_helper(ws_conf(root, url, "a" * 32, name="dead.conf"))
    assert r.returncode == 5
    assert time.monotonic() - t < 5
    assert "cannot reach '%s' (core_webservice_get_site_info): " % url in r.stderr
    assert "a" * 32 not in r.stderr


@pytest.fixture(scope="module")
def odd_server(root):
    """A server whose server.php answers per ?case=: not JSON, nothing, an error status, too much."""
    d = root / "odd"
    d.mkdir()
    (d / "server.php").write_text(
        "<?php\n"
        "$case = basename(dirname($_SERVER['SCRIPT_NAME'], 3));\n"
        "if ($case === 'html') { echo \"<html><body>Notice: Undefined index wstoken</body></html>\\n\"; }\n"
        "else if ($case === 'php') { echo \"PHP Warning: oops\\n\" . json_encode(array('release' => '4.5')); }\n"
        "else if ($case === 'echo') { echo '{\"exception\": \"moodle_exception\", \"errorcode\": \"x\", '"
        " . '\"message\": \"bad token ' . $_POST['wstoken'] . '\"}'; }\n"
        "else if ($case === 'status') { http_response_code(503); echo '{}'; }\n"
        "else if ($case === 'big') { $b = str_repeat('x', 1 << 20);"
        " echo '[\"'; for ($i = 0; $i < 65; $i++) { echo $b; } echo '\"]'; }\n"
        "else if ($case === 'redirect') { header('Location: http://127.0.0.1:1/elsewhere'); http_response_code(302); }\n"
        "else if ($case === 'badversion') { echo json_encode(array('release' => '4.5', 'version' => 'v4',"
        " 'siteurl' => 'http://x')); }\n")
    for case in ("html", "php", "echo", "status", "big", "redirect", "badversion"):
        (d / case / "webservice" / "rest").mkdir(parents=True)
        (d / case / "webservice" / "rest" / "server.php").symlink_to(d / "server.php")
    with php_server(d, root / "odd.log") as url:
        yield url


@pytest.mark.parametrize("case,want", [
    ("html", "cannot read the answer of '{url}' to core_webservice_get_site_info: not JSON (line 1: "),
    ("php", "cannot read the answer of '{url}' to core_webservice_get_site_info: not JSON"),
    ("echo", "'{url}' refused core_webservice_get_site_info: (not shown) (x)"),
    ("status", "'{url}/webservice/rest/server.php' answered core_webservice_get_site_info with HTTP status 503"),
    ("big", "the answer of '{url}' to core_webservice_get_site_info is larger than 64 MiB"),
    ("redirect", "answered core_webservice_get_site_info with HTTP status 302"),
    ("badversion", "'version' is not a Moodle version"),
])
def test_bad_answers(odd_server, root, case, want):
    token = "0123456789abcdef" * 2
    url = odd_server
    c = ws_conf(root, url + "/" + case, token, name="odd-%s.conf" % case)
    r = run_helper(c)
    assert r.returncode == 5, r.stderr
    assert want.format(url=url + "/" + case) in r.stderr, r.stderr
    assert token not in r.stdout + r.stderr


def test_tls_is_verified(root, tmp_path):
    """A self-signed certificate is refused: TLS verification stays on."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    httpd = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    th = threading.Thread(target=httpd.serve_forever, daemon=True)
    th.start()
    try:
        url = "https://127.0.0.1:%d" % httpd.server_address[1]
        r = run_helper(ws_conf(root, url, "b" * 32, name="tls.conf"))
        assert r.returncode == 5
        assert "cannot reach '%s'" % url in r.stderr and "certificate" in r.stderr, r.stderr
    finally:
        httpd.shutdown()
        httpd.server_close()
