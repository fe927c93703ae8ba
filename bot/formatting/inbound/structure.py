"""The MIME tree: walking parts (depth-capped), types, file names, dispositions, damage."""

from __future__ import annotations

import email
import email.parser
import email.policy
import email.utils
import re
from collections.abc import Iterator
from email import errors as email_errors
from email.message import Message
from functools import partial

from bot.formatting.inbound.common import _guard, _one_line, _payload_list
from bot.formatting.inbound.headers import _fix_8bit, decode_header_text
from bot.formatting.inbound.model import MAX_MIME_DEPTH


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
