"""bot.formatting.inbound.charsets: text decoded whatever charset the mail claims."""

from __future__ import annotations

from bot.formatting.inbound import parse_email
from bot.formatting.inbound.charsets import decode_bytes


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


def test_a_declared_charset_that_reads_is_used_without_a_problem() -> None:
    assert decode_bytes("Mañana".encode("iso-8859-1"), "ISO-8859-1") == ("Mañana", None)
    assert decode_bytes("Niño".encode(), '"UTF8"') == ("Niño", None)  # quoted alias
    # 8-bit UTF-8 labelled us-ascii (or not labelled at all) is common and reads silently.
    assert decode_bytes("Niño".encode(), "us-ascii") == ("Niño", None)
    assert decode_bytes("Niño".encode(), None) == ("Niño", None)


def test_mailer_aliases_python_does_not_know_are_understood() -> None:
    assert decode_bytes("한국".encode("cp949"), "ks_c_5601-1987") == ("한국", None)
    assert decode_bytes("中文".encode("gb18030"), "gb2312") == ("中文", None)


def test_wrong_or_missing_labels_fall_back_to_western_european_and_say_so() -> None:
    text, problem = decode_bytes(b"\x93quoted\x94", None)
    assert text == "\u201cquoted\u201d"  # Windows-1252 curly quotes, not C1 controls
    assert problem == "had no charset and wasn't UTF-8; it was read as Western European."
    text, problem = decode_bytes("Año".encode("latin-1"), "x-nothing-known")
    assert text == "Año"
    assert problem == "used an unknown charset 'x-nothing-known'; shown as best-effort text."
    text, problem = decode_bytes("Año".encode(), "iso-8859-7")  # reads, wrongly, as Greek
    assert problem is None and text != "Año"
    # base64 is a codec but not a text charset: never used to decode a body.
    text, problem = decode_bytes(b"plain", "base64")
    assert (text, problem) == (
        "plain",
        "used an unknown charset 'base64'; shown as best-effort text.",
    )


def test_a_few_bad_bytes_keep_the_declared_charset() -> None:
    data = "日本".encode("shift_jis") + b"\xff\xfe"
    text, problem = decode_bytes(data, "shift_jis")
    assert text.startswith("日本") and "\ufffd" in text
    assert problem == "had bytes that aren't valid 'shift_jis'; they are shown as \ufffd."
