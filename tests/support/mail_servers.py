"""Real mail servers for tests: a throwaway Dovecot (IMAP) and an aiosmtpd SMTP server.

Both listen on plain TCP at 127.0.0.1 so a subprocess app can reach them too. Dovecot runs
as an unprivileged instance with everything under a short temp dir (Unix socket paths have
a length limit); the SMTP server records what it accepts and can inject faults.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import ipaddress
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from imapclient import IMAPClient
from imapclient import exceptions as imap_exceptions

from tests.support.wait import wait_until

HOST = "127.0.0.1"


def pytest_configure(config: pytest.Config) -> None:
    # aiosmtpd warns on every connection that AUTH without TLS is unsafe: deliberate here,
    # on a loopback test server (as with Dovecot, loopback counts as secured).
    config.addinivalue_line(
        "filterwarnings", "ignore:Requiring AUTH while not requiring TLS:UserWarning"
    )


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it; we release it at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def find_dovecot() -> str | None:
    # /usr/sbin is often missing from PATH for non-login shells.
    found = shutil.which("dovecot")
    if found:
        return found
    return "/usr/sbin/dovecot" if os.access("/usr/sbin/dovecot", os.X_OK) else None


# ---------------------------------------------------------------------------------------
# Dovecot
# ---------------------------------------------------------------------------------------

_DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = {host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
# Failed logins are answered at once: tests check wrong passwords and must stay fast.
auth_failure_delay = 0
first_valid_uid = 1
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
mail_location = maildir:{root}/mail/%u
mail_fsync = never

service imap-login {{
  chroot =
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
}}
service anvil {{
  chroot =
  # No auth penalty: tests fail logins on purpose and must not be slowed down for it.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
protocol imap {{
  mail_max_userip_connections = 200
}}

passdb {{
  driver = passwd-file
  # One file per user: Dovecot rereads a known file at most once a second, but opens a
  # new user's file at once, so add_user takes effect immediately.
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
{oauth_passdb}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/mail/%u
}}

namespace inbox {{
  inbox = yes
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = create
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = create
  }}
}}
"""

