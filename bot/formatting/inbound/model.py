"""What parsing an inbound email yields (InboundEmail, Attachment) and the limits it works within."""

from __future__ import annotations

import email
import email.parser
import email.policy
import email.utils
from dataclasses import dataclass, field
from datetime import datetime

NO_SUBJECT = "(no subject)"
UNKNOWN_SENDER = "(unknown sender)"
SYNTHETIC_ID_DOMAIN = "mailroom.invalid"


# Beyond this depth a MIME tree is an attack or a bug, not a real email.
MAX_MIME_DEPTH = 60


# Addresses read from one header (To, Cc...): the rest are counted, not parsed. The header
# registry's address parser is quadratic; 40,000 addresses took 19 s and 380 MB.
MAX_ADDRESSES = 50


# The newest References kept: enough to find a thread, few enough for one SQL query (a
# header with 70,000 ids exceeded PostgreSQL's 65,535 parameters and stalled a mailbox).
MAX_REFERENCES = 50


# Text kept from a body before conversion and storage (html2text is slow on megabytes).
DEFAULT_BODY_MAX_CHARS = 300_000
_POLICY = email.policy.default


@dataclass
class Attachment:
    filename: str
    content_type: str
    size: int
    payload: bytes
    # Why the content was not kept ("too_large", "too_many"); its name and size are listed.
    skipped: str | None = None


@dataclass
class InboundEmail:
    message_id: str
    synthetic_id: bool
    in_reply_to: str | None
    references: list[str]
    subject: str
    from_name: str
    from_address: str
    reply_to: list[str] = field(default_factory=list)
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    date: datetime | None = None
    text: str = ""
    summary: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    auto_kind: str | None = None
    problems: list[str] = field(default_factory=list)
    # Recipients past MAX_ADDRESSES, counted but not parsed ("and N more").
    to_more: int = 0
    cc_more: int = 0
    # Identifies the content (not the copy): the same mail in INBOX and Sent/All Mail has the
    # same hash; a different mail reusing a Message-ID does not. See content_hash().
    content_hash: str = ""

    @property
    def reply_addresses(self) -> list[str]:
        """Where a reply goes: Reply-To when given, else the sender (never an empty address)."""
        if self.reply_to:
            return list(self.reply_to)
        return [self.from_address] if self.from_address else []


@dataclass(frozen=True)
class ParseLimits:
    """What one mail may cost: parts past these limits are listed, not decoded or kept."""

    attachment_max_bytes: int | None = None  # larger files: name and size only
    max_files: int | None = None  # files kept per mail; the rest: name and size only
    body_max_chars: int = DEFAULT_BODY_MAX_CHARS


NO_LIMITS = ParseLimits()
_OMITTED_MARK = "MAILROOM-OMITTED-BYTES:"
