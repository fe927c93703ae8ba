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

import base64
import binascii
import codecs
import email
import email.parser
import email.policy
import email.utils
import hashlib
import mimetypes
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import errors as email_errors
from email.message import Message
from functools import partial
from typing import TypeVar

import html2text

__all__ = [
    "Attachment",
    "InboundEmail",
    "decode_header_text",
    "detect_auto_reply",
    "extract_attachments",
    "extract_body",
    "filter_signature",
    "html_to_text",
    "normalize_message_id",
    "parse_email",
    "parse_message_ids",
    "trim_quoted",
]

T = TypeVar("T")
D = TypeVar("D")

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


# --- entry point -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ParseLimits:
    """What one mail may cost: parts past these limits are listed, not decoded or kept."""

    attachment_max_bytes: int | None = None  # larger files: name and size only
    max_files: int | None = None  # files kept per mail; the rest: name and size only
    body_max_chars: int = DEFAULT_BODY_MAX_CHARS


NO_LIMITS = ParseLimits()


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
_OMITTED_MARK = "MAILROOM-OMITTED-BYTES:"


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


def _guard(step: Callable[[], T], default: D) -> T | D:
    """Run one parsing step; a bug or a pathological message loses that field, not the mail."""
    try:
        return step()
    except Exception:  # RecursionError included: it is a RuntimeError
        return default


def _payload_list(part: Message) -> list[object]:
    """A multipart's children (a list payload); raises on a damaged one, for ``_guard``."""
    return list(part.get_payload())


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --- headers ---------------------------------------------------------------------------------


def raw_header(msg: Message, name: str) -> str | None:
    """The first ``name`` header exactly as received (8-bit bytes as surrogates), unfolded."""
    wanted = name.lower()
    try:
        items = msg.raw_items()
        for key, value in items:
            if key.lower() == wanted:
                return re.sub(r"\r?\n|\r", "", str(value))
    except Exception:
        pass
    return None


def header_text(msg: Message, name: str) -> str | None:
    """Decoded text of an unstructured header, or None when absent.

    Decoded ourselves from the raw value rather than through the header registry, because
    the registry leaves 8-bit bytes as surrogates and chokes on some damage; our decoder
    tolerates unknown charsets and broken encoded-words and always returns clean text.
    """
    raw = raw_header(msg, name)
    if raw is None:
        return None
    return decode_header_text(raw)


def decode_header_text(value: str) -> str:
    """RFC 2047 and raw 8-bit header text to clean ``str``; damaged parts are kept readable."""
    text = _fix_8bit(value)
    chunks: list[tuple[bytes | str, str | None]] = []
    pos = 0
    for match in _ENCODED_WORD_RE.finditer(text):
        between = text[pos : match.start()]
        charset = match.group(1).split("*", 1)[0].lower()
        data = _decode_word_payload(match.group(2), match.group(3))
        # Whitespace between two encoded-words is folding, not content (RFC 2047 6.2).
        folding = between.isspace() and data is not None and bool(chunks) and chunks[-1][1]
        if between and not folding:
            chunks.append((between, None))
        if data is None:
            chunks.append((match.group(0), None))
        elif chunks and chunks[-1][1] == charset:
            # Join same-charset words before decoding: senders split multibyte characters.
            previous = chunks[-1][0]
            assert isinstance(previous, bytes)
            chunks[-1] = (previous + data, charset)
        else:
            chunks.append((data, charset))
        pos = match.end()
    chunks.append((text[pos:], None))

    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            out.append(decode_bytes(chunk, charset)[0])
        else:
            out.append(chunk)
    return _clean_text("".join(out))


_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def _decode_word_payload(encoding: str, payload: str) -> bytes | None:
    data = payload.encode("ascii", "replace")
    if encoding.lower() == "b":
        data = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
        data += b"=" * (-len(data) % 4)
        try:
            return base64.b64decode(data)
        except (binascii.Error, ValueError):
            return None
    data = data.replace(b"_", b" ")
    return re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), data)


_SURROGATE_RE = re.compile("[\udc80-\udcff]")


