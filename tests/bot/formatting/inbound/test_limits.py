"""parse_email under ParseLimits (bot.formatting.inbound): what one mail may cost to parse
(issue 10 items 4, 5, 8)."""

from __future__ import annotations

import tracemalloc
from email.message import EmailMessage

from bot.formatting.inbound import ParseLimits, content_hash, parse_email


def test_a_mail_is_parsed_block_by_block() -> None:
    msg = EmailMessage()
    msg["From"], msg["Message-ID"] = "a@b.test", "<blocks@x.test>"
    msg.set_content("x")
    msg.add_attachment(b"\x02" * 3_000_000, maintype="application", subtype="zip", filename="z.zip")
    raw = msg.as_bytes()
    tracemalloc.start()
    try:
        [attachment] = parse_email(raw).attachments  # no limits: the file is kept
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert attachment.size == 3_000_000
    # Parsing the whole mail at once peaked at 7.7x its size before the file was even
    # decoded (10.4x with it); fed in blocks, the tree and the decoded file: measured 5.6x.
    assert peak < 7 * len(raw), peak / len(raw)


def test_the_body_kept_is_capped() -> None:
    msg = EmailMessage()
    msg["From"], msg["Message-ID"] = "a@b.test", "<long@x.test>"
    msg.set_content("word " * 100_000)
    parsed = parse_email(msg.as_bytes(), ParseLimits(body_max_chars=10_000))
    assert len(parsed.text) == 10_000
    assert any("very long" in p for p in parsed.problems)


def test_content_hash_ignores_trace_headers_and_line_endings_but_not_content() -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@b.test", "c@d.test", "Same"
    msg["Message-ID"] = "<same@x.test>"
    msg.set_content("The body.")
    sent_copy = msg.as_bytes()
    inbox_copy = b"Received: by mx.test; Thu, 3 Dec 2026 09:00:00 +0000\r\n" + sent_copy.replace(
        b"\n", b"\r\n"
    )
    assert content_hash(sent_copy) == content_hash(inbox_copy)
    other = sent_copy.replace(b"The body.", b"Another body.")
    assert content_hash(other) != content_hash(sent_copy)
