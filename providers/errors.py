"""The two kinds of failure Mailroom tells people about.

Following Zulip's email gateway: a ``UserError`` is the person's mistake (a wrong
password, an invalid address) and says how to fix it; a ``ServiceError`` is a failure on
our side or a remote server's (a timeout, a TLS failure, Slack down) and says what to try.
Both carry a sentence that is safe to show in Slack as-is; neither ever carries a secret.
"""

from __future__ import annotations

from locales import N_


class MailroomError(Exception):
    """Base class: ``message`` is a complete sentence for the person in Slack."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # The modal field (block id) to attach the message to, when there is one.
        self.field = field

    def __str__(self) -> str:
        return self.message


class UserError(MailroomError):
    """The person can fix this: bad input, wrong credentials, missing permission."""


class ServiceError(MailroomError):
    """Something outside the person's control failed: network, remote server, our bug."""


# What people are told when a failure is our bug (no MailroomError explains it).
UNEXPECTED = N_(
    "Something went wrong on Mailroom's side and nothing was changed. "
    "Try again in a minute; if it keeps happening, tell your Mailroom admin."
)
