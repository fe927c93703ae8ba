"""Attachments: what is kept, what is too large or too many, and safe file names."""

from __future__ import annotations

import email
import email.parser
import email.policy
import email.utils
import mimetypes
import re
from email.message import Message

from bot.formatting.inbound.common import _guard, _one_line, _payload_list
from bot.formatting.inbound.headers import header_text
from bot.formatting.inbound.model import _OMITTED_MARK, NO_LIMITS, Attachment, ParseLimits
from bot.formatting.inbound.structure import (
    _disposition,
    _filename,
    _is_body_part,
    _is_multipart,
    content_type,
    walk_parts,
)

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
