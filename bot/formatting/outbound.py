"""Build the email that goes out when a person replies in a Slack thread.

The message threads correctly in the customer's mail client (In-Reply-To, References,
"Re:" subject), carries both a text and an HTML version, and looks like any other human
reply. Deliberately absent:

- ``Auto-Submitted``: these are replies written by a person; marking them automatic would
  make the customer's auto-responders and ticket systems ignore them (RFC 3834).
- A vendor header such as ``X-Mailroom``: loops and duplicates are recognised by the
  Message-ID we generate and store, so the header would add nothing but a fingerprint that
  spam filters and curious recipients can key on.
"""

from __future__ import annotations

import email.policy
import email.utils
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage

from bot.formatting.inbound.body import html_to_text
from bot.formatting.inbound.headers import parse_message_ids

__all__ = [
    "MAX_REPLY_RECIPIENTS",
    "OutgoingAttachment",
    "compose_email",
    "foreign_reply_to",
    "make_message_id",
    "references_chain",
    "reply_subject",
    "split_addresses",
]


# A reply goes to every Reply-To address of the customer's newest mail. A forged mail can list
# dozens of bystanders there; beyond this many, Mailroom refuses to send (nothing goes out).
MAX_REPLY_RECIPIENTS = 10


@dataclass
class OutgoingAttachment:
    filename: str
    content_type: str
    data: bytes


class _MessageIdListHeader(UnstructuredHeader):
    """In-Reply-To / References folded only between ids, never RFC 2047-encoded.

    The stock policy treats these as free text and turns an id longer than a line into an
    encoded-word, which no mail client recognises as a message id: threading breaks.
    """

    def fold(self, *, policy: email.policy.Policy) -> str:
        # The registry mixes BaseHeader (which has .name) into this class; typeshed's
        # UnstructuredHeader does not show it.
        name: str = getattr(self, "name")  # noqa: B009
        lines = [f"{name}:"]
        for msg_id in str(self).split():
            if len(lines[-1]) + 1 + len(msg_id) > 78 and lines[-1] != f"{name}:":
                lines.append("")
            lines[-1] += " " + msg_id
        return policy.linesep.join(lines) + policy.linesep


def _policy() -> email.policy.EmailPolicy[EmailMessage]:
    registry = HeaderRegistry()
    # (typeshed wants a BaseHeader subclass; the registry builds one from this mixin.)
    registry.map_to_type("in-reply-to", _MessageIdListHeader)  # type: ignore[arg-type]
    registry.map_to_type("references", _MessageIdListHeader)  # type: ignore[arg-type]
    # SMTP: CRLF line endings, ready for smtplib and SES raw sends.
    return email.policy.SMTP.clone(header_factory=registry)


OUTBOUND_POLICY = _policy()

# "Re:", "RE:", "Aw:", "Sv:", "Antw:", "Re[2]:", "Ref.:", "R:" (Italian), "Res:" (Portuguese)...
_REPLY_PREFIX_RE = re.compile(
    r"^\s*(re|aw|sv|vs|antw|antwort|ref|rif|res|odp|r|vá|atb|svar|回复|回覆|答复)"
    r"\s*(\[\d+\]|\(\d+\))?\s*[:\uff1a]",
    re.IGNORECASE,
)


def reply_subject(subject: str) -> str:
    """``Re: subject``, unless the subject already starts with a reply prefix in any language."""
    subject = _one_line(subject)
    if _REPLY_PREFIX_RE.match(subject):
        return subject
    return f"Re: {subject}" if subject else "Re:"


def references_chain(
    parent_references: list[str], parent_message_id: str | None, limit: int = 20
) -> list[str]:
    """The References of a reply: the parent's References plus the parent's id.

    Duplicates go, and the parent stays last. When the chain is longer than ``limit``, the
    first id (the thread root) and the newest ``limit - 1`` are kept, as RFC 5322 clients do,
    so the header stays short yet every client can still find the thread.
    """
    if limit <= 0:
        return []
    parent = parent_message_id.strip() if parent_message_id else ""
    chain = [r.strip() for r in parent_references if r and r.strip() and r.strip() != parent]
    chain = list(dict.fromkeys(chain))
    if parent:
        chain.append(parent)
    if len(chain) <= limit:
        return chain
    if limit == 1:
        # With room for one id, the parent threads better than the root.
        return chain[-1:]
    return [chain[0], *chain[-(limit - 1) :]]


def make_message_id(address: str) -> str:
    """A fresh ``<...@domain>`` Message-ID on the sender's own domain.

    Always passing a domain matters: without one ``make_msgid`` asks DNS for our host name,
    which is slow and leaks it.
    """
    _, at, domain = address.strip().strip("<>").rpartition("@")
    domain = domain.strip().lower() if at else ""
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        domain = ""
    if not re.fullmatch(r"[a-z0-9.-]+", domain):
        domain = "mailroom.invalid"
    return email.utils.make_msgid(domain=domain)


