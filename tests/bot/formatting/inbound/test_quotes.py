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


# --- trim_quoted and filter_signature on plain text ---------------------------------------


def test_trim_quoted_gmail_style() -> None:
    text = (
        "Sounds good.\n\nOn Tue, Jan 2, 2024 at 9:00 AM Support <s@acme.example>\nwrote:\n"
        "> Earlier text\n> more\n"
    )
    assert trim_quoted(text) == "Sounds good."


def test_trim_quoted_keeps_inline_answers() -> None:
    text = "On Mon, Ana wrote:\n> Question one?\nAnswer one.\n> Question two?\nAnswer two.\n"
    assert trim_quoted(text) == "Answer one.\n> Question two?\nAnswer two."


def test_trim_quoted_outlook_and_spanish() -> None:
    outlook = "Thanks!\n\n-----Original Message-----\nFrom: S\nSent: Monday\n\nOld"
    assert trim_quoted(outlook) == "Thanks!"
    header_block = "Thanks!\n\nFrom: Support <s@acme.example>\nSent: Monday\nTo: Ana\n\nOld"
    assert trim_quoted(header_block) == "Thanks!"
    spanish = (
        "Gracias.\n\nEl lun, 1 ene 2024 a las 9:00, Soporte (<s@acme.example>) escribió:\n> Hola"
    )
    assert trim_quoted(spanish) == "Gracias."
    spanish_outlook = "Listo.\n\nDe: Soporte\nEnviado el: lunes\nPara: Ana\n\nViejo"
    assert trim_quoted(spanish_outlook) == "Listo."


def test_trim_quoted_keeps_plain_text_mentioning_wrote() -> None:
    text = "On Monday I wrote: the report is late.\nPlease check."
    assert trim_quoted(text) == text


def test_trim_quoted_keeps_forwarded_content() -> None:
    text = (
        "FYI, see below.\n\n---------- Forwarded message ---------\n"
        "From: Bob <bob@x.example>\nDate: Mon, 1 Jan 2024\nSubject: Order\n\nThe order is late."
    )
    assert trim_quoted(text) == text


def test_filter_signature() -> None:
    assert filter_signature("Hi\n\n-- \nAna\nCEO") == "Hi"
    assert filter_signature("Hi\n\nSent from my iPhone") == "Hi"
    assert filter_signature("Hola\n\nEnviado desde mi iPhone") == "Hola"
    assert filter_signature("a -- b\nc") == "a -- b\nc"
