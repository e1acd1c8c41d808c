"""Mail through a real SMTP server (aiosmtpd): tools/mail.c driven by the
helper build/tests/sa-mailtest (config file + subject + body on stdin)."""
import os
import subprocess
import time

import pytest

from harness.build import BUILD, sanitizer_env
from harness.smtp import AUTH_PASSWORD, AUTH_USER

HELPER = BUILD / "tests" / "sa-mailtest"

SUBJECT = "Archivage 2025-2026 terminé : état ✓ — à vérifier"
BODY = ("Bonjour,\n"
        "\n"
        "l'archivage de la session 2025-2026 est terminé.\n"
        ".une ligne qui commence par un point\n"
        ".\n"
        "Cours : 1234 archivés, 0 en échec.\n")


def write_config(tmp_path, mail, mode=0o600):
    lines = ["[mail]"] + ["%s = %s" % kv for kv in mail.items()]
    path = tmp_path / "sa.conf"
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, mode)
    return path


def write_secret(tmp_path, secret, mode=0o600, name="smtp-password"):
    path = tmp_path / name
    path.write_text(secret + "\n")
    os.chmod(path, mode)
    return path


def send(config, subject=SUBJECT, body=BODY, env=None, timeout=60):
    assert HELPER.exists(), f"{HELPER} missing: run make unit-tests"
    start = time.monotonic()
    proc = subprocess.run([str(HELPER), str(config), subject],
                          input=body.encode(), capture_output=True,
                          env=sanitizer_env(env), timeout=timeout)
    proc.elapsed = time.monotonic() - start
    proc.out = (proc.stdout + proc.stderr).decode(errors="replace")
    assert "Sanitizer" not in proc.out, proc.out
    return proc


def test_plain_delivery(tmp_path, smtp_server):
    cfg = write_config(tmp_path, {
        "url": smtp_server.url,
        "from": "sessionarchiver@moodle.example.org",
        "to": "admin@example.org, moodle-team@example.org ,third@example.net",
        "starttls": "no",
    })
    proc = send(cfg)
    assert proc.returncode == 0, proc.out
    (mail,) = smtp_server.wait_for(1)
    assert mail.mail_from == "sessionarchiver@moodle.example.org"
    assert mail.rcpt_tos == ["admin@example.org", "moodle-team@example.org",
                             "third@example.net"]
    msg = mail.message
    assert msg["Subject"] == SUBJECT
    assert msg["From"] == "sessionarchiver@moodle.example.org"
    assert [a.addr_spec for a in msg["To"].addresses] == mail.rcpt_tos
    assert msg["Date"].datetime is not None
    assert msg["Message-ID"].endswith("@moodle.example.org>")
    assert msg["MIME-Version"] == "1.0"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg["Content-Transfer-Encoding"] == "8bit"
    # dot-stuffing undone by the server, CRLF lines on the wire
    assert msg.get_content().replace("\r\n", "\n") == BODY
    assert b"=?UTF-8?B?" in mail.raw
    assert b"\r\n\r\n" in mail.raw
    for line in mail.raw.split(b"\r\n"):
        assert b"\n" not in line and b"\r" not in line
        assert len(line) <= 998


def test_long_subject_and_body_lines(tmp_path, smtp_server):
    cfg = write_config(tmp_path, {
        "url": smtp_server.url, "from": "sa@example.org",
        "to": "admin@example.org", "starttls": "no"})
    subject = "Réintégration " * 20 + "fin"
    body = "é" * 3000 + "\n" + "x" * 2500 + "\n"
    proc = send(cfg, subject=subject, body=body)
    assert proc.returncode == 0, proc.out
    (mail,) = smtp_server.wait_for(1)
    assert mail.message["Subject"] == subject
    for line in mail.raw.split(b"\r\n"):
        assert len(line) <= 998
    # long lines are broken, never inside a character
    text = mail.message.get_content().replace("\r\n", "").replace("\n", "")
    assert text == "é" * 3000 + "x" * 2500


def test_header_injection_in_subject(tmp_path, smtp_server):
    cfg = write_config(tmp_path, {
        "url": smtp_server.url, "from": "sa@example.org",
        "to": "admin@example.org", "starttls": "no"})
    proc = send(cfg, subject="hello\r\nBcc: victim@example.org")
    assert proc.returncode == 0, proc.out
    (mail,) = smtp_server.wait_for(1)
    assert mail.message["Bcc"] is None
    assert mail.rcpt_tos == ["admin@example.org"]


def test_starttls_and_auth(tmp_path, smtp_server_auth):
    srv = smtp_server_auth
    pw = write_secret(tmp_path, AUTH_PASSWORD)
    cfg = write_config(tmp_path, {
        "url": "smtp://localhost:%d" % srv.port,
        "from": "sa@example.org", "to": "admin@example.org",
        "starttls": "yes", "username": AUTH_USER, "password_file": pw})
    proc = send(cfg, env={"SA_MAIL_CAFILE": srv.cafile})
    assert proc.returncode == 0, proc.out
    assert AUTH_PASSWORD not in proc.out
    (mail,) = srv.wait_for(1)
    assert mail.tls
    assert mail.login == AUTH_USER
    assert mail.message["Subject"] == SUBJECT


