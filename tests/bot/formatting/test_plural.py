"""Counted nouns read naturally: no "(s)" or "(es)"."""

from __future__ import annotations

import pytest

from bot.formatting.plural import plural, plural_form


@pytest.mark.parametrize(
    ("n", "expected"), [(0, "0 mailboxes"), (1, "1 mailbox"), (2, "2 mailboxes")]
)
def test_plural_picks_the_form_by_count(n: int, expected: str) -> None:
    assert plural(n, "mailbox", "mailboxes") == expected


def test_plural_form_for_verbs() -> None:
    assert plural_form(1, "waits", "wait") == "waits"
    assert plural_form(3, "waits", "wait") == "wait"
