"""bot.formatting.inbound.structure: walking the MIME tree, file names, and damage reports."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage, Message

from bot.formatting.inbound.model import MAX_MIME_DEPTH
from bot.formatting.inbound.structure import (
    _filename,
    _is_body_part,
    content_type,
    note_structure_defects,
    walk_parts,
)
from tests.bot.formatting.inbound.messages import build


def read(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def test_parts_are_numbered_depth_first_and_attached_mails_are_not_entered() -> None:
    msg = build(text="Hello.", html="<p>Hello.</p>")
    inner = build(text="Inner text.")
    msg.add_attachment(inner)
    walked = [(n, content_type(p), ancestors) for n, p, ancestors in walk_parts(msg)]
    assert walked == [
        (1, "multipart/mixed", []),
        (2, "multipart/alternative", ["multipart/mixed"]),
        (3, "text/plain", ["multipart/mixed", "multipart/alternative"]),
        (4, "text/html", ["multipart/mixed", "multipart/alternative"]),
        (5, "message/rfc822", ["multipart/mixed"]),
    ]


def nested(depth: int) -> bytes:
    head = b"From: a@b.example\nMIME-Version: 1.0\n"
    body = b"Content-Type: text/plain\n\ninnermost\n"
    for level in range(depth):
        boundary = f"b{level}".encode()
        body = (
            b'Content-Type: multipart/mixed; boundary="'
            + boundary
            + b'"\n\n--'
            + boundary
            + b"\n"
            + body
            + b"--"
            + boundary
            + b"--\n"
        )
    return head + body


def test_a_tree_too_deep_is_cut_and_reported() -> None:
    msg = read(nested(MAX_MIME_DEPTH + 5))
    parts = list(walk_parts(msg))
    assert max(len(ancestors) for _, _, ancestors in parts) == MAX_MIME_DEPTH
    assert all(content_type(p) != "text/plain" for _, p, _ in parts)
    problems: list[str] = []
    note_structure_defects(msg, problems)
    assert problems == ["The message is nested too deeply; its innermost parts were skipped."]
    fine: list[str] = []
    note_structure_defects(read(nested(3)), fine)
    assert fine == []


def test_damage_is_explained_per_part() -> None:
    no_boundary = b"From: a@b.example\nMIME-Version: 1.0\nContent-Type: multipart/mixed\n\nx\n"
    problems: list[str] = []
    note_structure_defects(read(no_boundary), problems)
    assert problems == [
        "Part 1 claimed to contain several parts but had no boundary; it is shown as plain text."
    ]
    cut = (
        b'From: a@b.example\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="z"\n\n'
        b"--z\nContent-Type: text/plain\n\nstart of a mail that never ends\n"
    )
    problems = []
    note_structure_defects(read(cut), problems)
    assert problems == ["Part 1 was cut short or damaged; some content may be missing."]


def test_file_names_come_from_either_header_and_are_never_paths() -> None:
    part = EmailMessage()
    part["Content-Type"] = 'application/pdf; name="=?utf-8?q?Factura_=C3=B1.pdf?="'
    assert _filename(part) == "Factura ñ.pdf"
    part = EmailMessage()
    part["Content-Disposition"] = 'attachment; filename="..\\\\..\\\\.hidden/x\u202e.txt"'
    assert _filename(part) == "hidden_x.txt"
    assert _filename(EmailMessage()) == ""


def test_only_unnamed_inline_text_is_body() -> None:
    text = EmailMessage()
    text.set_content("hi")
    assert _is_body_part(text, "text/plain")
    named = EmailMessage()
    named.set_content("notes", disposition="inline", filename="notes.txt")
    assert not _is_body_part(named, "text/plain")
    attached = EmailMessage()
    attached.set_content("notes", disposition="attachment")
    assert not _is_body_part(attached, "text/plain")
    assert not _is_body_part(text, "text/csv")
