"""IMAP access for one mailbox: log in, watch folders cheaply, fetch without marking read.

Built on imapclient. Every failure leaves this module as a ``UserError`` (the person can fix
it: wrong password, wrong host, wrong security mode) or a ``ServiceError`` (server down,
timeout), with a sentence safe to show in Slack and never a secret in it.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import socket
import ssl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from types import TracebackType
from typing import Any, Literal

from imapclient import IMAPClient
from imapclient import exceptions as imap_exceptions
from imapclient import tls as imapclient_tls
from imapclient.imap4 import IMAP4WithTimeout

from locales import _
from providers.errors import MailroomError, ServiceError, UserError
from providers.netguard import connect_checked

log = logging.getLogger(__name__)

Security = Literal["ssl", "starttls", "none"]

# Usual Sent folder names, for servers that do not flag it with SPECIAL-USE \Sent.
SENT_FOLDER_NAMES: tuple[str, ...] = (
    "Sent",
    "Sent Items",
    "Sent Messages",
    "Sent Mail",
    "[Gmail]/Sent Mail",
    "[Google Mail]/Sent Mail",
    "INBOX.Sent",
    "INBOX/Sent",
    "INBOX.Sent Items",
    "INBOX.Sent Messages",
    "INBOX.Sent Mail",
    "Gesendet",
    "Enviados",
    "Elementos enviados",
    "Envoyés",
)

# imapclient puts every uid in the command line; Dovecot's line limit is 64 KB, so big
# uid lists go in slices of this many.
UIDS_PER_COMMAND = 1000

_AUTH_FAILED = re.compile(
    r"AUTHENTICATIONFAILED|AUTHORIZATIONFAILED|LOGIN failed|Authentication failed"
    r"|Invalid credentials|authentication error|Incorrect username or password"
    r"|password incorrect|Invalid login",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: Security
    username: str
    password: str | None = field(default=None, repr=False)
    # An OAuth access token: log in with XOAUTH2 instead of a password.
    access_token: str | None = field(default=None, repr=False)
    timeout: float = 20.0
    # The addresses ``host`` resolved to when it was checked (providers.netguard): connect
    # to these, never resolving the name again; ``host`` is then used for TLS only.
    # Empty: resolve ``host`` normally (servers from Mailroom's own settings).
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class FolderStatus:
    uidvalidity: int
    uidnext: int
    highestmodseq: int | None
    messages: int


@dataclass(frozen=True)
class FetchedMessage:
    uid: int
    raw: bytes
    size: int
    internaldate: datetime | None


# ---------------------------------------------------------------------------------------
# Error classification
# ---------------------------------------------------------------------------------------


def sanitise_server_words(text: str, secrets: Iterable[str | None] = (), limit: int = 300) -> str:
    """The server's words, fit to show a person: no secrets, no bytes noise, one line."""
    # imapclient stringifies bytes: "b'[AUTHENTICATIONFAILED] ...'" -> the text inside.
    text = re.sub(r"""\bb(['"])(.*?)\1""", r"\2", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return text


def _secrets(settings: Any) -> tuple[str | None, ...]:
    return (getattr(settings, "password", None), getattr(settings, "access_token", None))


def _quoted(words: str) -> str:
    """The server's own words as a sentence of their own (after a full sentence)."""
    return " " + _('The server said: "{words}"').format(words=words) if words else ""


# Per protocol: an example host name.
_USUAL = {"imap": "imap.example.com", "smtp": "smtp.example.com"}


def classify_connection_error(
    exc: BaseException,
    protocol: Literal["imap", "smtp"],
    host: str,
    port: int,
    timeout: float,
    security: Security,
    words: str,
    *,
    timed_out: bool,
) -> UserError | ServiceError | None:
    """The failures of reaching a mail server at all, worded the same for IMAP and SMTP:
    timeout, unknown host, refused port, untrusted certificate, TLS mismatch. None when
    ``exc`` is none of these (the protocol's own classifier goes on)."""
    name = protocol.upper()
    example = _USUAL[protocol]
    # Timeout first: a TLS handshake timeout is both an OSError and a timeout.
    if timed_out:
        return ServiceError(
            _(
                "The {name} server {host} port {port} did not answer within {timeout} seconds. "
                "It may be down or a firewall may block the port; try again in a few minutes, "
                "and check the port and security setting if it keeps happening."
            ).format(name=name, host=host, port=port, timeout=f"{timeout:g}"),
            field=f"{protocol}_host",
        )
    if isinstance(exc, socket.gaierror):
        return UserError(
            _(
                "We could not find the {name} server {host}. Check the spelling of the "
                "host name (for example {example})."
            ).format(name=name, host=host, example=example),
            field=f"{protocol}_host",
        )
    if isinstance(exc, ConnectionRefusedError):
        if protocol == "imap":
            refused = _(
                "Could not connect to {host} port {port}: connection refused. Check the host "
                "and port (usually 993 with SSL, or 143 with STARTTLS)."
            )
        else:
            refused = _(
                "Could not connect to {host} port {port}: connection refused. Check the host "
                "and port (usually 587 with STARTTLS, or 465 with SSL)."
            )
        return UserError(refused.format(host=host, port=port), field=f"{protocol}_host")
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = sanitise_server_words(exc.verify_message or str(exc))
        return UserError(
            _(
                "The {name} server {host} port {port} presented a certificate we cannot trust "
                "({detail}). Check that the host name is the one your provider gives for {name}."
            ).format(name=name, host=host, port=port, detail=detail),
            field=f"{protocol}_security",
        )
    if isinstance(exc, ssl.SSLError):
        return UserError(
            _("The secure (TLS) connection to {host} port {port} failed ({words}).").format(
                host=host, port=port, words=words
            )
            + " "
            + _security_hint(security, protocol),
            field=f"{protocol}_security",
        )
    return None


def classify_imap_error(
    exc: BaseException, settings: ImapSettings, *, show_server_words: bool = True
) -> UserError | ServiceError:
    """Turn any exception from an IMAP exchange into a sentence for the person in Slack.

    ``show_server_words`` False (nothing was asked of the server yet: connecting, reading
    its greeting) leaves the server's own words out: whatever answers on a host someone
    typed (an internal service's banner) must not be read back to them through Mailroom.
    """
    if isinstance(exc, UserError | ServiceError):
        return exc
    host, port, username = settings.host, settings.port, settings.username
    words = sanitise_server_words(str(exc), _secrets(settings))

    connection = classify_connection_error(
        exc,
        "imap",
        settings.host,
        settings.port,
        settings.timeout,
        settings.security,
        words,
        timed_out=isinstance(exc, TimeoutError),
    )
    if connection is not None:
        return connection
    if not show_server_words:
        words = ""
    if settings.access_token and "unsupported authentication mechanism" in words.lower():
        return UserError(
            _(
                "The IMAP server {host} does not accept sign-in with an access token (XOAUTH2)."
            ).format(host=host)
            + _quoted(words)
            + " "
            + _("Sign in with a password instead."),
            field="imap_password",
        )
    if _is_auth_failure(exc):
        if settings.access_token:
            return UserError(
                _("The IMAP server {host} refused the sign-in for {username}.").format(
                    host=host, username=username
                )
                + _quoted(words)
                + " "
                + _("Reconnect the account to grant access again."),
                field="imap_password",
            )
        return UserError(
            _("The IMAP server {host} refused the username or password for {username}.").format(
                host=host, username=username
            )
            + _quoted(words)
            + " "
            + _(
                "Check both; some providers need an app password when two-step verification is on."
            ),
            field="imap_password",
        )
    if "STARTTLS" in str(exc).upper():
        return UserError(
            _("The IMAP server {host} port {port} does not offer STARTTLS.").format(
                host=host, port=port
            )
            + _quoted(words)
            + " "
            + _("Choose SSL (usually port 993) instead."),
            field="imap_security",
        )
    if isinstance(exc, imaplib.IMAP4.abort | imap_exceptions.IMAPClientAbortError):
        return ServiceError(
            _("The connection to the IMAP server {host} port {port} was cut.").format(
                host=host, port=port
            )
            + _quoted(words)
            + " "
            + _("We will try again; if it keeps happening, check the server's status."),
            field="imap_host",
        )
    if isinstance(exc, OSError):
        return ServiceError(
            _("A network error stopped the connection to {host} port {port}.").format(
                host=host, port=port
            )
            + _quoted(words)
            + " "
            + _("Try again in a few minutes."),
            field="imap_host",
        )
    return ServiceError(
        _("The IMAP server {host} reported an error.").format(host=host)
        + _quoted(words)
        + " "
        + _("Try again later; if it persists, contact your mail provider."),
    )


def _is_auth_failure(exc: BaseException) -> bool:
    if isinstance(exc, imap_exceptions.LoginError):
        return True
    return isinstance(exc, imaplib.IMAP4.error) and bool(_AUTH_FAILED.search(str(exc)))


def _security_hint(security: Security, protocol: Literal["imap", "smtp"]) -> str:
    ports = {"imap": ("993", "143"), "smtp": ("465", "587")}[protocol]
    if security == "ssl":
        return _(
            "The port may expect a plain connection first: try STARTTLS (usually port "
            "{starttls_port}) or SSL on port {ssl_port}."
        ).format(starttls_port=ports[1], ssl_port=ports[0])
    if security == "starttls":
        return _("Try SSL instead (usually port {ssl_port}).").format(ssl_port=ports[0])
    return _(
        "Try SSL (usually port {ssl_port}) or STARTTLS (usually port {starttls_port})."
    ).format(ssl_port=ports[0], starttls_port=ports[1])


# ---------------------------------------------------------------------------------------
# Connection to checked addresses
# ---------------------------------------------------------------------------------------


class _PinnedIMAP4(IMAP4WithTimeout):  # type: ignore[misc]  # imapclient ships no types
    """Plain IMAP (and STARTTLS) to checked addresses; ``host`` stays the name, which
    imaplib's STARTTLS uses as server_hostname."""

    def __init__(
        self, host: str, port: int, timeout: float | None, addresses: tuple[str, ...]
    ) -> None:
        self._addresses = addresses
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return connect_checked(self._addresses, self.port, timeout or self._timeout)


class _PinnedIMAP4TLS(imapclient_tls.IMAP4_TLS):  # type: ignore[misc]  # (untyped base)
    """Implicit TLS to checked addresses, with SNI and the certificate check on ``host``."""

    def __init__(
        self,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        timeout: float | None,
        addresses: tuple[str, ...],
    ) -> None:
        self._addresses = addresses
        super().__init__(host, port, ssl_context, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = connect_checked(self._addresses, self.port, timeout or self._timeout)
        try:
            wrapped: socket.socket = imapclient_tls.wrap_socket(sock, self.ssl_context, self.host)
            return wrapped
        except BaseException:
            sock.close()
            raise


class PinnedIMAPClient(IMAPClient):  # type: ignore[misc]  # (untyped base)
    """IMAPClient that connects to the given addresses instead of resolving ``host``."""

    def __init__(self, host: str, *, addresses: tuple[str, ...] = (), **kwargs: Any) -> None:
        self._addresses = tuple(addresses)
        super().__init__(host, **kwargs)

    def _create_IMAP4(self) -> Any:  # imapclient's hook that builds the connection
        if not self._addresses or self.stream:
            return super()._create_IMAP4()
        timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _PinnedIMAP4TLS(self.host, self.port, self.ssl_context, timeout, self._addresses)
        return _PinnedIMAP4(self.host, self.port, timeout, self._addresses)


# ---------------------------------------------------------------------------------------
# Session
# ---------------------------------------------------------------------------------------


class ImapSession:
    """One logged-in IMAP connection. Every public method raises classified errors."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        # Tagged IMAP commands sent after the connection opened (login included).
        self.round_trips = 0
        self._selected: str | None = None
        self._selected_uidvalidity: int | None = None  # from the SELECT answer
        # The folder that IDLE kept up to date until the last DONE (push sessions).
        self._idle_view: str | None = None
        self._client: IMAPClient | None = None
        # Until the login is sent, whatever the host says is not shown (see classify).
        self._login_sent = False
        try:
            self._client = self._connect()
            self._login()
            if "CONDSTORE" in self.capabilities() and "ENABLE" in self.capabilities():
                # Without ENABLE some servers leave HIGHESTMODSEQ out of STATUS/SELECT.
                self._client.enable("CONDSTORE")
        except Exception as exc:
            self._close_quietly()
            raise self._classify(exc) from exc
        except BaseException:
            # KeyboardInterrupt and friends: close, but let them through unclassified.
            self._close_quietly()
            raise

    # -- connection -----------------------------------------------------------------------

    def _connect(self) -> IMAPClient:
        s = self.settings
        client = PinnedIMAPClient(
            s.host,
            addresses=s.addresses,
            port=s.port,
            ssl=s.security == "ssl",
            ssl_context=ssl.create_default_context() if s.security == "ssl" else None,
            timeout=s.timeout,
        )
        # Aware datetimes for INTERNALDATE instead of local-time naive ones.
        client.normalise_times = False
        self._count_commands(client)
        if s.security == "starttls":
            client.starttls(ssl.create_default_context())
        return client

    def _count_commands(self, client: IMAPClient) -> None:
        # Every tagged command, from imaplib or imapclient's own raw path, takes a new tag.
        imap = client._imap
        new_tag = imap._new_tag

        def counting_new_tag() -> bytes:
            self.round_trips += 1
            tag: bytes = new_tag()
            return tag

        imap._new_tag = counting_new_tag

    def _login(self) -> None:
        s = self.settings
        client = self._require_client()
        self._login_sent = True
        if s.access_token:
            client.oauth2_login(s.username, s.access_token)
        elif s.password is not None:
            client.login(s.username, s.password)
        else:
            raise UserError(
                _("Enter the IMAP password (or connect the account with Google or Microsoft)."),
                field="imap_password",
            )

    def _require_client(self) -> IMAPClient:
        if self._client is None:
            raise ServiceError(_("The IMAP connection is closed. Try again."), field="imap_host")
        return self._client

    def _classify(self, exc: BaseException) -> MailroomError:
        if isinstance(exc, MailroomError):
            return exc
        return classify_imap_error(exc, self.settings, show_server_words=self._login_sent)

    @contextlib.contextmanager
    def _classified(self) -> Iterator[IMAPClient]:
        client = self._require_client()
        try:
            yield client
        except MailroomError:
            raise
        except Exception as exc:
            raise self._classify(exc) from exc

    def _select_readonly(self, client: IMAPClient, folder: str, *, fresh: bool = True) -> None:
        # Readonly so nothing we do (even a server quirk) can clear \Recent or set \Seen.
        # Fresh by default: a server shows mail that arrived while a folder stays selected
        # only after a later command, so a reused selection can miss the newest message.
        if fresh and self._idle_view == folder == self._selected:
            # Just out of IDLE on this folder: the server kept the view current (a mail that
            # slipped in at DONE is announced again by the next IDLE), so skip a round trip.
            self._idle_view = None
            return
        if fresh or self._selected != folder:
            answer = client.select_folder(folder, readonly=True)
            self._selected = folder
            uidvalidity = answer.get(b"UIDVALIDITY")
            self._selected_uidvalidity = int(uidvalidity) if uidvalidity is not None else None
        self._idle_view = None

    # -- queries --------------------------------------------------------------------------

    def capabilities(self) -> set[str]:
        with self._classified() as client:
            return {c.decode() if isinstance(c, bytes) else str(c) for c in client.capabilities()}

    def find_sent_folder(self) -> str | None:
        """The Sent folder: the one flagged ``\\Sent`` first, else a usual name."""
        with self._classified() as client:
            return choose_sent_folder(client.list_folders())

    def status(self, folder: str) -> FolderStatus:
        """One STATUS command: the cheap "anything new?" probe, whatever the mailbox size."""
        with self._classified() as client:
            what = ["UIDVALIDITY", "UIDNEXT", "MESSAGES"]
            condstore = "CONDSTORE" in self.capabilities()
            if condstore:
                what.append("HIGHESTMODSEQ")
            answer = client.folder_status(folder, what)
        modseq = answer.get(b"HIGHESTMODSEQ")
        return FolderStatus(
            uidvalidity=int(answer[b"UIDVALIDITY"]),
            uidnext=int(answer[b"UIDNEXT"]),
            highestmodseq=int(modseq) if modseq is not None else None,
            messages=int(answer[b"MESSAGES"]),
        )

    def uids_after(self, folder: str, last_uid: int) -> list[int]:
        """UIDs greater than ``last_uid``, ascending."""
        with self._classified() as client:
            self._select_readonly(client, folder)
            found = client.search(["UID", f"{last_uid + 1}:*"])
        # "n:*" always matches the highest uid, even when it is below n.
        return sorted(uid for uid in found if uid > last_uid)

    def uids_since(self, folder: str, since: date) -> list[int]:
        """UIDs of messages received on or after ``since`` (for a first backfill)."""
        with self._classified() as client:
            self._select_readonly(client, folder)
            found = client.search(["SINCE", since])
        return sorted(found)

    def find_by_message_id(self, folder: str, message_id: str) -> list[int]:
        with self._classified() as client:
            self._select_readonly(client, folder)
            found = client.search(["HEADER", "Message-ID", message_id])
        return sorted(found)

    def fetch(
        self,
        folder: str,
        uids: Iterable[int],
        *,
        max_batch_bytes: int = 8 * 1024 * 1024,
        max_batch_count: int = 200,
    ) -> Iterator[FetchedMessage]:
        """Full messages in ascending uid order, never marking them read.

        imapclient holds a whole FETCH answer in memory, so batches are bounded by size
        (from RFC822.SIZE) as well as by count; a message bigger than the byte bound goes
        alone. Uids that vanished (expunged meanwhile) are skipped.
        """
        wanted = sorted(set(uids))
        if not wanted:
            return
        # One message goes alone whatever its size: no need to ask for it (one round trip
        # less on the push path, where a new mail is usually a single uid).
        batches = (
            [wanted]
            if len(wanted) == 1
            else plan_batches(self._sizes(folder, wanted), max_batch_bytes, max_batch_count)
        )
        for batch in batches:
            with self._classified() as client:
                # The caller may have selected another folder between two batches.
                self._select_readonly(client, folder, fresh=False)
                answer = client.fetch(batch, ["BODY.PEEK[]", "INTERNALDATE"])
            for uid in batch:
                data = answer.get(uid)
                if data is None or b"BODY[]" not in data:
                    continue
                raw = bytes(data[b"BODY[]"])
                internaldate = data.get(b"INTERNALDATE")
                yield FetchedMessage(
                    uid=uid,
                    raw=raw,
                    size=len(raw),
                    internaldate=internaldate if isinstance(internaldate, datetime) else None,
                )

    def _sizes(self, folder: str, uids: list[int]) -> list[tuple[int, int]]:
        sizes: list[tuple[int, int]] = []
        with self._classified() as client:
            self._select_readonly(client, folder)
            for start in range(0, len(uids), UIDS_PER_COMMAND):
                chunk = uids[start : start + UIDS_PER_COMMAND]
                answer = client.fetch(chunk, ["RFC822.SIZE"])
                sizes.extend(
                    (uid, int(answer[uid][b"RFC822.SIZE"]))
                    for uid in chunk
                    if uid in answer and b"RFC822.SIZE" in answer[uid]
                )
        return sizes

    # -- changes --------------------------------------------------------------------------

    def append(self, folder: str, raw: bytes, flags: Iterable[str] = ("\\Seen",)) -> int | None:
        """Store ``raw`` in ``folder``; return its uid when the server says (UIDPLUS)."""
        with self._classified() as client:
            answer = client.append(folder, raw, flags=tuple(flags))
        text = answer.decode(errors="replace") if isinstance(answer, bytes) else str(answer)
        match = re.search(r"APPENDUID \d+ (\d+)", text)
        return int(match.group(1)) if match else None

    # -- lifecycle ------------------------------------------------------------------------

    def logout(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except Exception as exc:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise self._classify(exc) from exc

    def _close_quietly(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:
            # The connection is often already gone when we get here; nothing to tell.
            with contextlib.suppress(Exception):
                client.shutdown()

    def __enter__(self) -> ImapSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close_quietly()

    # -- push (IDLE, RFC 2177) -------------------------------------------------------------
    # The push engine keeps this session open for hours: it puts INBOX in IDLE, watches the
    # socket from its selector thread (reading raw bytes, never imaplib's buffered file),
    # and takes the session back with ``idle_done`` before running ordinary commands.

    def has_idle(self) -> bool:
        return "IDLE" in self.capabilities()

    def socket(self) -> socket.socket:
        """The connected socket (TLS-wrapped when secure): for a selector, and raw reads
        while the server is in IDLE."""
        return self._require_client().socket()  # type: ignore[no-any-return]

    def select_readonly(self, folder: str) -> None:
        """Make ``folder`` the selected one (readonly) unless it already is."""
        with self._classified() as client:
            self._select_readonly(client, folder, fresh=False)

    def idle_view_uidvalidity(self, folder: str) -> int | None:
        """The UIDVALIDITY of ``folder`` when we have just left IDLE on it (its view is
        current, see ``_select_readonly``), else None. Lets a pushed sync skip STATUS: one
        round trip less between the server's EXISTS and the post."""
        if self._idle_view == folder == self._selected:
            return self._selected_uidvalidity
        return None

    def idle_start(self) -> bytes:
        """Send IDLE and wait for the server's go-ahead; return bytes the server already
        sent after it (read ahead by imaplib's buffer), for the caller's line parser.

        Leaves the socket non-blocking: from here on the caller reads it raw."""
        with self._classified() as client:
            client.idle()
            sock = client.socket()
            sock.setblocking(False)
            leftover = bytearray()
            reader = client._imap.file
            while True:
                try:
                    chunk = reader.read1(65536)
                except (BlockingIOError, ssl.SSLWantReadError):
                    break
                if not chunk:
                    break
                leftover += chunk
            return bytes(leftover)

    def idle_done(self, partial_line: bytes = b"") -> list[Any]:
        """Leave IDLE (DONE) and wait, at most the session timeout, for the server's OK.

        ``partial_line`` is the start of a line the caller read raw without its end; the
        rest is read first so imaplib's parser starts on a line boundary (imapclient
        issue #519). Returns the untagged responses that came before the OK."""
        with self._classified() as client:
            client._set_read_timeout()
            responses: list[Any] = []
            if partial_line:
                client._imap.file.readline()
            _text, responses = client.idle_done()
            self._idle_view = self._selected
            return responses

    def noop(self) -> None:
        """A round trip that proves the connection is alive."""
        with self._classified() as client:
            client.noop()


def plan_batches(
    sizes: Iterable[tuple[int, int]], max_batch_bytes: int, max_batch_count: int
) -> list[list[int]]:
    """Group (uid, size) pairs, in uid order, into batches bounded by bytes and count."""
    batches: list[list[int]] = []
    current: list[int] = []
    current_bytes = 0
    for uid, size in sorted(sizes):
        too_big = current and current_bytes + size > max_batch_bytes
        too_many = len(current) >= max_batch_count
        if too_big or too_many:
            batches.append(current)
            current, current_bytes = [], 0
        current.append(uid)
        current_bytes += size
    if current:
        batches.append(current)
    return batches


def choose_sent_folder(folders: Iterable[tuple[Iterable[Any], Any, Any]]) -> str | None:
    """Pick Sent from LIST answers (flags, delimiter, name): SPECIAL-USE, then names."""
    names: list[str] = []
    for flags, _delimiter, name in folders:
        lowered = {(f.decode() if isinstance(f, bytes) else str(f)).lower() for f in flags}
        if "\\sent" in lowered:
            return str(name)
        names.append(str(name))
    by_lower = {name.lower(): name for name in names}
    for candidate in SENT_FOLDER_NAMES:
        if candidate.lower() in by_lower:
            return by_lower[candidate.lower()]
    return None


def check_login(settings: ImapSettings) -> None:
    """Connect, log in and log out; raise a classified error if any step fails."""
    with ImapSession(settings) as session:
        session.logout()
