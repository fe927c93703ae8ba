"""bot.senders.parsing: what an admin types after /mail-verify and /dkim-check."""

from __future__ import annotations

import pytest

from bot.senders.parsing import (
    MAX_SELECTORS,
    DkimRequest,
    VerifyRequest,
    parse_dkim_text,
    parse_selectors,
    parse_verify_text,
    unlink,
)
from providers.errors import UserError


def test_slack_links_become_what_was_typed() -> None:
    assert unlink("<mailto:ana@acme.test|ana@acme.test>") == "ana@acme.test"
    assert unlink("<http://acme.test|acme.test> google") == "acme.test google"
    assert unlink("<https://acme.test/>") == "acme.test"
    assert unlink("<mailto:bob@acme.test>") == "bob@acme.test"
    assert unlink("plain text") == "plain text"


def test_verify_text_is_an_address_and_an_optional_sender_name() -> None:
    assert parse_verify_text("   ") is None
    assert parse_verify_text("<mailto:Ventas@Acme.test|Ventas@Acme.test> Acme  Sales") == (
        VerifyRequest("Ventas@acme.test", "Acme Sales")  # the domain part is case-blind
    )
    long = parse_verify_text("a@acme.test " + "n" * 300)
    assert long is not None and len(long.sender_name) == 100
    with pytest.raises(UserError):
        parse_verify_text("not-an-address")


def test_dkim_text_is_a_domain_and_clean_unique_selectors() -> None:
    assert parse_dkim_text("<http://Acme.test|Acme.test> Google, selector1. google") == (
        DkimRequest("acme.test", ["google", "selector1"])
    )
    with pytest.raises(UserError) as caught:
        parse_dkim_text("")
    assert "`/dkim-check example.com`" in caught.value.message


@pytest.mark.parametrize("word", ["-bad", "s/1", "a..b", "<x>", "x" * 64])
def test_a_word_that_is_no_selector_is_named_in_the_error(word: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_selectors(["google", word])
    assert caught.value.message.startswith(f"{word!r} is not a DKIM selector")


def test_selectors_are_limited() -> None:
    assert len(parse_selectors([f"s{i}" for i in range(MAX_SELECTORS)])) == MAX_SELECTORS
    with pytest.raises(UserError) as caught:
        parse_selectors([f"s{i}" for i in range(MAX_SELECTORS + 1)])
    assert caught.value.message == f"Give at most {MAX_SELECTORS} selectors at a time."