def test_wrong_password_does_not_leak(tmp_path, smtp_server_auth):
    srv = smtp_server_auth
    wrong = "not-the-password-5f3a9c"
    pw = write_secret(tmp_path, wrong)
    cfg = write_config(tmp_path, {
        "url": "smtp://localhost:%d" % srv.port,
        "from": "sa@example.org", "to": "admin@example.org",
        "username": AUTH_USER, "password_file": pw})
    proc = send(cfg, env={"SA_MAIL_CAFILE": srv.cafile})
    assert proc.returncode == 1
    assert "cannot send mail through" in proc.out
    assert wrong not in proc.out and AUTH_PASSWORD not in proc.out
    assert srv.auth_failures >= 1
    assert srv.messages == []


def test_untrusted_certificate_refused(tmp_path, smtp_server_starttls):
    srv = smtp_server_starttls
    cfg = write_config(tmp_path, {
        "url": "smtp://localhost:%d" % srv.port,
        "from": "sa@example.org", "to": "admin@example.org"})
    proc = send(cfg, env={"SA_MAIL_CAFILE": ""})
    assert proc.returncode == 1
    assert "cannot send mail through" in proc.out
    assert srv.messages == []


def test_starttls_off_against_a_server_requiring_it(tmp_path,
                                                    smtp_server_starttls):
    srv = smtp_server_starttls
    cfg = write_config(tmp_path, {
        "url": srv.url, "from": "sa@example.org", "to": "admin@example.org",
        "starttls": "no"})
    proc = send(cfg)
    assert proc.returncode == 1
    assert srv.messages == []


def test_group_readable_password_file_refused(tmp_path, smtp_server_auth):
    srv = smtp_server_auth
    pw = write_secret(tmp_path, AUTH_PASSWORD, mode=0o640)
    cfg = write_config(tmp_path, {
        "url": "smtp://localhost:%d" % srv.port,
        "from": "sa@example.org", "to": "admin@example.org",
        "username": AUTH_USER, "password_file": pw})
    proc = send(cfg, env={"SA_MAIL_CAFILE": srv.cafile})
    assert proc.returncode == 1
    assert str(pw) in proc.out and "0640" in proc.out, proc.out
    assert AUTH_PASSWORD not in proc.out
    assert srv.messages == []


def test_group_readable_password_file_refused_when_sending(tmp_path,
                                                           smtp_server_auth):
    # loosened after the config was loaded: mail_send reads it again
    srv = smtp_server_auth
    pw = write_secret(tmp_path, AUTH_PASSWORD, mode=0o600)
    cfg = write_config(tmp_path, {
        "url": "smtp://localhost:%d" % srv.port,
        "from": "sa@example.org", "to": "admin@example.org",
        "username": AUTH_USER, "password_file": pw})
    os.chmod(pw, 0o604)
    proc = send(cfg, env={"SA_MAIL_CAFILE": srv.cafile})
    assert proc.returncode == 1
    assert str(pw) in proc.out and "0604" in proc.out, proc.out
    assert AUTH_PASSWORD not in proc.out


def test_readable_config_naming_a_password_file_refused(tmp_path,
                                                        smtp_server_auth):
    srv = smtp_server_auth
    pw = write_secret(tmp_path, AUTH_PASSWORD)
    cfg = write_config(tmp_path, {
        "url": "smtp://localhost:%d" % srv.port,
        "from": "sa@example.org", "to": "admin@example.org",
        "username": AUTH_USER, "password_file": pw}, mode=0o644)
    proc = send(cfg, env={"SA_MAIL_CAFILE": srv.cafile})
    assert proc.returncode == 1
    assert str(cfg) in proc.out and "0644" in proc.out, proc.out
    assert srv.messages == []


def test_dead_server_fails_cleanly(tmp_path, dead_smtp_port):
    cfg = write_config(tmp_path, {
        "url": "smtp://127.0.0.1:%d" % dead_smtp_port,
        "from": "sa@example.org", "to": "admin@example.org",
        "starttls": "no"})
    proc = send(cfg, timeout=90)
    assert proc.returncode == 1
    assert "cannot send mail through 'smtp://127.0.0.1:%d'" % dead_smtp_port \
        in proc.out, proc.out
    assert proc.elapsed < 30


def test_bad_config_reported_with_line(tmp_path):
    cfg = tmp_path / "sa.conf"
    cfg.write_text("[mail]\nurl = http://example.org\n")
    proc = send(cfg)
    assert proc.returncode == 1
    assert "%s:2: bad value for 'url'" % cfg in proc.out, proc.out