_OAUTH_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/oauth2.conf.ext
}}
"""

_OAUTH_CONF = """\
introspection_url = {url}
introspection_mode = post
username_attribute = email
active_attribute = active
active_value = true
force_introspection = yes
"""


class DovecotServer:
    """A throwaway Dovecot IMAP server on a free loopback port (plain TCP, no TLS)."""

    def __init__(
        self,
        *,
        introspection_url: str | None = None,
        binary: str | None = None,
        extra_config: str = "",
    ) -> None:
        found = binary or find_dovecot()
        if found is None:
            raise RuntimeError("dovecot is not installed (apt-get install -y dovecot-imapd)")
        self.binary = found
        self.host = HOST
        self.port = free_port()
        self.introspection_url = introspection_url
        # Appended to the generated dovecot.conf (later settings override earlier ones):
        # e.g. a capability list without IDLE, or process limits for many sessions.
        self.extra_config = extra_config
        # Short path on purpose: Dovecot's Unix sockets live under it.
        self.root = Path(tempfile.mkdtemp(prefix="dv", dir="/tmp"))
        self.config_path = self.root / "dovecot.conf"
        self.users: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> DovecotServer:
        self._write_config()
        self._process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_until(
            self._ready,
            timeout=15,
            message=f"dovecot listening on {self.host}:{self.port} (log: {self.log_path})",
        )
        return self

    def restart(self) -> None:
        """Stop the server (every client connection drops) and start it again on the same
        port with the same users and mail, as after a server restart or crash."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(timeout=10)
        if process is not None and process.stderr is not None:
            process.stderr.close()
        wait_until(
            lambda: not port_accepts(self.host, self.port), timeout=10, message="dovecot down"
        )
        self._process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_until(self._ready, timeout=15, message="dovecot back after restart")

    def kick(self, address: str) -> None:
        """Disconnect every session of ``address`` at the server (doveadm kick)."""
        subprocess.run(
            [self._doveadm(), "-c", str(self.config_path), "kick", address],
            check=False,  # exit code 68: nobody was connected
            capture_output=True,
            timeout=30,
        )

    def _doveadm(self) -> str:
        doveadm = str(Path(self.binary).with_name("doveadm"))
        if not os.access(doveadm, os.X_OK):
            doveadm = shutil.which("doveadm") or "/usr/bin/doveadm"
        return doveadm

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process is not None and process.stderr is not None:
            process.stderr.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> DovecotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _ready(self) -> bool:
        assert self._process is not None
        if self._process.poll() is not None:
            stderr = (
                self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
            )
            raise RuntimeError(f"dovecot exited at start: {stderr}\n{self.log_text()}")
        return port_accepts(self.host, self.port)

    def _write_config(self) -> None:
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(exist_ok=True)
        # Dovecot's unprivileged processes must traverse the root and own the mail store.
        self.root.chmod(0o755)
        shutil.chown(self.root / "mail", user="dovecot", group="dovecot")
        mechanisms = "plain login"
        oauth_passdb = ""
        if self.introspection_url:
            mechanisms = "plain login xoauth2 oauthbearer"
            oauth_passdb = _OAUTH_PASSDB.format(root=self.root)
            (self.root / "oauth2.conf.ext").write_text(
                _OAUTH_CONF.format(url=self.introspection_url)
            )
        self.config_path.write_text(
            _DOVECOT_CONF.format(
                root=self.root,
                host=self.host,
                port=self.port,
                mechanisms=mechanisms,
                oauth_passdb=oauth_passdb,
            )
            + self.extra_config
        )
        self._write_users()

    # -- users ----------------------------------------------------------------------------

    def add_user(self, address: str, password: str) -> None:
        """Create (or re-password) a mailbox user; Dovecot rereads the passwd-file itself."""
        with self._lock:
            self.users[address] = password
            self._write_users()
        # A changed password is seen within a second or so: wait until Dovecot agrees.
        wait_until(
            lambda: self._can_login(address, password),
            timeout=10,
            interval=0.1,
            message=f"dovecot accepts the new user {address}",
        )

    def _can_login(self, address: str, password: str) -> bool:
        imap = IMAPClient(self.host, self.port, ssl=False, timeout=5)
        try:
            imap.login(address, password)
            return True
        except imap_exceptions.LoginError:
            return False
        finally:
            with contextlib.suppress(Exception):
                imap.logout()

    def _write_users(self) -> None:
        users_dir = self.root / "users"
        users_dir.mkdir(exist_ok=True)
        for user, password in self.users.items():
            # Write then rename, so Dovecot never reads a half-written file.
            tmp = users_dir / f".{user}.tmp"
            tmp.write_text(f"{user}:{{PLAIN}}{password}\n")
            tmp.chmod(0o644)
            tmp.replace(users_dir / user)

    # -- mailbox helpers (all through real IMAP, as the user) ------------------------------

    @contextlib.contextmanager
    def client(self, address: str) -> Iterator[IMAPClient]:
        """An IMAPClient logged in as ``address``."""
        imap = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        try:
            imap.login(address, self.users[address])
            yield imap
        finally:
            with contextlib.suppress(Exception):
                imap.logout()

    def append(
        self, address: str, raw: bytes, folder: str = "INBOX", flags: tuple[str, ...] = ()
    ) -> int | None:
        """Store a message; return its uid (Dovecot has UIDPLUS)."""
        with self.client(address) as imap:
            answer = imap.append(folder, raw, flags=flags)
        match = re.search(rb"APPENDUID \d+ (\d+)", answer or b"")
        return int(match.group(1)) if match else None

    def append_many(self, address: str, raws: list[bytes], folder: str = "INBOX") -> None:
        """Store many messages over one connection (fast set-up for big mailboxes)."""
        with self.client(address) as imap:
            for raw in raws:
                imap.append(folder, raw)

    def message_count(self, address: str, folder: str = "INBOX") -> int:
        with self.client(address) as imap:
            return int(imap.folder_status(folder, ["MESSAGES"])[b"MESSAGES"])

    def flags(self, address: str, folder: str = "INBOX") -> dict[int, tuple[str, ...]]:
        """uid -> flags, read without changing anything (readonly select)."""
        with self.client(address) as imap:
            imap.select_folder(folder, readonly=True)
            uids = imap.search(["ALL"])
            if not uids:
                return {}
            fetched = imap.fetch(uids, ["FLAGS"])
        return {
            uid: tuple(f.decode() if isinstance(f, bytes) else f for f in data[b"FLAGS"])
            for uid, data in fetched.items()
        }

    def uidvalidity(self, address: str, folder: str = "INBOX") -> int:
        with self.client(address) as imap:
            return int(imap.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])

    def set_uidvalidity_changed(self, address: str, folder: str = "INBOX") -> int:
        """Give ``folder`` a new UIDVALIDITY, as a server does after a rebuild; return it.

        doveadm changes it in place, keeping the messages: exactly what a client meets
        when a provider renumbers a folder.
        """
        new_value = self.uidvalidity(address, folder) + 1
        doveadm = str(Path(self.binary).with_name("doveadm"))
        if not os.access(doveadm, os.X_OK):
            doveadm = shutil.which("doveadm") or "/usr/bin/doveadm"
        subprocess.run(
            [
                doveadm,
                "-c",
                str(self.config_path),
                "mailbox",
                "update",
                "--uid-validity",
                str(new_value),
                "-u",
                address,
                folder,
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return new_value


def require_dovecot() -> None:
    """Skip when Dovecot is missing; under CI a missing server is a failure, not a skip."""
    if find_dovecot() is None:
        reason = "dovecot is not installed (apt-get install -y dovecot-imapd)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: a missing server is a failure under CI")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A started Dovecot shared by the whole session; tests use their own users."""
    require_dovecot()
    server = DovecotServer().start()
    try:
        yield server
    finally:
        server.stop()


class IntrospectionServer:
    """A fake OAuth identity provider's token introspection endpoint (RFC 7662).

    Dovecot's oauth2 passdb POSTs ``token=...`` here; a token in ``tokens`` answers
    ``{"active": true, "email": <address>}``, any other ``{"active": false}``.
    """

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                token = (form.get("token") or [""])[0]
                server.requests.append(self.path)
                email = server.tokens.get(token)
                body = (
                    json.dumps({"active": True, "email": email})
                    if email
                    else json.dumps({"active": False})
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                # Quiet: the request line would carry nothing useful, and tokens never.
                return

        self._httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._httpd.server_address[1]}/introspect"

    def start(self) -> IntrospectionServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="session")
def introspection() -> Iterator[IntrospectionServer]:
    server = IntrospectionServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def oauth_dovecot(introspection: IntrospectionServer) -> Iterator[DovecotServer]:
    """A Dovecot that also accepts XOAUTH2/OAUTHBEARER, checked against ``introspection``.

    Register a token with ``introspection.tokens[token] = address``.
    """
    require_dovecot()
    server = DovecotServer(introspection_url=introspection.url).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class MailUser:
    address: str
    password: str


@pytest.fixture
def mail_user(dovecot: DovecotServer) -> MailUser:
    """A fresh mailbox user in the session Dovecot, so tests never share a mailbox."""
    user = MailUser(address=f"u{uuid.uuid4().hex[:12]}@example.com", password=uuid.uuid4().hex)
    dovecot.add_user(user.address, user.password)
    return user


# ---------------------------------------------------------------------------------------
# SMTP (aiosmtpd)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    envelope_from: str
    recipients: list[str]
    raw: bytes
    message: EmailMessage
    auth_login: str | None


TokenValidator = Callable[[str], "str | None"]


class _Handler:
    """aiosmtpd handler: records mail, injects faults, adds XOAUTH2."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self,
        smtp: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        await self.server._wait_if_held()
        refused = self.server.refused_recipients.get(address.lower())
        if refused:
            return refused
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        await self.server._wait_if_held()
        fault = self.server._take_fault()
        if fault:
            return fault
        raw = bytes(envelope.original_content or b"")
        auth = session.auth_data
        login = auth.login if isinstance(auth, LoginPassword) else None
        mail = ReceivedMail(
            envelope_from=str(envelope.mail_from),
            recipients=list(envelope.rcpt_tos),
            raw=raw,
            message=message_from_bytes(raw, policy=email_policy.default),  # type: ignore[arg-type]
            auth_login=login.decode() if isinstance(login, bytes) else login,
        )
        with self.server._lock:
            self.server.messages.append(mail)
            queue_id = f"Q{len(self.server.messages):06d}"
        return f"250 OK queued as {queue_id}"

    async def auth_XOAUTH2(self, smtp: SMTP, args: list[str]) -> AuthResult:
        # Initial response in the command line, or after an empty challenge.
        if len(args) > 1:
            blob: Any = base64.b64decode(args[1])
        else:
            blob = await smtp.challenge_auth("")
            if not isinstance(blob, bytes):
                return AuthResult(success=False, handled=True)
        parts = dict(
            part.split("=", 1)
            for part in blob.decode(errors="replace").split("\x01")
            if "=" in part
        )
        user = parts.get("user", "")
        token = parts.get("auth", "").removeprefix("Bearer ").strip()
        address = self.server.token_validator(token)
        if address is not None and address.lower() == user.lower():
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        # RFC 7628 / Google: an error challenge, then the client answers empty, then 535.
        error = base64.b64encode(b'{"status":"401","schemes":"bearer"}').decode()
        await smtp.push(f"334 {error}")
        await smtp._reader.readline()  # pytype: disable=attribute-error
        return AuthResult(success=False, handled=False)


def self_signed_context(host: str) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for ``host``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    directory = Path(tempfile.mkdtemp(prefix="tls", dir="/tmp"))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    shutil.rmtree(directory, ignore_errors=True)
    return context


class SmtpServer:
    """aiosmtpd on 127.0.0.1, AUTH required (PLAIN, LOGIN, XOAUTH2), recording mail."""

    def __init__(
        self,
        users: dict[str, str] | None = None,
        *,
        token_validator: TokenValidator | None = None,
        tls: bool = False,
    ) -> None:
        self.users: dict[str, str] = dict(users or {})
        self.tokens: dict[str, str] = {}
        # Override to decide XOAUTH2 logins: token -> address, or None to refuse.
        self.token_validator: TokenValidator = token_validator or self._known_token
        self.messages: list[ReceivedMail] = []
        self.refused_recipients: dict[str, str] = {}
        self.host = HOST
        self.port = free_port()
        self._lock = threading.Lock()
        self._faults: list[str] = []
        self._released = threading.Event()
        self._released.set()
        self._waiting = threading.Event()
        # tls=True: implicit TLS (like port 465) with a self-signed certificate that clients
        # rightly refuse to trust; it exists to test certificate errors.
        self.ssl_context = self_signed_context(self.host) if tls else None
        self._controller = self._make_controller()

    def _make_controller(self) -> Controller:
        return Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            ssl_context=self.ssl_context,
            authenticator=self._authenticate,
            auth_required=True,
            auth_require_tls=False,
            decode_data=False,
        )

    def _known_token(self, token: str) -> str | None:
        return self.tokens.get(token)

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode(errors="replace")
            password = auth_data.password.decode(errors="replace")
            if login in self.users and self.users[login] == password:
                return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    # -- faults ---------------------------------------------------------------------------

    def fail_next(self, code: int, text: str, count: int = 1) -> None:
        """Answer the next ``count`` DATA commands with ``code text`` instead of accepting."""
        with self._lock:
            self._faults.extend([f"{code} {text}"] * count)

    def refuse_recipient(
        self, address: str, code: int = 550, text: str = "5.1.1 No such user"
    ) -> None:
        self.refused_recipients[address.lower()] = f"{code} {text}"

    def _take_fault(self) -> str | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def hold(self) -> None:
        """Stall every client at RCPT/DATA until ``release()`` (to kill a client mid-send)."""
        self._waiting.clear()
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def wait_until_held(self, timeout: float = 10.0) -> None:
        """Block until a client is stalled by ``hold()``."""
        wait_until(self._waiting.is_set, timeout=timeout, message="a client held at RCPT/DATA")

    async def _wait_if_held(self) -> None:
        if self._released.is_set():
            return
        self._waiting.set()
        # Poll instead of blocking: the event loop serves every connection.
        while not self._released.is_set():
            await asyncio.sleep(0.01)

    # -- results --------------------------------------------------------------------------

    def wait_for_messages(self, n: int, timeout: float = 10.0) -> list[ReceivedMail]:
        wait_until(
            lambda: len(self.messages) >= n, timeout=timeout, message=f"{n} messages received"
        )
        with self._lock:
            return list(self.messages)


@pytest.fixture
def tls_smtp_server() -> Iterator[SmtpServer]:
    """Like ``smtp_server`` but over implicit TLS with an untrusted self-signed certificate."""
    server = SmtpServer({"sender@example.com": "smtp-secret"}, tls=True).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A fresh recording SMTP server with one user, ``sender@example.com`` / ``smtp-secret``."""
    server = SmtpServer({"sender@example.com": "smtp-secret"}).start()
    try:
        yield server
    finally:
        server.stop()
