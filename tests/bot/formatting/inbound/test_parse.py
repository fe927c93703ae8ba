"""parse_email and its steps, on messages built in memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest

from bot.formatting.inbound import InboundEmail, parse_email
from bot.formatting.inbound.attachments import extract_attachments
from bot.formatting.inbound.auto_replies import detect_auto_reply
from bot.formatting.inbound.body import extract_body, html_to_text
from bot.formatting.inbound.headers import (
    decode_header_text,
    normalize_message_id,
    parse_message_ids,
)


def build(
    *,
    text: str | None = "Hello.",
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Ana Pérez <ana@customer.example>"
    msg["To"] = "Support <support@acme.example>"
    msg["Subject"] = "Pedido 42"
    msg["Date"] = "Tue, 02 Jan 2024 10:00:00 +0100"
    msg["Message-ID"] = "<m1@customer.example>"
    for name, value in (headers or {}).items():
        msg[name] = value
    if text is not None:
        msg.set_content(text)
    if html is not None:
        if text is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    return msg


def parse(msg: EmailMessage) -> InboundEmail:
    return parse_email(msg.as_bytes())


# --- headers ---------------------------------------------------------------------------------


def test_basic_fields() -> None:
    mail = parse(build(headers={"Cc": "Bob <bob@x.example>, carol@y.example"}))
    assert mail.message_id == "<m1@customer.example>"
    assert not mail.synthetic_id
    assert mail.subject == "Pedido 42"
    assert mail.from_name == "Ana Pérez"
    assert mail.from_address == "ana@customer.example"
    assert mail.to == ["support@acme.example"]
    assert mail.cc == ["bob@x.example", "carol@y.example"]
    assert mail.date == datetime(2024, 1, 2, 9, 0, tzinfo=UTC)
    assert mail.date.utcoffset() == timedelta(hours=1)
    assert mail.text == "Hello."
    assert mail.problems == []


def test_threading_headers() -> None:
    raw = (
        b"From: a@customer.example\nMessage-ID: <m@customer.example>\n"
        b"In-Reply-To: <parent@acme.example>\n"
        b"References: <root@acme.example>\n <parent@acme.example>\n\nhi\n"
    )
    mail = parse_email(raw)
    assert mail.in_reply_to == "<parent@acme.example>"
    assert mail.references == ["<root@acme.example>", "<parent@acme.example>"]


def test_reply_addresses_prefer_reply_to() -> None:
    mail = parse(build(headers={"Reply-To": "Team <team@customer.example>, b@customer.example"}))
    assert mail.reply_to == ["team@customer.example", "b@customer.example"]
    assert mail.reply_addresses == ["team@customer.example", "b@customer.example"]
    assert parse(build()).reply_addresses == ["ana@customer.example"]


def test_missing_message_id_gets_stable_synthetic_id() -> None:
    raw = b"From: a@b.example\nSubject: x\n\nbody\n"
    # Two fetches of the same mail give equal bytes, never the same object.
    first, second = parse_email(raw), parse_email(bytes(bytearray(raw)))
    assert first.synthetic_id
    assert first.message_id == second.message_id
    assert first.message_id.startswith("<") and first.message_id.endswith("@mailroom.invalid>")
    assert len(first.message_id) == len("<@mailroom.invalid>") + 32
    assert parse_email(raw + b"other\n").message_id != first.message_id


def test_message_id_normalisation() -> None:
    assert normalize_message_id("  (comment) < abc@x.example >  ") == "<abc@x.example>"
    assert normalize_message_id("bare@x.example") == "<bare@x.example>"
    assert normalize_message_id("   ") is None
    assert normalize_message_id("no id here") is None


def test_parse_message_ids_tolerates_junk() -> None:
    refs = "junk <a@x> ,, <> (comment <c@x>) <b@x>\n\t<a@x>"
    assert parse_message_ids(refs) == ["<a@x>", "<b@x>"]
    assert parse_message_ids("") == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=?utf-8?q?Caf=C3=A9?=", "Café"),
        ("=?iso-8859-1?q?Caf=E9?= au lait", "Café au lait"),
        ("=?utf-8?b?TmnD?= =?utf-8?b?sW8=?=", "Niño"),
        ("=?x-unknown?q?caf=C3=A9?=", "café"),
        ("=?utf-8?q?broken=ZZ?=", "broken=ZZ"),
        ("=?utf-8?b?QW5h?=  =?utf-8?q?_P=C3=A9rez?=", "Ana Pérez"),
        ("plain =?utf-8?q?x", "plain =?utf-8?q?x"),
        ("Caf\udcc3\udca9", "Café"),
        ("Caf\udce9", "Café"),
    ],
)
def test_decode_header_text(raw: str, expected: str) -> None:
    assert decode_header_text(raw) == expected


def test_eight_bit_headers_become_clean_text() -> None:
    raw = "From: José <j@x.example>\nSubject: ¿Qué tal?\n\nhola\n".encode()
    mail = parse_email(raw)
    assert mail.subject == "¿Qué tal?"
    assert mail.from_name == "José"
    raw = "From: Zoë <z@x.example>\nSubject: Noël\n\nhi\n".encode("latin-1")
    mail = parse_email(raw)
    assert (mail.subject, mail.from_name) == ("Noël", "Zoë")


def test_defaults_for_missing_subject_and_name() -> None:
    mail = parse_email(b"From: ana@customer.example\n\nhi\n")
    assert mail.subject == "(no subject)"
    assert mail.from_name == "ana@customer.example"


def test_missing_from_is_a_problem_not_a_crash() -> None:
    mail = parse_email(b"Subject: x\n\nhi\n")
    assert mail.from_address == ""
    assert mail.reply_addresses == []
    assert any("sender" in p for p in mail.problems)


def test_naive_and_invalid_dates() -> None:
    mail = parse_email(b"From: a@b.example\nDate: Tue, 02 Jan 2024 10:00:00 -0000\n\nx\n")
    assert mail.date == datetime(2024, 1, 2, 10, 0, tzinfo=UTC)
    mail = parse_email(b"From: a@b.example\nDate: yesterday-ish\n\nx\n")
    assert mail.date is None
    assert any("yesterday-ish" in p for p in mail.problems)
    mail = parse_email(b"From: a@b.example\nDate: Tue, 02 Jan 2024 10:00:00 +0530\n\nx\n")
    assert mail.date.tzinfo == timezone(timedelta(hours=5, minutes=30))


@pytest.mark.parametrize("raw", [b"", b"\x00\xff" * 100, b"\n\n\n", b"::::\n\n", bytes(range(256))])
def test_parse_never_raises(raw: bytes) -> None:
    mail = parse_email(raw)
    assert mail.synthetic_id
    assert isinstance(mail.text, str)


# --- body ------------------------------------------------------------------------------------


def test_prefers_plain_over_html() -> None:
    msg = build(text="Plain version.", html="<p>HTML version.</p>")
    assert extract_body(msg) == "Plain version."


def test_html_only_is_converted_without_markup() -> None:
    html = (
        "<html><head><style>p{color:red}</style><script>alert(1)</script></head>"
        "<body><p>Hola <a href='https://acme.example/f'>factura</a></p>"
        "<img src='https://tracker.example/p.gif'><script>steal()</script></body></html>"
    )
    text = extract_body(build(text=None, html=html))
    assert "Hola" in text and "factura" in text and "https://acme.example/f" in text
    for bad in ("<", "alert", "steal", "color:red", "tracker.example"):
        assert bad not in text


def test_html_to_text_unclosed_script_and_long_lines() -> None:
    assert "evil" not in html_to_text("<p>ok</p><script>evil()")
    words = " ".join(["word"] * 500)
    assert html_to_text(f"<p>{words}</p>") == words  # body_width=0: no re-wrapping


def test_nested_multiparts_and_attachments_skipped_in_body() -> None:
    msg = build(text="Main text.", html="<p>Main text.</p>")
    msg.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="f.pdf")
    msg.add_attachment("attached notes", filename="notes.txt")
    assert extract_body(msg) == "Main text."
    names = [a.filename for a in extract_attachments(msg)]
    assert names == ["f.pdf", "notes.txt"]


def test_charset_lies_are_recovered_and_reported() -> None:
    body = "Mañana".encode("latin-1")
    raw = b"From: a@b.example\nContent-Type: text/plain; charset=utf-8\n\n" + body
    mail = parse_email(raw)
    assert mail.text == "Mañana"
    assert mail.problems and "utf-8" in mail.problems[0]

    raw = b"From: a@b.example\nContent-Type: text/plain; charset=x-foo\n\n" + "Ñu".encode()
    mail = parse_email(raw)
    assert mail.text == "Ñu"
    assert mail.problems == ["Part 1 used an unknown charset 'x-foo'; shown as best-effort text."]


def test_problems_number_the_part() -> None:
    raw = (
        b'From: a@b.example\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nfirst\n"
        b'--b\nContent-Type: multipart/alternative; boundary="c"\n\n'
        b"--c\nContent-Type: text/plain; charset=x-foo\n\nsecond\n--c--\n"
        b"--b--\n"
    )
    mail = parse_email(raw)
    assert mail.text == "first\n\nsecond"
    assert mail.problems == ["Part 4 used an unknown charset 'x-foo'; shown as best-effort text."]


# --- attachments -----------------------------------------------------------------------------


def test_attachment_fields_and_non_ascii_names() -> None:
    msg = build()
    msg.add_attachment(b"%PDF-1", maintype="application", subtype="pdf", filename="Informe ñ.pdf")
    [att] = extract_attachments(msg)
    assert (att.filename, att.content_type, att.size, att.payload) == (
        "Informe ñ.pdf",
        "application/pdf",
        6,
        b"%PDF-1",
    )


def test_forwarded_message_becomes_eml() -> None:
    inner = build(headers={})
    inner.replace_header("Subject", "Original")
    outer = build(text="FYI")
    outer.add_attachment(inner)
    mail = parse(outer)
    [att] = mail.attachments
    assert att.filename == "Original.eml"
    assert att.content_type == "message/rfc822"
    assert b"Subject: Original" in att.payload
    assert mail.text == "FYI"  # the forwarded body is the attachment, not more text


def test_tnef_is_kept_with_a_problem() -> None:
    msg = build(text="see file")
    msg.add_attachment(
        b"\x78\x9f\x3e\x22", maintype="application", subtype="ms-tnef", filename="WINMAIL.DAT"
    )
    mail = parse(msg)
    assert [a.filename for a in mail.attachments] == ["winmail.dat"]
    assert any("winmail.dat" in p and "can't be shown" in p for p in mail.problems)


def test_inline_images_with_names_kept_layout_images_skipped() -> None:
    msg = build(text=None, html='<p>logo <img src="cid:l"></p>')
    html_part = msg
    html_part.add_related(b"png", maintype="image", subtype="png", cid="<l>")
    html_part.add_related(b"jpg", maintype="image", subtype="jpeg", cid="<p>", filename="photo.jpg")
    mail = parse(msg)
    assert [a.filename for a in mail.attachments] == ["photo.jpg"]
    assert mail.text == "logo"


def test_attachment_names_cannot_be_paths() -> None:
    msg = build()
    msg.add_attachment(b"x", maintype="text", subtype="plain", filename="../../etc/passwd")
    # Separators are replaced, not cut at (cutting let a name hide its beginning).
    assert [a.filename for a in extract_attachments(msg)] == ["etc_passwd"]


# --- auto replies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Auto-Submitted": "auto-replied"}, "auto-reply"),
        ({"Auto-Submitted": "no"}, None),
        ({"X-Autoreply": "yes"}, "auto-reply"),
        ({"X-Autorespond": "Out of office"}, "auto-reply"),
        ({"Precedence": "auto_reply"}, "auto-reply"),
        ({"Precedence": "bulk"}, None),
        ({"Subject": "Automatic reply: Pedido"}, "auto-reply"),
        ({"Subject": "Respuesta automática: Pedido"}, "auto-reply"),
        ({"Subject": "Out of office next week, can we talk before?"}, None),
        ({"Subject": "Undeliverable: Pedido"}, "bounce"),
        ({"Subject": "Delivery Status Notification (Failure)"}, "bounce"),
        ({"From": "MAILER-DAEMON@mx.example"}, "bounce"),
        ({"From": "postmaster@mx.example"}, "bounce"),
    ],
)
def test_detect_auto_reply(headers: dict[str, str], expected: str | None) -> None:
    msg = build()
    for name, value in headers.items():
        del msg[name]
        msg[name] = value
    assert detect_auto_reply(msg) == expected


def test_multipart_report_is_a_bounce() -> None:
    raw = (
        b"From: someone@mx.example\nSubject: failed\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nCould not deliver.\n"
        b"--b\nContent-Type: message/delivery-status\n\nStatus: 5.1.1\n--b--\n"
    )
    mail = parse_email(raw)
    assert mail.auto_kind == "bounce"
    assert mail.text == "Could not deliver."
    assert mail.attachments == []


def test_parse_accepts_messages_from_the_default_policy() -> None:
    # A message serialised with CRLF (as IMAP delivers it) reads the same.
    msg = build(text="line one\nline two")
    raw = msg.as_bytes(policy=default_policy.clone(linesep="\r\n"))
    mail = parse_email(raw)
    assert mail.text == "line one\nline two"
    assert mail.subject == "Pedido 42"