def _fix_8bit(value: str) -> str:
    """Raw 8-bit header bytes arrive as surrogates: read them as UTF-8, else Windows-1252."""
    if not _SURROGATE_RE.search(value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    return decode_bytes(data, None)[0]


def header_addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of an address header; invalid entries are dropped.

    Only the first :data:`MAX_ADDRESSES` are read (see :func:`read_addresses`).
    """
    return read_addresses(msg, name)[0]


def read_addresses(
    msg: Message, name: str, limit: int = MAX_ADDRESSES
) -> tuple[list[tuple[str, str]], int]:
    """The first ``limit`` (display name, address) pairs, and how many more there are.

    The header is split into entries by one linear scan; only the entries kept go through
    the (quadratic) header registry, one at a time, so the cost is linear in the header's
    size and the parsing work is capped.
    """
    raw = raw_header(msg, name)
    if raw is None:
        return [], 0
    entries, more = split_address_list(_fix_8bit(raw), limit)
    pairs: list[tuple[str, str]] = []
    for entry in entries:
        pairs += _parse_address_entry(name, entry)
    return _clean_address_pairs(pairs), more


# One token of an address list: a quoted string, a (comment), an <angle-addr>, a
# separator, or a run of anything else. Unterminated quotes/comments/angles run to the end.
# Unrolled loops with possessive repeats: a megabyte-long quoted string costs neither
# backtracking nor regex stack.
_ADDRESS_TOKEN_RE = re.compile(
    r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?|\([^()\\]*+(?:\\.[^()\\]*+)*+\)?|<[^>]*>?|[,;:]|[^",;:<(]++'
)
# An entry longer than a header line may be is not given to the (quadratic) header registry.
_MAX_ENTRY_CHARS = 998
_ANGLE_ADDRESS_RE = re.compile(r"<([^<>\s]+@[^<>\s]+)>")


def split_address_list(text: str, limit: int) -> tuple[list[str], int]:
    """The first ``limit`` entries (with an ``@``) of an address list, and the count of the
    rest. Groups ("Team: a@x, b@y;") are flattened; entries without ``@`` are ignored."""
    entries: list[str] = []
    more = 0
    current: list[str] = []
    has_at = False
    for match in _ADDRESS_TOKEN_RE.finditer(text):
        token = match.group(0)
        if token in (",", ";", ":"):
            if token != ":" and has_at:
                if len(entries) < limit:
                    entries.append("".join(current))
                else:
                    more += 1
            # ":" ends a group's display name, which is not an address.
            current, has_at = [], False
            continue
        if len(entries) < limit:
            current.append(token)
        if "@" in token and token[0] not in '"(':
            has_at = True
    if has_at:
        if len(entries) < limit:
            entries.append("".join(current))
        else:
            more += 1
    return entries, more


def _parse_address_entry(name: str, entry: str) -> list[tuple[str, str]]:
    if len(entry) > _MAX_ENTRY_CHARS:
        found = _ANGLE_ADDRESS_RE.findall(entry[-_MAX_ENTRY_CHARS:])
        return [("", found[-1])] if found else []
    try:
        header = _POLICY.header_factory(name, entry)
        return [(a.display_name, a.addr_spec) for a in header.addresses]
    except Exception:
        # The registry can raise on damaged headers; the old parser is cruder but never does.
        return email.utils.getaddresses([entry])


def _clean_address_pairs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    result: list[tuple[str, str]] = []
    for display, address in pairs:
        address = _clean_text(_fix_8bit(address)).strip().strip("<>")
        if "@" not in address or any(c.isspace() for c in address):
            continue
        display = decode_header_text(display) if "=?" in display else _fix_8bit(display)
        result.append((_one_line(_clean_text(display)).strip("\"' "), address))
    return result


def normalize_message_id(value: str) -> str | None:
    """``<id@host>`` from a Message-ID-like value (comments and folding removed), or None."""
    ids = parse_message_ids(value)
    return ids[0] if ids else None


def newest_references(value: str, limit: int = MAX_REFERENCES) -> list[str]:
    """The newest ``limit`` ids of a References header (the end of the list is the newest).

    Only the header's tail is read: ``limit`` ids of at most 998 characters fit in it.
    """
    tail = limit * 1000
    if len(value) > tail:
        value = value[-tail:]
        # Drop the id cut in half at the start of the tail.
        value = value[value.find("<") :] if "<" in value else value
    return parse_message_ids(value)[-limit:]


def parse_message_ids(value: str) -> list[str]:
    """Every ``<id>`` in References/In-Reply-To text, in order, deduplicated; junk ignored.

    Bare ids without angle brackets (some old mailers) are accepted when they contain ``@``.
    """
    value = _strip_comments(_clean_text(value))
    found = [
        "<" + re.sub(r"\s+", "", inner) + ">"
        for inner in re.findall(r"<([^<>]*)>", value)
        if inner.strip()
    ]
    if not found:
        found = [
            "<" + token.strip("<>") + ">"
            for token in re.split(r"[\s,]+", value)
            if "@" in token and token.strip("<>")
        ]
    return _dedupe([i for i in found if len(i) <= 998 and i != "<>"])


def _strip_comments(value: str) -> str:
    """Drop RFC 5322 (comments), which may nest, outside of <...>."""
    out: list[str] = []
    depth = 0
    in_angle = False
    for ch in value:
        if ch == "<" and depth == 0:
            in_angle = True
        elif ch == ">" and depth == 0:
            in_angle = False
        elif ch == "(" and not in_angle:
            depth += 1
            continue
        elif ch == ")" and depth > 0 and not in_angle:
            depth -= 1
            continue
        if depth == 0:
            out.append(ch)
    return "".join(out)


def parse_date(msg: Message, problems: list[str] | None = None) -> datetime | None:
    """The Date header as an aware datetime; an unknown zone ("-0000") counts as UTC."""
    raw = header_text(msg, "Date")
    if raw is None or not raw.strip():
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(raw)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        # Reject dates that can't be converted later (year 1 with a negative offset, etc.).
        parsed.astimezone(UTC)
        return parsed
    except Exception:
        if problems is not None:
            problems.append(f"The message's date ({_quote(raw)}) couldn't be read.")
        return None


# --- structure -------------------------------------------------------------------------------


def walk_parts(msg: Message) -> Iterator[tuple[int, Message, list[str]]]:
    """Depth-first (number, part, ancestor content types), with ``msg`` itself as part 1.

    Unlike ``Message.walk`` it does not enter attached messages (message/rfc822 is one
    attachment, not more body) and stops at :data:`MAX_MIME_DEPTH`.
    """
    counter = 0
    stack: list[tuple[Message, list[str]]] = [(msg, [])]
    while stack:
        part, ancestors = stack.pop()
        counter += 1
        yield counter, part, ancestors
        ctype = content_type(part)
        if ctype.startswith("message/") or not _is_multipart(part):
            continue
        if len(ancestors) >= MAX_MIME_DEPTH:
            continue
        children = _guard(partial(_payload_list, part), [])
        for child in reversed(children):
            if isinstance(child, Message):
                stack.append((child, [*ancestors, ctype]))


def content_type(part: Message) -> str:
    return _guard(lambda: part.get_content_type().lower(), "text/plain")


def _is_multipart(part: Message) -> bool:
    return _guard(part.is_multipart, False)


def _filename(part: Message) -> str:
    name: object = _guard(part.get_filename, None)
    if name is None:
        # Some mailers only name the file in Content-Type's "name" parameter.
        name = _guard(lambda: part.get_param("name", header="content-type"), None)
        if isinstance(name, tuple):
            name = email.utils.collapse_rfc2231_value(name)
    if not isinstance(name, str):
        return ""
    name = decode_header_text(name) if "=?" in name else _fix_8bit(name)
    # A file name is never a path: separators are replaced (not cut at, which turned
    # "<!channel> <https://evil.test|invoice>.pdf" into "evil.test|invoice>.pdf"), and a
    # leading dot cannot make a hidden file. Slack markup in it is escaped where it is shown.
    name = re.sub(r"[/\\]", "_", _one_line(name)).strip().lstrip("._ ")
    return name[:200]


def _disposition(part: Message) -> str | None:
    return _guard(part.get_content_disposition, None)


def _is_body_part(part: Message, ctype: str) -> bool:
    return (
        ctype in ("text/plain", "text/html")
        and _disposition(part) != "attachment"
        and not _filename(part)
    )


def note_structure_defects(msg: Message, problems: list[str]) -> None:
    """Tell people when the MIME structure was damaged, so odd output has an explanation."""
    for number, part, ancestors in walk_parts(msg):
        defects: list[object] = list(getattr(part, "defects", None) or [])
        kinds = {type(d) for d in defects}
        if email_errors.NoBoundaryInMultipartDefect in kinds:
            problems.append(
                f"Part {number} claimed to contain several parts but had no boundary; "
                "it is shown as plain text."
            )
        if kinds & {
            email_errors.StartBoundaryNotFoundDefect,
            email_errors.CloseBoundaryNotFoundDefect,
        }:
            problems.append(f"Part {number} was cut short or damaged; some content may be missing.")
        if kinds & {
            email_errors.InvalidBase64CharactersDefect,
            email_errors.InvalidBase64PaddingDefect,
            email_errors.InvalidBase64LengthDefect,
        }:
            problems.append(f"Part {number} had damaged base64 content; some of it may be missing.")
        if len(ancestors) >= MAX_MIME_DEPTH and _is_multipart(part):
            problems.append("The message is nested too deeply; its innermost parts were skipped.")


# --- body ------------------------------------------------------------------------------------


def extract_body(msg: Message, problems: list[str] | None = None) -> str:
    """The readable text of a message: text/plain preferred, else HTML converted to text.

    Nested multiparts are walked; attachments are skipped. In multipart/alternative the
    plain version wins when it has content. Decoding trouble is added to ``problems``.
    """
    problems = problems if problems is not None else []
    numbers = {id(part): number for number, part, _ in walk_parts(msg)}
    return _body_of(msg, numbers, problems, depth=0).strip()


def _body_of(part: Message, numbers: dict[int, int], problems: list[str], depth: int) -> str:
    ctype = content_type(part)
    number = numbers.get(id(part), 0)
    if ctype.startswith("multipart/") and not _is_multipart(part):
        # "multipart" with no boundary: the parser kept the body as one text blob.
        return decode_part_text(part, number, problems)
    if _is_multipart(part) and not ctype.startswith("message/"):
        if depth >= MAX_MIME_DEPTH:
            return ""
        children = [
            c for c in _guard(lambda: list(part.get_payload()), []) if isinstance(c, Message)
        ]
        if ctype == "multipart/alternative":
            return _best_alternative(children, numbers, problems, depth)
        texts = [_body_of(c, numbers, problems, depth + 1) for c in children]
        return "\n\n".join(t for t in texts if t.strip())
    if not _is_body_part(part, ctype):
        return ""
    text = decode_part_text(part, number, problems)
    return html_to_text(text) if ctype == "text/html" else text


def _best_alternative(
    children: list[Message], numbers: dict[int, int], problems: list[str], depth: int
) -> str:
    # Decode into a scratch list so problems of alternatives we don't show aren't reported.
    candidates: list[tuple[bool, str, list[str]]] = []
    for child in children:
        scratch: list[str] = []
        text = _body_of(child, numbers, scratch, depth + 1)
        if text.strip():
            candidates.append((_has_plain(child), text, scratch))
    if not candidates:
        return ""
    plain = [c for c in candidates if c[0]]
    _, text, scratch = plain[0] if plain else candidates[-1]
    problems.extend(scratch)
    return text


def _has_plain(part: Message) -> bool:
    return any(
        content_type(p) == "text/plain" and _is_body_part(p, "text/plain")
        for _, p, _ in walk_parts(part)
    )


def decode_part_text(part: Message, number: int, problems: list[str]) -> str:
    """Decode one text part's payload with its declared charset, tolerating lies."""
    encoded = _guard(part.get_payload, "")
    if isinstance(encoded, str) and encoded.startswith(_OMITTED_MARK):
        problems.append(f"Part {number} is too large to show here; open it in the mailbox.")
        return ""
    payload = _guard(lambda: part.get_payload(decode=True), None)
    if payload is None:
        value = _guard(part.get_payload, "")
        payload = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else b""
    if not isinstance(payload, bytes):
        payload = b""
    charset = _guard(part.get_content_charset, None)
    text, problem = decode_bytes(payload, charset)
    if problem:
        problems.append(f"Part {number} {problem}")
    return _clean_text(text)


# Names real mailers use that Python doesn't know (or knows under a narrower name).
_CHARSET_ALIASES = {
    "ks_c_5601-1987": "cp949",
    "x-mac-roman": "mac_roman",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "x-sjis": "shift_jis",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
    "unknown-8bit": "",
    "x-unknown": "",
}


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode ``data`` as ``charset``, then UTF-8, then Windows-1252/Latin-1.

    Returns the text and, when the declared charset was unknown or wrong, the rest of a
    sentence describing it (callers prefix "Part N"). Never raises.
    """
    declared = (charset or "").strip().strip("\"'").lower()
    codec = _text_codec(_CHARSET_ALIASES.get(declared, declared))
    if codec:
        try:
            return data.decode(codec), None
        except (UnicodeDecodeError, LookupError):
            pass
        if codec == "utf-8" and not _UTF8_SEQUENCE_RE.search(data):
            # Not one valid multibyte sequence: this is 8-bit Western text with a wrong label.
            codec = "ascii"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        if not declared or codec == "ascii":
            # 8-bit UTF-8 labelled us-ascii (or not labelled) is common and reads correctly.
            return text, None
        if codec:
            return text, f"said it was {_quote(declared)} but was UTF-8; it was read as UTF-8."
        return text, f"used an unknown charset {_quote(declared)}; shown as best-effort text."
    if codec and codec != "ascii":
        # A declared charset with a few bad bytes still reads best as itself.
        bad = f"had bytes that aren't valid {_quote(declared)}; they are shown as \ufffd."
        return data.decode(codec, "replace"), bad
    try:
        # Windows-1252 before Latin-1: it is what unlabelled 8-bit mail nearly always is,
        # and it gives curly quotes where Latin-1 gives invisible control characters.
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if declared and not codec:
        return text, f"used an unknown charset {_quote(declared)}; shown as best-effort text."
    if declared:
        return text, f"said it was {_quote(declared)} but wasn't; it was read as Western European."
    return text, "had no charset and wasn't UTF-8; it was read as Western European."


_UTF8_SEQUENCE_RE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def _text_codec(name: str) -> str | None:
    """Python's canonical codec name for a text charset, or None ("base64" isn't text)."""
    if not name:
        return None
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    return info.name if info._is_text_encoding else None


def html_to_text(html: str) -> str:
    """Readable text from an HTML body: no images, no scripts or styles, links kept as text.

    html2text never fetches anything; images are dropped rather than shown as remote URLs
    (tracking pixels), and lines are not re-wrapped (Slack wraps on its own).
    """
    html = re.sub(r"(?is)<(script|style|head)\b.*?(</\1\s*>|\Z)", " ", html)
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_links = False
    converter.unicode_snob = True
    converter.protect_links = False
    converter.ignore_emphasis = False
    try:
        text = converter.handle(html)
    except Exception:
        # html2text can fail on pathological markup; tags stripped is still readable.
        text = re.sub(r"<[^>]*>", " ", html)
    return _clean_text(text).strip()


# --- summary ---------------------------------------------------------------------------------

# "On Tue, 3 Jan 2024 at 10:00, Ana <ana@x.com> wrote:" and friends in other languages.
_ATTRIBUTION_RE = re.compile(
    r"^\s*(On\s.{0,300}\swrote"
    r"|El\s.{0,300}\sescribi[óo]"
    r"|Em\s.{0,300}\sescreveu"
    r"|Le\s.{0,300}\sa\s+[ée]crit"
    r"|Am\s.{0,300}\sschrieb.{0,120}"
    r"|Il\s.{0,300}\sha\s+scritto)\s*:\s*$",
    re.IGNORECASE,
)
_OUTLOOK_SEPARATOR_RE = re.compile(
    r"^\s*(-{2,}\s*(Original Message|Mensaje original|Message d'origine|Ursprüngliche Nachricht)"
    r"\s*-{2,}|_{10,})\s*$",
    re.IGNORECASE,
)
_FORWARD_RE = re.compile(
    r"^\s*(-{2,}\s*(Forwarded message|Mensaje reenviado|Message transféré|Weitergeleitete Nachricht)"
    r"\s*-{2,}|Begin forwarded message:|Inicio del mensaje reenviado:)\s*$",
    re.IGNORECASE,
)
_OUTLOOK_FROM_RE = re.compile(r"^\s*\**(From|De|Von|Da)\s*:\**\s", re.IGNORECASE)
_OUTLOOK_SENT_RE = re.compile(
    r"^\s*\**(Sent|Date|Enviado(?: el)?|Fecha|Gesendet|Envoyé|Inviato)\s*:\**\s", re.IGNORECASE
)


def trim_quoted(text: str) -> str:
    """Remove quoted history: attribution lines with their ``>`` blocks, Outlook headers on.

    After "On ... wrote:" only the quoted ``>`` lines go, so answers written between quotes
    survive. Outlook quotes without ``>``, so everything from its header block on is history.
    A trailing ``>`` block without an attribution line goes too.
    """
    lines = text.split("\n")
    kept: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _FORWARD_RE.match(line):
            # A forward's header block looks like Outlook history, but it is the content
            # the person wants to share: keep everything from here on.
            kept.extend(lines[i:])
            return _tidy(kept)
        if _OUTLOOK_SEPARATOR_RE.match(line) or _is_outlook_header(lines, i):
            break
        # Clients wrap a long attribution over two lines.
        joined = line + " " + lines[i + 1] if i + 1 < len(lines) else line
        span = 1 if _ATTRIBUTION_RE.match(line) else 2 if _ATTRIBUTION_RE.match(joined) else 0
        if span and _quote_follows(lines, i + span):
            i += span
            while i < len(lines) and (lines[i].lstrip().startswith(">") or not lines[i].strip()):
                i += 1
            continue
        kept.append(line)
        i += 1
    while kept and (not kept[-1].strip() or kept[-1].lstrip().startswith(">")):
        kept.pop()
    return _tidy(kept)


def _tidy(lines: list[str]) -> str:
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _quote_follows(lines: list[str], start: int) -> bool:
    """True when the next non-blank line is quoted, or nothing follows the attribution."""
    for line in lines[start:]:
        if line.strip():
            return line.lstrip().startswith(">")
    return True


def _is_outlook_header(lines: list[str], i: int) -> bool:
    if not _OUTLOOK_FROM_RE.match(lines[i]):
        return False
    return any(_OUTLOOK_SENT_RE.match(line) for line in lines[i + 1 : i + 4])


_SIGNATURE_RE = re.compile(r"^--\s*$")
_MOBILE_SIGNATURE_RE = re.compile(
    r"^\s*(Sent from my\s|Sent from Mail for|Sent from Outlook|Get Outlook for\s"
    r"|Enviado desde mi\s|Enviado desde Outlook|Obtener Outlook para\s"
    r"|Envoyé de mon\s|Von meinem\s.*gesendet|Inviato da\s|Enviado do meu\s)",
    re.IGNORECASE,
)


def filter_signature(text: str) -> str:
    """Cut the signature: from the first "-- " line, or a "Sent from my iPhone" line, on."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if _SIGNATURE_RE.match(line) or _MOBILE_SIGNATURE_RE.match(line):
            return "\n".join(lines[:i]).strip()
    return text.strip()