def compose_email(
    *,
    sender_name: str,
    sender_address: str,
    to: list[str],
    cc: Sequence[str] = (),
    to_names: Mapping[str, str] | None = None,
    subject: str,
    in_reply_to: str | None,
    references: list[str],
    text: str,
    html: str,
    message_id: str,
    footer_text: str = "",
    footer_html: str = "",
    attachments: Sequence[OutgoingAttachment] = (),
    date: datetime | None = None,
) -> EmailMessage:
    """A ready-to-send reply: multipart/alternative (text + HTML), in multipart/mixed when
    there are attachments.

    ``html`` is a fragment (e.g. from ``slack_to_html``); it is wrapped in a minimal document.
    A footer given only as text is also shown in the HTML part and vice versa. Raises
    ``ValueError`` when an address is not valid: nothing half-built should be sent.
    ``to_names`` maps a lower-cased address to the display name it is shown with
    (``Carla Cliente <carla@customer.test>``, as the customer's own client would write it).
    """
    names = {k.lower(): v for k, v in (to_names or {}).items()}
    if not footer_html and footer_text:
        footer_html = _text_to_html(footer_text)
    if not footer_text and footer_html:
        footer_text = html_to_text(footer_html)

    msg = EmailMessage(policy=OUTBOUND_POLICY)
    msg["From"] = _address(sender_address, sender_name)
    msg["To"] = [_address(a, names.get(a.strip().lower(), "")) for a in to]
    if cc:
        msg["Cc"] = [_address(a) for a in cc]
    msg["Subject"] = _one_line(subject)
    msg["Date"] = _aware(date or datetime.now(UTC))
    msg["Message-ID"] = _one_line(message_id)
    parent = parse_message_ids(in_reply_to or "")
    if parent:
        msg["In-Reply-To"] = parent[0]
    ids = [i for r in references for i in parse_message_ids(r)]
    if ids:
        msg["References"] = " ".join(ids)

    body_text = text.rstrip()
    if footer_text.strip():
        # "-- " (with the space) is the signature separator mail clients recognise and fold.
        body_text += "\n\n-- \n" + footer_text.strip()
    msg.set_content(body_text + "\n")
    msg.add_alternative(_html_document(html, footer_html), subtype="html")

    for attachment in attachments:
        maintype, subtype = _split_type(attachment.content_type)
        msg.add_attachment(
            attachment.data,
            maintype=maintype,
            subtype=subtype,
            filename=_one_line(attachment.filename) or "attachment",
        )
    for part in msg.walk():
        # The email package repeats MIME-Version in every part; it belongs only at the top.
        if part is not msg:
            del part["MIME-Version"]
    return msg


def split_addresses(value: str | None) -> list[str]:
    """The addresses of a stored comma-separated list (bare addresses, as recorded)."""
    return [a.strip() for a in (value or "").split(",") if a.strip()]


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(">").lower().rstrip(".")


def _same_organisation(a: str, b: str) -> bool:
    # mail.customer.test answers for customer.test and vice versa; evilcustomer.test does not.
    return bool(a and b) and (a == b or a.endswith("." + b) or b.endswith("." + a))


def foreign_reply_to(reply_to: Sequence[str], from_address: str) -> list[str]:
    """Reply-To addresses outside the sender's domain: where a forged mail would divert the
    answer, so the post warns before anyone replies."""
    sender = _domain(from_address)
    return [a for a in reply_to if not _same_organisation(_domain(a), sender)]


def _address(address: str, name: str = "") -> Address:
    try:
        parsed = Address(display_name=_one_line(name), addr_spec=_one_line(address))
    except Exception as exc:
        raise ValueError(f"Not a valid email address: {address!r}") from exc
    if "@" not in parsed.addr_spec or not parsed.domain:
        raise ValueError(f"Not a valid email address: {address!r}")
    return parsed


def _split_type(content_type: str) -> tuple[str, str]:
    maintype, _, subtype = content_type.strip().lower().partition("/")
    valid = re.fullmatch(r"[a-z0-9][a-z0-9!#$&^_.+-]*", maintype or "-") and re.fullmatch(
        r"[a-z0-9][a-z0-9!#$&^_.+-]*", subtype or "-"
    )
    # message/* and multipart/* may not be base64-encoded (RFC 2046); sent as bytes they
    # would be invalid, so they travel as generic files (an .eml name still opens in clients).
    if not valid or maintype in ("message", "multipart"):
        return "application", "octet-stream"
    return maintype, subtype


def _html_document(fragment: str, footer_html: str) -> str:
    footer = f'\n<div class="footer">{footer_html}</div>' if footer_html.strip() else ""
    return (
        '<!DOCTYPE html>\n<html>\n<head><meta charset="utf-8"></head>\n<body>\n'
        f"<div>{fragment}</div>{footer}\n</body>\n</html>\n"
    )


def _text_to_html(text: str) -> str:
    return html.escape(text.strip()).replace("\n", "<br>\n")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _one_line(value: str) -> str:
    # Header values may not contain line breaks; the email package would raise on them.
    return re.sub(r"\s+", " ", value or "").strip()
