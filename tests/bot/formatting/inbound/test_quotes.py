"""Quoted history and signatures trimmed from the summary a reader sees in Slack.

The mails are in tests/support/reply_cases.py, shared with bench/quotes/compare.py, which
measures the same trimming against reply-parsing libraries.
"""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from bot.formatting.inbound import InboundEmail, parse_email
from bot.formatting.inbound.quotes import filter_signature, trim_quoted
from tests.support.reply_cases import GMAIL_ONLY_QUOTE, REPLY_CASES, ReplyCase


def as_mail(body: str | EmailMessage) -> InboundEmail:
    """Parse a whole message, or a plain-text one with ``body`` as its text."""
    if isinstance(body, str):
        msg = EmailMessage()
        msg["From"] = "Ana Pérez <ana@customer.example>"
        msg["Subject"] = "Re: Pedido 42"
        msg["Message-ID"] = "<reply@customer.example>"
        msg.set_content(body)
        body = msg
    return parse_email(body.as_bytes())


@pytest.mark.parametrize("case", REPLY_CASES, ids=lambda case: case.name)
def test_summary_is_what_the_person_wrote(case: ReplyCase) -> None:
    assert as_mail(case.mail).summary == case.visible


def test_the_full_text_keeps_history_and_signature() -> None:
    mail = as_mail("Yes.\n\n-- \nAna\n\nOn Mon, S wrote:\n> old\n")
    assert mail.summary == "Yes."
    assert mail.text == "Yes.\n\n-- \nAna\n\nOn Mon, S wrote:\n> old"


def test_a_mail_that_is_only_a_quote_shows_whole() -> None:
    # Trimming leaves nothing; an empty summary would hide that the mail came at all.
    assert trim_quoted(GMAIL_ONLY_QUOTE) == ""
    mail = as_mail(GMAIL_ONLY_QUOTE)
    assert mail.summary == mail.text == GMAIL_ONLY_QUOTE.strip()


def test_trim_quoted_leaves_the_signature_to_filter_signature() -> None:
    text = "Yes.\n\n-- \nAna\n\nOn Mon, S wrote:\n> old\n"
    assert trim_quoted(text) == "Yes.\n\n-- \nAna"
    assert filter_signature(trim_quoted(text)) == "Yes."


def test_attribution_without_a_quote_after_it_is_text() -> None:
    # "On ... wrote:" ending a line is history only when quoted lines follow it.
    text = "On Monday Ana wrote:\nthe report is late."
    assert trim_quoted(text) == text


def test_signature_starts_at_the_first_signature_line() -> None:
    assert filter_signature("Hi\n\n-- \nAna\n-- \nAcme") == "Hi"
    assert filter_signature("Hi\n--\nAna") == "Hi"
    assert filter_signature("Hi\n--- not a signature\nAna") == "Hi\n--- not a signature\nAna"
    assert filter_signature("Hola\n\nEnviado desde Yahoo Mail para Android") == "Hola"