# --- attachments -----------------------------------------------------------------------------

_TNEF_TYPES = ("application/ms-tnef", "application/vnd.ms-tnef")


def extract_attachments(
    msg: Message, problems: list[str] | None = None, limits: ParseLimits = NO_LIMITS
) -> list[Attachment]:
    """Every file in the message: attachments, named inline images, attached emails (.eml).

    Unnamed inline images referenced by Content-ID are layout (logos, spacers) and skipped.
    Files over ``limits.attachment_max_bytes`` (judged from their encoded size) and files
    past ``limits.max_files`` are listed with an empty payload and never decoded, so a
    mail's memory does not grow with what will not be uploaded anyway.
    """
    problems = problems if problems is not None else []
    found: list[Attachment] = []
    kept = 0
    for number, part, ancestors in walk_parts(msg):
        ctype = content_type(part)
        if _is_multipart(part) and not ctype.startswith("message/"):
            continue
        if ctype.startswith("multipart/"):
            continue
        if ancestors and ancestors[-1] == "multipart/report" and ctype in _REPORT_INTERNALS:
            continue
        full = limits.max_files is not None and kept >= limits.max_files
        attachment = _attachment_of(part, ctype, number, problems, limits, full)
        if attachment is not None:
            found.append(attachment)
            kept += attachment.skipped is None
    return found


