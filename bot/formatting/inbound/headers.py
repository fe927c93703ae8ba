"""Headers: decoded words, address lists, Message-IDs and dates, tolerant of what real mailers send."""

from __future__ import annotations

import base64
import binascii
import email
import email.parser
import email.policy
import email.utils
import re
from datetime import UTC, datetime
from email.message import Message

from bot.formatting.inbound.charsets import decode_bytes
from bot.formatting.inbound.common import _clean_text, _dedupe, _one_line, _quote
from bot.formatting.inbound.model import _POLICY, MAX_ADDRESSES, MAX_REFERENCES


def raw_header(msg: Message, name: str) -> str | None:
    """The first ``name`` header exactly as received (8-bit bytes as surrogates), unfolded."""
    wanted = name.lower()
    try:
        items = msg.raw_items()
        for key, value in items:
            if key.lower() == wanted:
                return re.sub(r"\r?\n|\r", "", str(value))
    except Exception:  # a damaged header reads as absent, never loses the mail
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
    except Exception:  # any unreadable date: noted for people, the mail still posts
        if problems is not None:
            problems.append(f"The message's date ({_quote(raw)}) couldn't be read.")
        return None
