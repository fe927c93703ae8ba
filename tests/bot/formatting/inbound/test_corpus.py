"""Every awkward message in the corpus parses, and what reaches Slack is safe and readable."""

from __future__ import annotations

import functools
import re

import pytest

from bot.formatting.inbound import InboundEmail, parse_email
from bot.formatting.slack_text import escape, truncate
from tests.support.corpus import awkward_messages

CORPUS = dict(awkward_messages())
# Slack treats these as commands, mentions or links when they appear unescaped.
LIVE_SLACK_MARKUP = re.compile(r"<[!@#]|<https?:|<mailto:", re.IGNORECASE)


@functools.cache
def parsed(name: str) -> InboundEmail:
    return parse_email(CORPUS[name])


def shown_fields(mail: InboundEmail) -> list[str]:
    """Everything from the email that a Slack message could display."""
    return [
        mail.subject,
        mail.from_name,
        mail.from_address,
        mail.summary,
        mail.text,
        *mail.problems,
        *(a.filename for a in mail.attachments),
        *mail.to,
        *mail.cc,
    ]


def test_corpus_is_big_and_named() -> None:
    names = [name for name, _ in awkward_messages()]
    assert len(names) >= 30
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9_]+", n) for n in names)


@pytest.mark.parametrize("name", list(CORPUS))
def test_every_message_parses_into_clean_text(name: str) -> None:
    mail = parsed(name)
    assert mail.message_id.startswith("<") and mail.message_id.endswith(">")
    for value in (mail.subject, mail.from_name, mail.summary, mail.text):
        assert isinstance(value, str)
    assert mail.subject and mail.from_name
    if mail.date is not None:
        assert mail.date.tzinfo is not None
    for value in shown_fields(mail):
        assert isinstance(value, str)
        # Slack's JSON API rejects lone surrogates; NUL and controls show as garbage.
        value.encode("utf-8")
        assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", value), value[:80]
        escaped = escape(value)
        assert not LIVE_SLACK_MARKUP.search(escaped)
        assert not LIVE_SLACK_MARKUP.search(truncate(escaped, 3000))
    for attachment in mail.attachments:
        assert attachment.size == len(attachment.payload)
        assert attachment.filename and "/" not in attachment.filename


def test_hostile_text_survives_as_visible_text() -> None:
    mail = parsed("subject_with_here_and_mentions")
    assert mail.subject == "<!here> urgent <@U123> <!channel>"
    assert escape(mail.subject) == "&lt;!here&gt; urgent &lt;@U123&gt; &lt;!channel&gt;"
    disguised = parsed("disguised_link_in_body")
    assert "https://evil.example/login" in disguised.text
    assert "&lt;https://evil.example/login|https://bank.example&gt;" in escape(disguised.text)
    assert parsed("from_name_with_slack_markup").from_name == "<!channel> <@U1>"
    html = parsed("html_with_slack_control_sequences")
    assert "<!channel>" in html.text and "<@U123>" in html.text


def test_bounce() -> None:
    mail = parsed("bounce_multipart_report_mailer_daemon")
    assert mail.auto_kind == "bounce"
    assert "could not be delivered" in mail.text
    assert [a.content_type for a in mail.attachments] == ["message/rfc822"]


def test_auto_replies() -> None:
    assert parsed("out_of_office_auto_submitted").auto_kind == "auto-reply"
    assert parsed("x_autoreply_header_no_subject_hint").auto_kind == "auto-reply"
    assert parsed("newsletter_precedence_bulk").auto_kind is None
    assert parsed("reply_with_quoted_history").auto_kind is None


def test_missing_message_id_is_synthetic_and_stable() -> None:
    for name in ("missing_message_id", "empty_message_id", "zero_bytes"):
        first = parse_email(CORPUS[name])
        second = parse_email(CORPUS[name])
        assert first.synthetic_id and second.synthetic_id
        assert first.message_id == second.message_id
        assert first.message_id.endswith("@mailroom.invalid>")
    assert not parsed("duplicated_headers").synthetic_id
    assert parsed("duplicated_headers").message_id == "<dup1@customer.example>"


def test_tnef() -> None:
    mail = parsed("tnef_winmail_dat")
    assert [a.filename for a in mail.attachments] == ["winmail.dat"]
    assert any("winmail.dat" in p for p in mail.problems)
    assert mail.text == "See the attached file."