# Machine-readable bounce details: the human-readable part already says what happened.
_REPORT_INTERNALS = (
    "message/delivery-status",
    "text/rfc822-headers",
    "message/disposition-notification",
)


def _attachment_of(
    part: Message,
    ctype: str,
    number: int,
    problems: list[str],
    limits: ParseLimits = NO_LIMITS,
    full: bool = False,
) -> Attachment | None:
    if _is_body_part(part, ctype):
        return None
    filename = _filename(part)
    skipped: str | None = None
    if ctype.startswith("message/"):
        payload = _message_bytes(part)
        if not filename:
            inner = _guard(lambda: _payload_list(part)[0], None)
            subject = header_text(inner, "Subject") if isinstance(inner, Message) else None
            filename = _safe_filename(_one_line(subject or "")) or "attached-message"
            filename += ".eml"
    else:
        if (
            not filename
            and ctype.startswith("image/")
            and _guard(lambda: part.get("Content-ID"), None)
            and _disposition(part) != "attachment"
        ):
            return None
        cap = limits.attachment_max_bytes
        size = _decoded_size(part)
        skipped = "too_large" if cap is not None and size > cap else "too_many" if full else None
        if skipped:
            payload = b""
        else:
            decoded = _guard(lambda: part.get_payload(decode=True), None)
            payload = decoded if isinstance(decoded, bytes) else b""
            size = len(payload)
    if ctype in _TNEF_TYPES or filename.lower() == "winmail.dat":
        filename = "winmail.dat"
        problems.append(
            "The attachment winmail.dat is in Microsoft's TNEF format; its content can't be "
            "shown here. Ask the sender to turn off Rich Text format in Outlook."
        )
    if not filename:
        stem = "invite" if ctype == "text/calendar" else f"attachment-{number}"
        filename = stem + _extension_for(ctype)
    if ctype.startswith("message/"):
        size = len(payload)
        cap = limits.attachment_max_bytes
        skipped = "too_large" if cap is not None and size > cap else "too_many" if full else None
        payload = b"" if skipped else payload
    return Attachment(
        filename=filename, content_type=ctype, size=size, payload=payload, skipped=skipped
    )


