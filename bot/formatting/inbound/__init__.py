"""Turn the raw bytes of a received email into what a Slack thread shows.

Modelled on Zulip's email gateway: small verb-named steps (``extract_body``,
``trim_quoted``, ``filter_signature``, ``extract_attachments``, ``detect_auto_reply``) that
each do one thing and tolerate anything. Real mail is messy (wrong charsets, 8-bit headers,
broken MIME), and one unreadable message must never stop a mailbox, so :func:`parse_email`
never raises: whatever it cannot read becomes a sentence in ``InboundEmail.problems``.

Everything here returns plain ``str`` that is *not* escaped for Slack. Subjects, names,
bodies, file names and even problem sentences (which quote charset names and file names from
the sender) go through ``bot.formatting.slack_text.escape`` before they reach Slack.
"""

from __future__ import annotations

import email
import email.parser
import email.policy
import email.utils
import hashlib
import re
from email.message import Message

from bot.formatting.inbound.attachments import extract_attachments
from bot.formatting.inbound.auto_replies import detect_auto_reply
from bot.formatting.inbound.body import extract_body
from bot.formatting.inbound.common import _clean_text, _dedupe, _guard, _one_line
from bot.formatting.inbound.headers import (
    header_addresses,
    header_text,
    newest_references,
    normalize_message_id,
    parse_date,
    parse_message_ids,
    read_addresses,
)
from bot.formatting.inbound.model import (
    _OMITTED_MARK,
    _POLICY,
    DEFAULT_BODY_MAX_CHARS,
    NO_LIMITS,
    NO_SUBJECT,
    SYNTHETIC_ID_DOMAIN,
    UNKNOWN_SENDER,
    Attachment,
    InboundEmail,
    ParseLimits,
)
from bot.formatting.inbound.quotes import filter_signature, trim_quoted
from bot.formatting.inbound.structure import note_structure_defects

__all__ = [
    "NO_LIMITS",
    "Attachment",
    "InboundEmail",
    "ParseLimits",
    "content_hash",
    "parse_email",
]


def parse_email(raw: bytes, limits: ParseLimits = NO_LIMITS) -> InboundEmail:
    """Parse raw RFC 5322 bytes into an :class:`InboundEmail`. Never raises."""
    raw = _as_bytes(raw)
    try:
        return _parse(raw, limits)
    except Exception:
        # Each step is guarded already; this is the last net for a bug in the glue.
        return _unreadable(raw)


def _parse(raw: bytes, limits: ParseLimits) -> InboundEmail:
    problems: list[str] = []
    try:
        msg = parse_tree(omit_huge_parts(raw, limits.attachment_max_bytes))
    except Exception:
        # The parser is very lenient; reaching this means the input is not email at all.
        return _unreadable(raw)

    message_id = _guard(lambda: normalize_message_id(header_text(msg, "Message-ID") or ""), None)
    synthetic = message_id is None
    if message_id is None:
        message_id = synthetic_message_id(raw)

    references = _guard(lambda: newest_references(header_text(msg, "References") or ""), [])
    in_reply_to_ids = _guard(lambda: parse_message_ids(header_text(msg, "In-Reply-To") or ""), [])

    senders = _guard(lambda: header_addresses(msg, "From"), [])
    from_name, from_address = senders[0] if senders else ("", "")
    if not from_address:
        problems.append("The message has no readable sender address, so it can't be answered.")
    from_name = from_name or from_address or UNKNOWN_SENDER

    subject = _guard(lambda: header_text(msg, "Subject") or "", "")
    subject = _one_line(subject) or NO_SUBJECT

    date = _guard(lambda: parse_date(msg, problems), None)

    text = _guard(lambda: extract_body(msg, problems), "")
    if len(text) > limits.body_max_chars:
        text = text[: limits.body_max_chars]
        problems.append(
            "The message's text is very long; only its beginning is kept here. "
            "Open it in the mailbox to read the rest."
        )
    attachments = _guard(lambda: extract_attachments(msg, problems, limits), [])
    summary = _guard(lambda: summarize(text), text)
    auto_kind = _guard(lambda: detect_auto_reply(msg), None)
    _guard(lambda: note_structure_defects(msg, problems), None)

    to, to_more = _guard(lambda: read_addresses(msg, "To"), ([], 0))
    cc, cc_more = _guard(lambda: read_addresses(msg, "Cc"), ([], 0))
    return InboundEmail(
        message_id=message_id,
        synthetic_id=synthetic,
        in_reply_to=in_reply_to_ids[0] if in_reply_to_ids else None,
        references=references,
        subject=subject,
        from_name=from_name,
        from_address=from_address,
        reply_to=_guard(lambda: [a for _, a in header_addresses(msg, "Reply-To")], []),
        to=[a for _, a in to],
        cc=[a for _, a in cc],
        date=date,
        text=text,
        summary=summary,
        attachments=attachments,
        auto_kind=auto_kind,
        problems=_dedupe(problems),
        to_more=to_more,
        cc_more=cc_more,
        content_hash=_guard(lambda: content_hash(raw), ""),
    )


