"""Send mail through the mailbox's own SMTP server (password or XOAUTH2), with plain errors.

Like providers.imap, every failure leaves as a ``UserError`` (fixable by the person: wrong
password, refused recipient, wrong security mode) or a ``ServiceError`` (timeout, server
trouble, "try later"), with the server's words and never a secret.
"""

from __future__ import annotations

import contextlib
import copy
import smtplib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from email.message import EmailMessage
from io import BytesIO
from typing import Any

from locales import _
from providers.errors import MailroomError, ServiceError, UserError
from providers.imap import Security, classify_connection_error, sanitise_server_words
from providers.netguard import connect_checked


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: Security
    username: str | None
    password: str | None = field(default=None, repr=False)
    # An OAuth access token: authenticate with XOAUTH2 instead of a password.
    access_token: str | None = field(default=None, repr=False)
    timeout: float = 20.0
    # The addresses ``host`` resolved to when it was checked (providers.netguard): connect
    # to these, never resolving the name again; ``host`` is then used for TLS only.
    addresses: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------
# Error classification
# ---------------------------------------------------------------------------------------


def _words(settings: SmtpSettings, code: int | None, text: bytes | str) -> str:
    decoded = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    words = sanitise_server_words(decoded, (settings.password, settings.access_token))
    return f"{code} {words}".strip() if code else words


