"""bot.formatting.inbound.common: the small cleaning helpers the parsing steps share."""

from __future__ import annotations

from email.message import EmailMessage

from bot.formatting.inbound import parse_email
from bot.formatting.inbound.common import _clean_text, _dedupe, _guard, _one_line, _quote


def test_zero_width_characters_are_stripped_from_names_and_subjects() -> None:
    msg = EmailMessage()
    msg["From"] = "Pay\u200bPal Se\u200ccu\u200drity\u2060 <service@paypa1.test>"
    msg["Subject"] = "\ufeffYour Pay\u200bPal account\u2063"
    msg["Message-ID"] = "<zw@x.test>"
    msg.set_content("x")
    parsed = parse_email(msg.as_bytes())
    assert parsed.from_name == "PayPal Security"
    assert parsed.subject == "Your PayPal account"


def test_a_failing_step_loses_its_field_not_the_mail() -> None:
    def recurse() -> int:
        return recurse()

    assert _guard(lambda: 1 // 0, "default") == "default"
    assert _guard(recurse, None) is None  # RecursionError is caught too
    assert _guard(lambda: 7, 0) == 7


def test_text_hygiene_drops_controls_and_bidi_overrides() -> None:
    assert _clean_text("a\r\nb\rc\x00\x1b\x7f\ud800\td") == "a\nb\nc\td"
    # "exe.pdf" shown as "fdp.exe" with a right-to-left override; "Pay\u200bPal" for PayPal.
    assert _one_line("  invoice\u202eexe.pdf \n\t Pay\u200bPal  ") == "invoiceexe.pdf PayPal"
    assert _dedupe(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


def test_quoted_values_are_one_short_line() -> None:
    assert _quote("x-foo") == "'x-foo'"
    long = _quote("a\nb" + "c" * 100, limit=10)
    assert long == "'a bcccccc…'" and len(long) == 12
