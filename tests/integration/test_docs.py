"""The documentation that ships: the man pages cover every subcommand, every
option of the --help texts, every configuration key and the one exit-code
table (the same as README.md's and common/exitcode.h); the example
configuration names every key; groff formats the pages without a warning;
the completion and hook scripts work; `make install` / `make uninstall`
put everything in its place and take it away again.

Run: SA_BUILD=/work/main/build/asan /usr/bin/python3 -m pytest -q tests/integration/test_docs.py
"""

import os
import pathlib
import re
import shutil
import subprocess

import pytest

from harness.build import REPO, run_cli

MAN = REPO / "man"
MAN1 = MAN / "sessionarchiver.1"
MANFS = MAN / "sessionarchiverfs.1"
MAN5 = MAN / "sessionarchiver.conf.5"
EXAMPLES = REPO / "examples"


def roff(path):
    return path.read_text(encoding="utf-8")


def unescape(text):
    """roff text as a reader sees it: \\- is -, font changes vanish."""
    text = re.sub(r"\\f[BIRP]", "", text)
    return text.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "")


def subcommands():
    out = run_cli("--help", check=0).stdout
    block = out.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    names = [line.split()[0] for line in block.splitlines() if line.strip()]
    assert "doctor" in names and "init" in names
    return names


def long_options(help_text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", help_text))


# ------------------------------------------------------------------ commands
def test_every_subcommand_in_the_man_page(built):
    text = roff(MAN1)
    headings = re.findall(r"^\.(?:B|SS|SH)\s+(.*)$", text, re.M)
    for name in subcommands():
        assert any(re.match(r"%s(\s|\\f|$)" % re.escape(name), h)
                   for h in headings), \
            f"subcommand '{name}' has no .B entry in {MAN1}"


def test_every_option_in_the_man_page(built):
    text = unescape(roff(MAN1))
    missing = []
    for opt in long_options(run_cli("--help", check=0).stdout):
        if opt not in text:
            missing.append(f"global {opt}")
    for name in subcommands():
        out = run_cli(name, "--help", check=0).stdout
        assert out.startswith(f"usage: sessionarchiver {name}")
        for opt in long_options(out):
            if opt not in text:
                missing.append(f"{name} {opt}")
    assert not missing, f"options missing from {MAN1}: {missing}"


def test_sessionarchiverfs_options_in_its_man_page(built):
    from harness.build import FSBIN
    out = subprocess.run([str(FSBIN), "--help"], capture_output=True,
                         text=True).stdout
    text = unescape(roff(MANFS))
    for opt in re.findall(r"-o ([a-z_]+)", out):
        assert f"-o {opt}" in text, opt
    for opt in ("-f", "-d", "--help", "--version"):
        assert opt in text, opt
    # the tree and the control language
    for word in ("status.json", "control", "plan", "report", "log",
                 "user.sessionarchiver.state", "EINVAL", "EBUSY", "EPERM",
                 "archive [jobs=N]", "verify [deep]", "pause"):
        assert word in text, word


def test_json_outputs_documented():
    text = unescape(roff(MAN1))
    section = text.split(".SH JSON OUTPUT", 1)[1].split(".SH ", 1)[0]
    for cmd in ("status --json", "list --json", "check --json",
                "plan archive --json", "inspect --json", "doctor --json"):
        assert cmd in section, cmd
    for field in ('"running"', '"sessions"', '"last_error"', '"verdict"',
                  '"problems"', '"original_course_id"', '"checks"',
                  '"hint"'):
        assert field in section, field


def test_environment_documented():
    text = unescape(roff(MAN1))
    env = text.split(".SH ENVIRONMENT", 1)[1].split(".SH ", 1)[0]
    assert "SA_NOW" in env and "tests only" in env.replace("\n", " ")
    assert "SA_MAIL_CAFILE" in env
    hooks = text.split(".SH HOOKS", 1)[1].split(".SH ", 1)[0]
    for var in ("SA_SESSION", "SA_SOURCE_COURSE_ID", "SA_ARCHIVE_COURSE_ID",
                "SA_SHORTNAME", "SA_MBZ", "SA_MOODLE"):
        assert var in hooks, var


# ------------------------------------------------------------------ config keys
def config_keys():
    """(section, key) of every entry of common/config.c's key table."""
    src = (REPO / "common" / "config.c").read_text()
    keys = re.findall(r'K\("([a-z_]+)",\s*"([a-z_]+)"', src)
    macro = re.search(r"#define PLATFORM_KEYS\(sec, p\)(.*?)\n\n", src,
                      re.S).group(1)
    platform = re.findall(r'K\(sec,\s*"([a-z_]+)"', macro)
    for section in re.findall(r'PLATFORM_KEYS\("([a-z_]+)"', src):
        keys += [(section, k) for k in platform]
    assert ("store", "path") in keys and ("archive", "token_file") in keys
    assert len(keys) == len(set(keys))
    return keys


def man5_sections():
    """{section name: its roff text} from the .SH [x] (and [x] and [y])
    headings of sessionarchiver.conf.5."""
    parts = re.split(r"^\.SH\s+(.*)$", roff(MAN5), flags=re.M)
    out = {}
    for title, body in zip(parts[1::2], parts[2::2]):
        for name in re.findall(r"\[([a-z_]+)\]", title):
            out[name] = body
    return out


def test_every_key_in_the_conf_man_page():
    sections = man5_sections()
    missing = []
    for section, key in config_keys():
        body = sections.get(section, "")
        if not re.search(r"^\.B\s+%s\s*$" % re.escape(key), body, re.M):
            missing.append(f"[{section}] {key}")
    assert not missing, f"keys missing from {MAN5}: {missing}"


def example_keys():
    section, keys = None, set()
    for line in (EXAMPLES / "sessionarchiver.conf").read_text().splitlines():
        m = re.match(r"^\[([a-z_]+)\]\s*$", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^([a-z_]+)\s*=", line)
        if m:
            keys.add((section, m.group(1)))
    return keys


def test_every_key_in_the_example_configuration():
    have = example_keys()
    missing = [f"[{s}] {k}" for s, k in config_keys() if (s, k) not in have]
    assert not missing, f"keys missing from examples/sessionarchiver.conf: " \
                        f"{missing}"


def test_example_configuration_parses(built, tmp_path):
    """The example, with its paths, is a valid configuration."""
    conf = tmp_path / "sa.conf"
    shutil.copy(EXAMPLES / "sessionarchiver.conf", conf)
    conf.chmod(0o600)
    proc = run_cli("-c", conf, "status", "--store", tmp_path / "nothing")
    assert proc.returncode == 7, proc.stderr  # parsed; the store is missing


# ------------------------------------------------------------------ exit codes
def exitcode_h():
    src = (REPO / "common" / "exitcode.h").read_text()
    return {int(v): n for n, v in re.findall(r"(SA_EXIT_\w+)\s*=\s*(\d+)",
                                             src)}


def readme_table():
    text = (REPO / "README.md").read_text()
    section = text.split("### Exit codes", 1)[1]
    return {int(c): m.strip()
            for c, m in re.findall(r"^\|\s*(\d+)\s*\|\s*(.*?)\s*\|$",
                                   section, re.M)}


def man_table(path):
    text = roff(path)
    section = text.split(".SH EXIT STATUS", 1)[1].split("\n.SH ", 1)[0]
    return {int(c): unescape(m).strip()
            for c, m in re.findall(r"^\.TP\n\.B (\d+)\n(.*)$", section,
                                   re.M)}


def test_exit_codes_agree():
    codes = exitcode_h()
    readme = readme_table()
    assert sorted(codes) == list(range(len(codes)))
    assert sorted(readme) == sorted(codes), "README.md's exit-code table"
    for page in (MAN1, MANFS):
        assert man_table(page) == readme, page


# ------------------------------------------------------------------ formatting
@pytest.mark.parametrize("page", [MAN1, MANFS, MAN5], ids=lambda p: p.name)
def test_groff_without_warnings(page):
    if not shutil.which("groff"):
        pytest.skip("groff is not installed (Debian groff-base)")
    proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", str(page)],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    if shutil.which("man"):
        proc = subprocess.run(["man", "--warnings", "-l", str(page)],
                              capture_output=True, text=True,
                              env=dict(os.environ, MANWIDTH="80",
                                       MAN_KEEP_FORMATTING="0"))
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_every_page_has_examples():
    for page in (MAN1, MANFS, MAN5):
        assert "\n.SH EXAMPLES\n" in roff(page), page


# ------------------------------------------------------------------ scripts
def test_completion(built, tmp_path):
    script = REPO / "completion" / "sessionarchiver.bash"
    if not shutil.which("bash"):
        pytest.skip("bash missing")
    store = tmp_path / "store"
    index = tmp_path / "index.db"
    run_cli("init", "--store", store, check=0)
    for name in ("2024-2025", "2025-2026"):
        (store / name / ".session").mkdir(parents=True)
    run_cli("index", "--store", store, "--index", index, check=0)
    from harness.build import BUILD
    probe = f"""
source {script}
t() {{ COMP_WORDS=("$@"); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1));
      COMPREPLY=(); _sessionarchiver; echo "${{COMPREPLY[*]}}"; }}
t sessionarchiver ''
t sessionarchiver doctor --s
t sessionarchiver --store {store} --index {index} status ''
t sessionarchiver list --store {store} --index {index} 2025
t sessionarchiver purge --side a
"""
    proc = subprocess.run(["bash", "-c", probe], capture_output=True,
                          text=True,
                          env=dict(os.environ,
                                   PATH=f"{BUILD}:{os.environ['PATH']}",
                                   ASAN_OPTIONS="detect_leaks=0"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == subcommands()
    assert lines[1].split() == ["--send-test-mail", "--set", "--store",
                                "--syslog"]
    assert lines[2].split() == ["2024-2025", "2025-2026"]
    assert lines[3].split() == ["2025-2026"]
    assert lines[4].split() == ["archive"]


def test_hook_scripts(tmp_path):
    hooks = EXAMPLES / "hooks"
    for script in hooks.iterdir():
        assert os.access(script, os.X_OK), script
        assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    # the pre_backup example with its log and exclusion file moved here
    log, exclude = tmp_path / "pre.log", tmp_path / "exclude"
    text = (hooks / "pre-backup-log.sh").read_text()
    text = re.sub(r"^LOG=.*$", f"LOG={log}", text, flags=re.M)
    text = re.sub(r"^EXCLUDE=.*$", f"EXCLUDE={exclude}", text, flags=re.M)
    hook = tmp_path / "pre-backup"
    hook.write_text(text)
    exclude.write_text("# not these\nMATH-2\n42\n")

    def run(course_id, shortname):
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
               "SA_SESSION": "2025-2026", "SA_SOURCE_COURSE_ID": course_id,
               "SA_SHORTNAME": shortname, "SA_FULLNAME": "Maths 1",
               "SA_CATEGORY_PATH": "Sciences/Maths",
               "SA_MBZ": "/srv/a/2025-2026/Sciences/Maths/M.mbz",
               "SA_MOODLE": "/var/www/moodle"}
        return subprocess.run(["sh", str(hook)], env=env,
                              capture_output=True, text=True)

    assert run("1", "MATH-1").returncode == 0
    refused = run("2", "MATH-2")
    assert refused.returncode != 0 and "MATH-2" in refused.stdout
    assert run("42", "OTHER").returncode != 0
    lines = log.read_text().splitlines()
    assert len(lines) == 3 and "\tMATH-1\t" in lines[0]
    assert "refused" in lines[1] and "refused" in lines[2]
    # the post_restore example calls the bridge with the documented line
    text = (hooks / "post-restore-hide.sh").read_text()
    assert "hide-course --id=\"$SA_ARCHIVE_COURSE_ID\"" in \
        text.replace("\\\n\t", "").replace("\\\n", "")
    assert "share/sessionarchiver/sessionarchiver-bridge.php" in text


# ------------------------------------------------------------------ install
def test_make_install_and_uninstall(built, tmp_path):
    if not shutil.which("make"):
        pytest.skip("make missing")
    dest = tmp_path / "root"
    proc = subprocess.run(["make", "-s", "install", f"DESTDIR={dest}",
                           "PREFIX=/usr"], cwd=REPO, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    usr = dest / "usr"
    want = ["bin/sessionarchiver", "bin/sessionarchiverfs",
            "share/man/man1/sessionarchiver.1",
            "share/man/man1/sessionarchiverfs.1",
            "share/man/man5/sessionarchiver.conf.5",
            "share/bash-completion/completions/sessionarchiver",
            "share/doc/sessionarchiver/README.md"]
    want += ["share/doc/sessionarchiver/examples/" + p.name
             for p in EXAMPLES.iterdir() if p.is_file()]
    want += ["share/doc/sessionarchiver/examples/hooks/" + p.name
             for p in (EXAMPLES / "hooks").iterdir()]
    bridges = sorted((REPO / "moodle" / "bridge").glob("*.php")) \
        if (REPO / "moodle" / "bridge").is_dir() else []
    want += ["share/sessionarchiver/" + p.name for p in bridges]
    for rel in want:
        assert (usr / rel).is_file(), rel
    assert os.access(usr / "bin" / "sessionarchiver", os.X_OK)
    for p in (EXAMPLES / "hooks").iterdir():
        assert os.access(usr / "share/doc/sessionarchiver/examples/hooks"
                         / p.name, os.X_OK)
    comp = usr / "share/bash-completion/completions/sessionarchiverfs"
    assert comp.is_symlink() and comp.resolve().name == "sessionarchiver"
    assert (usr / "share/man/man1/sessionarchiver.1").read_bytes() == \
        MAN1.read_bytes()
    # the installed program runs
    proc = subprocess.run([str(usr / "bin" / "sessionarchiver"),
                           "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("sessionarchiver")

    proc = subprocess.run(["make", "-s", "uninstall", f"DESTDIR={dest}",
                           "PREFIX=/usr"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    left = [str(p.relative_to(dest)) for p in dest.rglob("*")
            if not p.is_dir()]
    assert left == [], left
