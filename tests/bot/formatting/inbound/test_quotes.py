"""bot.formatting.inbound.quotes: quoted history and signatures trimmed from the summary."""

from __future__ import annotations

from bot.formatting.inbound.quotes import filter_signature, trim_quoted


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
