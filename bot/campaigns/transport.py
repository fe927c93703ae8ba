"""Sending one message: over a reused SMTP connection, or through SES, with every failure
classified as refused, retryable (certainly not accepted) or uncertain (maybe accepted)."""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.senders.verification import ses_provider
from providers.errors import MailroomError
from providers.smtp import mail_options, open_smtp
from storage.models import Mailbox

if TYPE_CHECKING:
    from bot.core import Core

HARD_BOUNCE_CODES = (550, 551, 553)


class Outcome:
    SENT = "sent"
    FAILED = "failed"  # refused for good
    RETRY = "retry"  # certainly not accepted; try again later
    UNCERTAIN = "uncertain"  # may have been accepted
    NOT_SENT = "not_sent"  # withheld before the server could accept it (see SmtpTransport)


class _Withheld(Exception):
    """The gate said no before the final "."."""


@dataclass
class Result:
    outcome: str
    detail: str = ""
    hard_bounce: bool = False
    stop: bool = False  # the connection or the sender is the problem: stop this batch


class SmtpTransport:
    """One SMTP connection reused for a batch; each phase's failure is classified exactly."""

    def __init__(self, ctx: Core, mailbox: Mailbox) -> None:
        self.settings = ctx.mailboxes.smtp_settings(mailbox)
        self.stack: contextlib.ExitStack | None = None
        self.smtp: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        if self.smtp is None:
            self.stack = contextlib.ExitStack()
            self.smtp = self.stack.enter_context(open_smtp(self.settings))
            if self.smtp.sock is not None:
                # The final "." goes out on its own after the data (see _data): without this,
                # Nagle's algorithm holds it until the server's delayed ACK (~40 ms).
                with contextlib.suppress(OSError):
                    self.smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.smtp

    def close(self) -> None:
        if self.stack is not None:
            with contextlib.suppress(Exception):
                self.stack.close()
        self.stack, self.smtp = None, None

    def send(
        self, raw: bytes, sender: str, recipient: str, gate: Callable[[], bool] | None = None
    ) -> Result:
        """``gate``: asked after the message data went out and before the final "." that
        makes the server accept it; False (or an exception) drops the connection instead,
        so the server discards the message (Result NOT_SENT)."""
        try:
            smtp = self._open()
        except MailroomError as exc:
            self.close()
            return Result(Outcome.RETRY, exc.message, stop=True)
        international = not (sender.isascii() and recipient.isascii())
        try:
            code, text = smtp.mail(sender, mail_options(smtp, raw, international))
            if code != 250:
                self._reset(smtp)
                return Result(Outcome.RETRY, f"{code} {text.decode(errors='replace')}", stop=True)
            code, text = smtp.rcpt(recipient)
            words = f"{code} {text.decode(errors='replace')}"
            if code not in (250, 251):
                self._reset(smtp)
                if code >= 500:
                    return Result(Outcome.FAILED, words, hard_bounce=code in HARD_BOUNCE_CODES)
                return Result(Outcome.RETRY, words)
        except (smtplib.SMTPException, OSError) as exc:
            # Nothing was handed over yet: the message certainly was not accepted.
            self.close()
            return Result(Outcome.RETRY, f"{type(exc).__name__}: {exc}", stop=True)
        try:
            code, text = self._data(smtp, raw, gate)
        except _Withheld:
            self.close()
            return Result(Outcome.NOT_SENT, "not sent: the row was taken by another worker")
        except smtplib.SMTPDataError as exc:
            # Refused before the message itself was sent (no 354).
            self._reset(smtp)
            words = f"{exc.smtp_code} {exc.smtp_error!r}"
            return Result(Outcome.FAILED if exc.smtp_code >= 500 else Outcome.RETRY, words)
        except (smtplib.SMTPException, OSError) as exc:
            # The message may have reached the server: never resend it automatically.
            self.close()
            return Result(Outcome.UNCERTAIN, f"{type(exc).__name__}: {exc}", stop=True)
        words = f"{code} {text.decode(errors='replace')}"
        if code == 250:
            return Result(Outcome.SENT, words)
        self._reset(smtp)
        return Result(Outcome.FAILED if code >= 500 else Outcome.RETRY, words)

    def _data(
        self, smtp: smtplib.SMTP, raw: bytes, gate: Callable[[], bool] | None
    ) -> tuple[int, bytes]:
        """``smtp.data(raw)``, with ``gate`` asked before the final "."."""
        if gate is None:
            return smtp.data(raw)
        code, reply = smtp.docmd("data")
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        data = re.sub(rb"(?m)^\.", b"..", raw)
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        smtp.send(data)
        try:
            go = gate()
        except BaseException:
            self.close()  # without the ".", the server drops the message
            raise
        if not go:
            raise _Withheld
        smtp.send(b".\r\n")
        return smtp.getreply()

    @staticmethod
    def _reset(smtp: smtplib.SMTP) -> None:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.rset()


class SesTransport:
    """Raw MIME through SES SendEmail (the mailbox's address is a verified identity)."""

    def __init__(self, ctx: Core, mailbox: Mailbox) -> None:
        self.provider = ses_provider(ctx.settings)

    def close(self) -> None:
        return None

    def send(self, raw: bytes, sender: str, recipient: str) -> Result:
        from botocore.exceptions import (
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
        )

        try:
            self.provider.call(
                "send_email",
                FromEmailAddress=sender,
                Destination={"ToAddresses": [recipient]},
                Content={"Raw": {"Data": raw}},
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("Throttling", "TooManyRequestsException", "LimitExceededException"):
                return Result(Outcome.RETRY, code, stop=True)
            return Result(Outcome.FAILED, code, stop=code in ("SendingPausedException",))
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            return Result(Outcome.RETRY, type(exc).__name__, stop=True)
        except Exception as exc:  # may have reached SES: uncertain, never resent
            return Result(Outcome.UNCERTAIN, type(exc).__name__, stop=True)
        return Result(Outcome.SENT, "accepted by SES")
