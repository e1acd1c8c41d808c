"""A throw-away SMTP server for the integration tests (Debian python3-aiosmtpd).

Python API::

    srv = SMTPServer(tmpdir, starttls=True, auth=("user", "pw"))
    srv.start()            # aiosmtpd Controller on 127.0.0.1, a free port
    srv.url                # "smtp://127.0.0.1:PORT"
    srv.cafile             # PEM of the self-signed cert (starttls only)
    srv.messages           # [Received], one per accepted mail
    srv.wait_for(1)        # blocks until that many mails arrived
    srv.stop()

Each ``Received`` keeps ``mail_from``, ``rcpt_tos``, ``raw`` (bytes as
received), ``message`` (``email.message.EmailMessage``), ``tls`` (STARTTLS
was on) and ``login`` (the authenticated user name, or None).

With ``starttls=True`` the server has a fresh self-signed certificate for
localhost and 127.0.0.1 (made with the ``openssl req -x509`` CLI) and
refuses MAIL before STARTTLS. With ``auth=(user, password)`` it offers
AUTH PLAIN and LOGIN, only after TLS, and accepts that one pair only.

pytest fixtures (enable with ``pytest_plugins = ["harness.smtp"]``), all
function scope, always stopped, skipped with a reason when aiosmtpd (or, for
TLS, openssl) is missing:

    smtp_server           plain SMTP, no TLS, no AUTH
    smtp_server_starttls  STARTTLS required
    smtp_server_auth      STARTTLS required + AUTH (user "sa-mailer")
    smtp_server_factory   call it with SMTPServer's keyword arguments
    dead_smtp_port        a port on 127.0.0.1 where nothing listens
"""

import email
import email.policy
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult
except ImportError:  # pragma: no cover - reported by the fixtures
    Controller = None

AUTH_USER = "sa-mailer"
AUTH_PASSWORD = "Tr0ub4dor-&-3-sa-secret"


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(directory):
    """Self-signed cert + key for localhost/127.0.0.1; returns the paths."""
    openssl = shutil.which("openssl") or "/usr/bin/openssl"
    cert = os.path.join(directory, "smtp-cert.pem")
    key = os.path.join(directory, "smtp-key.pem")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2",
         "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return cert, key


class Received:
    def __init__(self, envelope, session):
        self.mail_from = envelope.mail_from
        self.rcpt_tos = list(envelope.rcpt_tos)
        raw = envelope.original_content or envelope.content
        self.raw = raw if isinstance(raw, bytes) else raw.encode()
        self.message = email.message_from_bytes(
            self.raw, policy=email.policy.default)
        self.tls = session.ssl is not None
        data = getattr(session, "auth_data", None)
        self.login = data.login.decode() if data is not None else None

    def __repr__(self):
        return "Received(from=%r, to=%r, subject=%r)" % (
            self.mail_from, self.rcpt_tos, self.message["Subject"])


class _Handler:
    def __init__(self, server):
        self.server = server

    async def handle_DATA(self, server, session, envelope):
        with self.server._cond:
            self.server.messages.append(Received(envelope, session))
            self.server._cond.notify_all()
        return "250 OK"


class SMTPServer:
    def __init__(self, tmpdir, starttls=False, auth=None):
        if Controller is None:
            raise RuntimeError("python3-aiosmtpd is not installed")
        self.tmpdir = str(tmpdir)
        self.starttls = starttls
        self.auth = auth
        self.host = "127.0.0.1"
        self.port = None
        self.cafile = None
        self.messages = []
        self.auth_failures = 0
        self._cond = threading.Condition()
        self._controller = None

    @property
    def url(self):
        return "smtp://%s:%d" % (self.host, self.port)

    def _authenticate(self, server, session, envelope, mechanism, data):
        ok = (self.auth is not None
              and data.login == self.auth[0].encode()
              and data.password == self.auth[1].encode())
        if not ok:
            self.auth_failures += 1
            # handled=False: aiosmtpd answers 535 itself
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=data)

    def start(self):
        kwargs = {}
        if self.starttls:
            self.cafile, key = make_cert(self.tmpdir)
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.cafile, key)
            kwargs.update(tls_context=ctx, require_starttls=True)
        if self.auth is not None:
            kwargs.update(authenticator=self._authenticate,
                          auth_required=True, auth_require_tls=True)
        last = None
        for _ in range(5):  # the free port may be taken in between
            self.port = free_port()
            self._controller = Controller(
                _Handler(self), hostname=self.host, port=self.port,
                server_hostname="localhost", **kwargs)
            try:
                self._controller.start()
                return self
            except Exception as e:  # noqa: BLE001 - retried, then raised
                last = e
                self._controller = None
        raise RuntimeError("cannot start the SMTP server: %s" % last)

    def stop(self):
        if self._controller is not None:
            try:
                self._controller.stop()
            finally:
                self._controller = None

    def wait_for(self, count, timeout=10.0):
        """Waits until count mails arrived; returns the list."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "expected %d mail(s), got %d"
                        % (count, len(self.messages)))
                self._cond.wait(left)
            return list(self.messages)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _require(starttls):
    if Controller is None:
        pytest.skip("python3-aiosmtpd is not installed "
                    "(apt-get install python3-aiosmtpd)")
    if starttls and not (shutil.which("openssl")
                         or os.path.exists("/usr/bin/openssl")):
        pytest.skip("openssl CLI not installed: cannot make a certificate")


@pytest.fixture
def smtp_server_factory(tmp_path):
    servers = []

    def make(starttls=False, auth=None):
        _require(starttls)
        srv = SMTPServer(tmp_path, starttls=starttls, auth=auth)
        servers.append(srv)
        return srv.start()

    try:
        yield make
    finally:
        for srv in servers:
            srv.stop()


@pytest.fixture
def smtp_server(smtp_server_factory):
    return smtp_server_factory()


@pytest.fixture
def smtp_server_starttls(smtp_server_factory):
    return smtp_server_factory(starttls=True)


@pytest.fixture
def smtp_server_auth(smtp_server_factory):
    return smtp_server_factory(starttls=True,
                               auth=(AUTH_USER, AUTH_PASSWORD))


@pytest.fixture
def dead_smtp_port():
    return free_port()