def test_html_only_has_no_markup_or_scripts() -> None:
    text = parsed("html_only_scripts_styles_remote_images").text
    assert "Hola" in text and "la factura" in text
    for bad in ("<", "alert", "document.write", "color: red", "display:none", "pixel.gif"):
        assert bad not in text


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("declared_us_ascii_but_utf8", "Mañana pagaré la factura."),
        ("declared_us_ascii_but_latin1", "Mañana pagaré la factura."),
        ("declared_utf8_but_latin1", "Atención: reunión el lunes."),
        ("unknown_charset_x_unknown", "Café con leche, señor."),
        ("windows_1252_smart_quotes_no_charset", "\u201cQuoted\u201d and \u2013 dash"),
        ("base64_with_garbage", "Hola señor"),
    ],
)
def test_wrong_charsets_read_with_accents(name: str, expected: str) -> None:
    assert parsed(name).text == expected


def test_unknown_charset_is_reported() -> None:
    assert parsed("unknown_charset_x_unknown").problems == [
        "Part 1 used an unknown charset 'x-unknown'; shown as best-effort text."
    ]


def test_headers() -> None:
    utf8 = parsed("eight_bit_utf8_headers")
    assert (utf8.subject, utf8.from_name) == ("Factura de diciembre — ¿pagada?", "José Müller")
    latin = parsed("eight_bit_latin1_headers")
    assert (latin.subject, latin.from_name) == ("Problème de réception", "Françoise Dupré")
    assert parsed("split_multibyte_encoded_words").subject == "Niño"
    broken = parsed("broken_rfc2047_encoded_words")
    assert broken.from_name == "Ana Pérez"
    # Space between encoded-words is folding (RFC 2047); undecodable words stay visible.
    assert (
        broken.subject == "Café bad=ZZescapewéird =?utf-8?B?!!notbase64!!?= =?utf-8?Q?unterminated"
    )
    assert parsed("missing_subject").subject == "(no subject)"
    assert parsed("missing_from").from_address == ""
    assert parsed("missing_date").date is None
    assert parsed("invalid_date").date is None
    assert parsed("duplicated_headers").subject == "first subject"
    rtl = parsed("right_to_left_and_emoji")
    assert rtl.from_name == "שרה כהן"
    assert rtl.subject == "مرحبا 👋🏽 evil.exe"  # the bidi override is gone


def test_threading_junk() -> None:
    mail = parsed("junk_references_and_comments")
    assert mail.message_id == "<spaced@customer.example>"
    assert mail.in_reply_to == "<parent@acme.example>"
    assert mail.references == ["<root@acme.example>", "<mid@acme.example>"]


def test_summaries() -> None:
    assert parsed("reply_with_quoted_history").summary == "Yes, Thursday works for us."
    assert parsed("outlook_reply_original_message").summary == "Received, thank you."
    spanish = parsed("spanish_reply_with_accents")
    assert spanish.summary == "Perfecto, la aprobamos mañana."
    assert spanish.subject == "Re: Cotización año 2024"
    assert spanish.from_name == "Ana Pérez"


def test_structure_oddities() -> None:
    assert parsed("deeply_nested_multipart_depth_30").text == "Deep inside."
    deep = parsed("deeply_nested_multipart_depth_300")
    assert any("nested too deeply" in p for p in deep.problems)
    assert "Body text survives." in parsed("multipart_without_boundary").text
    assert parsed("multipart_without_boundary").problems
    assert parsed("malformed_content_type").text == "Content type has no subtype."
    assert parsed("crlf_and_lf_mixed").text == "Line one\nLine two\nLine three"
    assert parsed("nul_bytes").text == "Hello world\nSecondline"
    assert parsed("quoted_printable_bad_escapes").text.startswith("Café =ZZ broken")
    assert len(parsed("very_long_single_line_200kb").text) == 200_000
    assert parsed("empty_body").text == "" and parsed("empty_body").summary == ""
    assert parsed("headers_only_no_blank_line").subject == "only headers"


def test_attachments() -> None:
    only = parsed("only_an_attachment")
    assert only.text == ""
    assert [(a.filename, a.payload) for a in only.attachments] == [
        ("factura.pdf", b"%PDF-1.4 fake invoice")
    ]
    huge = parsed("huge_attachment_12mb")
    assert huge.attachments[0].size == 12 * 1024 * 1024
    fwd = parsed("forwarded_message_rfc822")
    assert [a.filename for a in fwd.attachments] == ["Original question.eml"]
    assert b"This is the forwarded original." in fwd.attachments[0].payload
    invite = parsed("calendar_invite")
    assert invite.text == "You are invited: Kickoff, Monday 10:00."
    assert [(a.filename, a.content_type) for a in invite.attachments] == [
        ("invite.ics", "text/calendar")
    ]
    assert [a.filename for a in parsed("inline_images_related").attachments] == ["photo.jpg"]
    names = [a.filename for a in parsed("encoded_and_path_attachment_filenames").attachments]
    assert names == ["informe ñ.pdf", "etc_passwd"]
