"""parse_email (bot.formatting.inbound) as a whole, on messages built in memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.policy import default as default_policy

import pytest

from bot.formatting.inbound import parse_email
from tests.bot.formatting.inbound.messages import build, parse


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


def test_missing_message_id_gets_stable_synthetic_id() -> None:
    raw = b"From: a@b.example\nSubject: x\n\nbody\n"
    # Two fetches of the same mail give equal bytes, never the same object.
    first, second = parse_email(raw), parse_email(bytes(bytearray(raw)))
    assert first.synthetic_id
    assert first.message_id == second.message_id
    assert first.message_id.startswith("<") and first.message_id.endswith("@mailroom.invalid>")
    assert len(first.message_id) == len("<@mailroom.invalid>") + 32
    assert parse_email(raw + b"other\n").message_id != first.message_id


def test_defaults_for_missing_subject_and_name() -> None:
    mail = parse_email(b"From: ana@customer.example\n\nhi\n")
    assert mail.subject == "(no subject)"
    assert mail.from_name == "ana@customer.example"


def test_missing_from_is_a_problem_not_a_crash() -> None:
    mail = parse_email(b"Subject: x\n\nhi\n")
    assert mail.from_address == ""
    assert mail.reply_addresses == []
    assert any("sender" in p for p in mail.problems)


@pytest.mark.parametrize("raw", [b"", b"\x00\xff" * 100, b"\n\n\n", b"::::\n\n", bytes(range(256))])
def test_parse_never_raises(raw: bytes) -> None:
    mail = parse_email(raw)
    assert mail.synthetic_id
    assert isinstance(mail.text, str)


def test_summary_trims_and_falls_back() -> None:
    mail = parse(build(text="Yes.\n\n-- \nAna\n\nOn Mon, S wrote:\n> old\n"))
    assert mail.summary == "Yes."
    assert mail.text.startswith("Yes.") and "> old" in mail.text
    only_quote = parse(build(text="On Mon, S wrote:\n> old\n"))
    assert only_quote.summary == only_quote.text


def test_parse_accepts_messages_from_the_default_policy() -> None:
    # A message serialised with CRLF (as IMAP delivers it) reads the same.
    msg = build(text="line one\nline two")
    raw = msg.as_bytes(policy=default_policy.clone(linesep="\r\n"))
    mail = parse_email(raw)
    assert mail.text == "line one\nline two"
    assert mail.subject == "Pedido 42"