# Headers that, with the body, make a mail "the same mail": trace headers (Received,
# Delivered-To, X-Gmail-Labels...) differ between the INBOX and the Sent copy and are left out.
_IDENTITY_HEADERS = ("message-id", "from", "to", "cc", "subject", "date")
_HASH_BLOCK = 1024 * 1024


def content_hash(raw: bytes) -> str:
    """SHA-256 of the identity headers and the body, insensitive to CRLF vs LF.

    Hashed block by block so a large mail is not copied to be normalised.
    """
    end, skip = _header_end(raw)
    digest = hashlib.sha256()
    head = email.message_from_bytes(bytes(raw[:end]), policy=email.policy.compat32)
    for name in _IDENTITY_HEADERS:
        for value in head.get_all(name) or []:
            digest.update(
                name.encode()
                + b":"
                + " ".join(str(value).split()).encode("utf-8", "surrogateescape")
                + b"\n"
            )
    digest.update(b"\n")
    view = memoryview(raw)[end + skip :]
    for start in range(0, len(view), _HASH_BLOCK):
        digest.update(bytes(view[start : start + _HASH_BLOCK]).replace(b"\r", b""))
    return digest.hexdigest()


def _header_end(raw: bytes) -> tuple[int, int]:
    """Where the header block ends, and the length of the blank line that ends it."""
    crlf, lf = raw.find(b"\r\n\r\n"), raw.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf <= lf):
        return crlf, 4
    if lf >= 0:
        return lf, 2
    return len(raw), 0


_FEED_BLOCK = 64 * 1024


def parse_tree(raw: bytes) -> Message:
    """The MIME tree of ``raw``, fed to the parser block by block.

    ``message_from_bytes`` hands the parser the whole mail at once, which then holds it as
    a decoded copy *and* a list of every line on top of the tree: 7.7x the mail's size at
    peak. Fed 64 KiB at a time, the peak is about 2.8x (a 40 MB attachment: ~150 MB, not 420).
    """
    parser = email.parser.BytesFeedParser(policy=_POLICY)
    view = memoryview(raw)
    for start in range(0, len(view), _FEED_BLOCK):
        parser.feed(bytes(view[start : start + _FEED_BLOCK]))
    return parser.close()


# Where a base64 part begins: its header. Cut out before parsing when too large to upload.
_BASE64_CTE_RE = re.compile(
    rb"^content-transfer-encoding:[ \t]*base64[ \t]*\r?$", re.IGNORECASE | re.MULTILINE
)


def omit_huge_parts(raw: bytes, cap: int | None) -> bytes:
    """``raw`` with each base64 body longer than ``cap`` (decoded) replaced by a one-line
    note of its size, so the parser never holds what will only be listed by name and size.

    A base64 body ends at the next boundary line ("\\n--": "-" is not base64) or at the
    end of the mail. The mail's hash and ids are taken from the original bytes. Costs a
    scan of the mail in C and, when something is cut, a copy of what remains.
    """
    if cap is None or len(raw) * 3 // 4 <= cap:
        return raw
    longest = cap * 4 // 3 + 1024
    pieces: list[bytes] = []
    position = 0
    for match in _BASE64_CTE_RE.finditer(raw):
        if match.start() < position:
            continue
        body = _body_start(raw, match.end())
        if body < 0:
            break
        end = raw.find(b"\n--", body)
        end = len(raw) if end < 0 else end
        if end - body <= longest:
            continue
        breaks = raw.count(b"\n", body, end) + raw.count(b"\r", body, end)
        decoded = (end - body - breaks) * 3 // 4
        pieces += [raw[position:body], f"{_OMITTED_MARK} {decoded}\r\n".encode()]
        position = end
    if not pieces:
        return raw
    pieces.append(raw[position:])
    return b"".join(pieces)


def _body_start(raw: bytes, position: int) -> int:
    """Where the body begins after the header line ending near ``position``, or -1."""
    found = [
        index + len(sep) for sep in (b"\n\r\n", b"\n\n") if (index := raw.find(sep, position)) >= 0
    ]
    return min(found) if found else -1


def synthetic_message_id(raw: bytes) -> str:
    """A stable id for mail without one: the same bytes always get the same id, so a
    re-fetched message is recognised as already posted instead of posted twice."""
    return f"<{hashlib.sha256(raw).hexdigest()[:32]}@{SYNTHETIC_ID_DOMAIN}>"


def summarize(text: str) -> str:
    """The new part of a reply: quoted history and signature removed, never empty."""
    summary = filter_signature(trim_quoted(text)).strip()
    return summary or text


def _as_bytes(raw: object) -> bytes:
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, bytearray | memoryview):
        return bytes(raw)
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _unreadable(raw: bytes) -> InboundEmail:
    text = _clean_text(raw[:DEFAULT_BODY_MAX_CHARS].decode("utf-8", "replace"))
    return InboundEmail(
        message_id=synthetic_message_id(raw),
        synthetic_id=True,
        in_reply_to=None,
        references=[],
        subject=NO_SUBJECT,
        from_name=UNKNOWN_SENDER,
        from_address="",
        text=text,
        summary=text,
        problems=["The message couldn't be read as an email; it is shown as raw text."],
        content_hash=hashlib.sha256(raw).hexdigest(),
    )