def classify_smtp_error(
    exc: BaseException, settings: SmtpSettings, *, show_server_words: bool = True
) -> UserError | ServiceError:
    """Turn any exception from an SMTP exchange into a sentence for the person in Slack.

    ``show_server_words`` False (before AUTH was sent: the greeting, EHLO, STARTTLS) leaves
    the server's own words out, so a host someone typed cannot have its banner read back.
    """
    if isinstance(exc, UserError | ServiceError):
        return exc
    host, port = settings.host, settings.port
    if not show_server_words and isinstance(exc, smtplib.SMTPResponseException):
        return _refused_before_auth(settings, exc.smtp_code)
    connection = classify_connection_error(
        exc,
        "smtp",
        settings.host,
        settings.port,
        settings.timeout,
        settings.security,
        sanitise_server_words(str(exc)),
        # smtplib reports a read timeout as SMTPServerDisconnected raised from the TimeoutError.
        timed_out=isinstance(exc, TimeoutError) or isinstance(_underlying(exc), TimeoutError),
    )
    if connection is not None:
        return connection
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _auth_error(settings, _words(settings, exc.smtp_code, exc.smtp_error))
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return _recipients_error(settings, exc.recipients)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        words = _words(settings, exc.smtp_code, exc.smtp_error)
        if 400 <= exc.smtp_code < 500:
            return _try_later(settings, words)
        sender = exc.sender.decode() if isinstance(exc.sender, bytes) else exc.sender
        return UserError(
            _(
                'The SMTP server {host} refused to send as {sender}. The server said: "{words}" '
                "Use an address this account is allowed to send from."
            ).format(host=host, sender=sender, words=words),
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        text = str(exc)
        if "STARTTLS" in text.upper():
            return UserError(
                _(
                    "The SMTP server {host} port {port} does not offer STARTTLS. Choose SSL "
                    "(usually port 465) instead, or check the port."
                ).format(host=host, port=port),
                field="smtp_security",
            )
        if "AUTH" in text.upper():
            return UserError(
                _(
                    "The SMTP server {host} port {port} does not offer sign-in on this "
                    "connection. Servers usually offer it on port 587 with STARTTLS or on port "
                    "465 with SSL."
                ).format(host=host, port=port),
                field="smtp_security",
            )
        return ServiceError(
            _(
                "The SMTP server {host} port {port} does not support a feature we need ({text})."
            ).format(host=host, port=port, text=text),
            field="smtp_host",
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return ServiceError(
            _(
                "The SMTP server {host} port {port} closed the connection unexpectedly. Try "
                "again in a few minutes; if it keeps happening, check the port and security "
                "setting."
            ).format(host=host, port=port),
            field="smtp_host",
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        words = _words(settings, exc.smtp_code, exc.smtp_error)
        if 400 <= exc.smtp_code < 500:
            return _try_later(settings, words)
        return ServiceError(
            _(
                'The SMTP server {host} refused the message. The server said: "{words}" '
                "Check the message and recipients, or contact your mail provider."
            ).format(host=host, words=words),
        )
    if isinstance(exc, OSError):
        words = sanitise_server_words(str(exc))
        return ServiceError(
            _(
                "A network error stopped the connection to {host} port {port} ({words}). Try "
                "again in a few minutes."
            ).format(host=host, port=port, words=words),
            field="smtp_host",
        )
    words = sanitise_server_words(str(exc), (settings.password, settings.access_token))
    if not show_server_words:
        return ServiceError(
            _("Connecting to {host} port {port} failed. Try again later.").format(
                host=host, port=port
            ),
            field="smtp_host",
        )
    return ServiceError(
        _('Sending through {host} failed. The error was: "{words}" Try again later.').format(
            host=host, words=words
        )
    )


def _refused_before_auth(settings: SmtpSettings, code: int) -> UserError | ServiceError:
    """The greeting, EHLO or STARTTLS was refused: only the reply code is told, never the
    text, since nothing proves yet that the host is the mail server it was said to be."""
    host, port = settings.host, settings.port
    if 400 <= code < 500:
        return ServiceError(
            _(
                "The SMTP server {host} port {port} is not accepting connections right now "
                "(reply code {code}). Try again in a few minutes."
            ).format(host=host, port=port, code=code),
            field="smtp_host",
        )
    return UserError(
        _(
            "The server at {host} port {port} did not accept an SMTP session (reply code "
            "{code}). Check the host, the port and the security setting (usually 587 with "
            "STARTTLS, or 465 with SSL)."
        ).format(host=host, port=port, code=code),
        field="smtp_host",
    )


def _underlying(exc: BaseException) -> BaseException | None:
    return exc.__cause__ or exc.__context__


def _auth_error(settings: SmtpSettings, words: str) -> UserError:
    if settings.access_token:
        return UserError(
            _(
                "The SMTP server {host} refused the sign-in for {username}. "
                'The server said: "{words}" Reconnect the account to grant sending access again.'
            ).format(host=settings.host, username=settings.username, words=words),
            field="smtp_password",
        )
    return UserError(
        _(
            "The SMTP server {host} refused the username or password for "
            '{username}. The server said: "{words}" Check both; some providers need an '
            "app password when two-step verification is on."
        ).format(host=settings.host, username=settings.username, words=words),
        field="smtp_password",
    )


def _recipients_error(
    settings: SmtpSettings, refused: dict[str, tuple[int, bytes]]
) -> UserError | ServiceError:
    details = "; ".join(
        f"{address} ({_words(settings, code, text)})" for address, (code, text) in refused.items()
    )
    if refused and all(400 <= code < 500 for code, _text in refused.values()):
        return _try_later(settings, details)
    return UserError(
        _(
            "The SMTP server {host} refused the recipient {details}. Nothing was sent; "
            "check the address and send again."
        ).format(host=settings.host, details=details),
        field="recipients",
    )


def _try_later(settings: SmtpSettings, words: str) -> ServiceError:
    return ServiceError(
        _(
            "The SMTP server {host} asked us to try later: {words}. We will retry; "
            "nothing needs to change on your side."
        ).format(host=settings.host, words=words),
    )


# ---------------------------------------------------------------------------------------
# Connection
# ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def open_smtp(settings: SmtpSettings) -> Iterator[smtplib.SMTP]:
    """A connected, authenticated SMTP client; QUIT on the way out. Errors are classified."""
    smtp: smtplib.SMTP | None = None
    # Until AUTH is sent, whatever the host says is not shown (see classify_smtp_error).
    asked = False
    try:
        smtp = _connect(settings)
        asked = True
        _authenticate(smtp, settings)
        yield smtp
        smtp.quit()
        smtp = None
    except MailroomError:
        raise
    except Exception as exc:
        raise classify_smtp_error(exc, settings, show_server_words=asked) from exc
    finally:
        if smtp is not None:
            _close_quietly(smtp)


class _PinnedSMTP(smtplib.SMTP):
    """SMTP (and STARTTLS, whose server_hostname is ``host``) to checked addresses."""

    def __init__(self, host: str, port: int, addresses: tuple[str, ...], **kwargs: Any) -> None:
        self._addresses = addresses
        super().__init__(host, port, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return connect_checked(self._addresses, port, timeout)


class _PinnedSMTPSSL(smtplib.SMTP_SSL):
    """Implicit TLS to checked addresses, with SNI and the certificate check on ``host``."""

    def __init__(self, host: str, port: int, addresses: tuple[str, ...], **kwargs: Any) -> None:
        self._addresses = addresses
        super().__init__(host, port, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = connect_checked(self._addresses, port, timeout)
        try:
            # smtplib keeps the name it was given in _host (not in typeshed).
            return self.context.wrap_socket(sock, server_hostname=getattr(self, "_host"))  # noqa: B009
        except BaseException:
            sock.close()
            raise


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    smtp: smtplib.SMTP
    if settings.security == "ssl":
        context = ssl.create_default_context()
        if settings.addresses:
            smtp = _PinnedSMTPSSL(
                settings.host,
                settings.port,
                settings.addresses,
                timeout=settings.timeout,
                context=context,
            )
        else:
            smtp = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
    elif settings.addresses:
        smtp = _PinnedSMTP(
            settings.host, settings.port, settings.addresses, timeout=settings.timeout
        )
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        smtp.ehlo()
        if settings.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
            # The capabilities before STARTTLS are void (RFC 3207): ask again.
            smtp.ehlo()
    except BaseException:
        _close_quietly(smtp)
        raise
    return smtp


def _authenticate(smtp: smtplib.SMTP, settings: SmtpSettings) -> None:
    if settings.access_token:
        token = xoauth2_string(settings.username or "", settings.access_token)
        # On failure the server sends a 334 error challenge; the client must answer empty.
        smtp.auth("XOAUTH2", lambda challenge=None: token if challenge is None else "")
    elif settings.password is not None:
        smtp.login(settings.username or "", settings.password)
    # Neither: a relay that trusts our address; nothing to do.


def xoauth2_string(username: str, access_token: str) -> str:
    return f"user={username}\x01auth=Bearer {access_token}\x01\x01"


def _close_quietly(smtp: smtplib.SMTP) -> None:
    # After an error the connection is often already gone; QUIT is a courtesy only.
    try:
        smtp.quit()
    except Exception:
        with contextlib.suppress(Exception):
            smtp.close()


# ---------------------------------------------------------------------------------------
# Public operations
# ---------------------------------------------------------------------------------------


def check_login(settings: SmtpSettings) -> None:
    """Connect, EHLO, STARTTLS when asked, AUTH, QUIT; raise a classified error on failure."""
    with open_smtp(settings):
        pass


def send_message(
    settings: SmtpSettings, message: EmailMessage, *, sender: str, recipients: list[str]
) -> str:
    """Send ``message`` to ``recipients``; return the server's final reply ("250 ...").

    All or nothing: if the server refuses any recipient, the transaction is reset and a
    ``UserError`` names that address, so nobody gets a copy the sender did not mean.
    """
    if not recipients:
        raise UserError(_("Add at least one recipient before sending."), field="recipients")
    with open_smtp(settings) as smtp:
        # Non-ASCII envelope addresses need SMTPUTF8 and a UTF-8 rendering of the headers.
        international = not all(a.isascii() for a in (sender, *recipients))
        raw = flatten(message, international=international)
        options = mail_options(smtp, raw, international)
        code, text = smtp.mail(sender, options)
        if code != 250:
            _reset_quietly(smtp)
            raise smtplib.SMTPSenderRefused(code, text, sender)
        refused: dict[str, tuple[int, bytes]] = {}
        for recipient in recipients:
            code, text = smtp.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = (code, text)
        if refused:
            _reset_quietly(smtp)
            raise smtplib.SMTPRecipientsRefused(refused)
        code, text = smtp.data(raw)
        if code != 250:
            _reset_quietly(smtp)
            raise smtplib.SMTPDataError(code, text)
        return f"{code} {text.decode(errors='replace')}"


def flatten(message: EmailMessage, *, international: bool = False) -> bytes:
    """The bytes to send: CRLF line ends, no Bcc header."""
    outgoing = copy.copy(message)
    # Bcc recipients get the mail through the envelope; the header would reveal them.
    del outgoing["Bcc"]
    del outgoing["Resent-Bcc"]
    # An EmailMessage's policy is an EmailPolicy (which has utf8), typeshed says _PolicyBase.
    policy = outgoing.policy.clone(linesep="\r\n", utf8=international)  # type: ignore[call-arg]
    buffer = BytesIO()
    BytesGenerator(buffer, policy=policy).flatten(outgoing, linesep="\r\n")
    return buffer.getvalue()


def mail_options(smtp: smtplib.SMTP, raw: bytes, international: bool) -> list[str]:
    options: list[str] = []
    if international and smtp.has_extn("smtputf8"):
        options.append("SMTPUTF8")
    if (international or not raw.isascii()) and smtp.has_extn("8bitmime"):
        options.append("BODY=8BITMIME")
    return options


def _reset_quietly(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(smtplib.SMTPException, OSError):
        smtp.rset()
