"""The readable text of a mail: the best alternative, charsets that lie, HTML turned into text."""

from __future__ import annotations

import re
from email.message import Message

import html2text

from bot.formatting.inbound.charsets import decode_bytes
from bot.formatting.inbound.common import _clean_text, _guard
from bot.formatting.inbound.model import _OMITTED_MARK, MAX_MIME_DEPTH
from bot.formatting.inbound.structure import _is_body_part, _is_multipart, content_type, walk_parts


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
