"""Counted nouns: "1 mailbox", "2 mailboxes", never "1 mailbox(es)".

English has two forms, picked like gettext's ``ngettext(one, other, n)`` so that moving these
strings into message catalogs later (Babel) keeps every call site's shape.
"""

from __future__ import annotations


def plural_form(n: int, one: str, other: str) -> str:
    """``one`` when n is 1, else ``other`` (ngettext's argument order, minus the count)."""
    return one if n == 1 else other


def plural(n: int, one: str, other: str) -> str:
    """The count and the noun in the right form: ``plural(2, "mailbox", "mailboxes")``."""
    return f"{n} {plural_form(n, one, other)}"