def _decoded_size(part: Message) -> int:
    """The size a part will have once decoded, from its encoded text, without decoding it."""
    encoded = _guard(part.get_payload, "")
    if not isinstance(encoded, str):
        return 0
    if encoded.startswith(_OMITTED_MARK):
        # Cut out before parsing by omit_huge_parts: its size was noted in its place.
        noted = encoded[len(_OMITTED_MARK) :].split()
        return int(noted[0][:15]) if noted and noted[0].isdigit() else 0
    cte = str(_guard(lambda: part.get("Content-Transfer-Encoding", ""), "") or "").strip().lower()
    if cte == "base64":
        data = len(encoded) - encoded.count("\n") - encoded.count("\r") - encoded.count(" ")
        return max(0, data * 3 // 4 - encoded[-4:].count("="))
    return len(encoded)


def _message_bytes(part: Message) -> bytes:
    inner = _guard(part.get_payload, None)
    if isinstance(inner, list) and inner and isinstance(inner[0], Message):
        first: Message = inner[0]
        # compat32 writes headers back as received instead of refolding them, so damaged
        # headers in the attached message can't make serialising fail.
        data = _guard(lambda: first.as_bytes(policy=email.policy.compat32), None)
        if data is None:
            data = _guard(lambda: str(first).encode("utf-8", "surrogateescape"), b"")
        return data
    decoded = _guard(lambda: part.get_payload(decode=True), None)
    return decoded if isinstance(decoded, bytes) else b""


def _extension_for(ctype: str) -> str:
    if ctype == "text/calendar":
        return ".ics"
    return mimetypes.guess_extension(ctype, strict=False) or ".bin"


def _safe_filename(name: str) -> str:
    return re.sub(r"[\\/:*?\"<>|]+", "_", name).strip(" ._")[:120]


# --- auto replies ----------------------------------------------------------------------------

_BOUNCE_SENDER_RE = re.compile(r"^(mailer-daemon|postmaster|mail-daemon)@", re.IGNORECASE)
_BOUNCE_SUBJECT_RE = re.compile(
    r"^\s*(Undeliverable|Undelivered Mail Returned to Sender|Delivery Status Notification"
    r"|Mail delivery failed|Returned mail|Delivery Failure|Failure Notice"
    r"|No se puede entregar|Non remis|Unzustellbar)\b",
    re.IGNORECASE,
)
_AUTO_SUBJECT_RE = re.compile(
    r"^\s*(Automatic reply|Auto(matic)?[- ]?reply|Auto|Out of (the )?Office( AutoReply)?"
    r"|Respuesta autom[áa]tica|Fuera de la oficina|R[ée]ponse automatique"
    r"|Abwesenheitsnotiz|Risposta automatica|Resposta autom[áa]tica)\s*:",
    re.IGNORECASE,
)


def detect_auto_reply(msg: Message) -> str | None:
    """ "bounce", "auto-reply" or None, from headers first and machine subject prefixes second.

    ``Precedence: bulk`` alone doesn't count: newsletters use it and a person may want to
    read them. Only the machine prefixes mailers put in subjects ("Automatic reply:",
    "Undeliverable:") count, not words a person might write ("out of office next week").
    """
    ctype = content_type(msg)
    report_type = _guard(lambda: msg.get_param("report-type"), None)
    if ctype == "multipart/report" and str(report_type or "").lower() == "delivery-status":
        return "bounce"
    senders = _guard(lambda: header_addresses(msg, "From"), [])
    if senders and _BOUNCE_SENDER_RE.match(senders[0][1]):
        return "bounce"
    subject = header_text(msg, "Subject") or ""
    if _BOUNCE_SUBJECT_RE.match(subject):
        return "bounce"

    auto_submitted = (header_text(msg, "Auto-Submitted") or "").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return "auto-reply"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        value = header_text(msg, name)
        if value is not None and value.strip().lower() not in ("no", "false", "0"):
            return "auto-reply"
    precedence = (header_text(msg, "Precedence") or "").strip().lower()
    if precedence == "auto_reply":
        return "auto-reply"
    if (header_text(msg, "X-Autogenerated") or "").strip().lower() == "reply":
        return "auto-reply"
    if _AUTO_SUBJECT_RE.match(subject):
        return "auto-reply"
    return None


# --- text hygiene ----------------------------------------------------------------------------

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# Bidirectional overrides let "exe.pdf" display as "fdp.exe" (the Trojan Source trick);
# legitimate right-to-left text doesn't need them in a subject, name or file name.
# Invisible format characters (zero-width space/joiners, word joiner, BOM, soft hyphen...)
# let "Pay\u200bPal" pass for PayPal; a name or subject has no use for them either.
_BIDI_OVERRIDE_RE = re.compile(
    r"[\u202a-\u202e\u2066-\u2069"
    r"\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    r"\u2060-\u2065\u206a-\u206f\u3164\ufeff\uffa0]"
)


def _clean_text(text: str) -> str:
    """Normalise newlines and drop control characters and lone surrogates (which Slack's
    JSON API rejects), keeping tabs and newlines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_RE.sub("", text)


def _one_line(text: str) -> str:
    """Header-style text: one line, no bidirectional overrides."""
    return re.sub(r"\s+", " ", _BIDI_OVERRIDE_RE.sub("", text)).strip()


def _quote(value: str, limit: int = 40) -> str:
    value = _one_line(_clean_text(value))
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return f"'{value}'"
