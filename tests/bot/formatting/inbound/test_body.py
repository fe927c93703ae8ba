"""bot.formatting.inbound.body: the text shown for a mail (plain preferred, HTML converted)."""

from __future__ import annotations

from bot.formatting.inbound import parse_email
from bot.formatting.inbound.attachments import extract_attachments
from bot.formatting.inbound.body import extract_body, html_to_text
from tests.bot.formatting.inbound.messages import build


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
