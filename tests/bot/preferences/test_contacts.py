"""Contact patterns, matching and CSV parsing, as plain functions."""

from __future__ import annotations

import pytest

from bot.preferences.contacts import (
    MAX_CSV_BYTES,
    counterparts,
    matches,
    normalise_pattern,
    parse_contacts_csv,
)
from providers.errors import UserError
from storage.models import Mailbox


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("Ana@Customer.TEST", "ana@customer.test"),
        ("<mailto:ana@customer.test>", "ana@customer.test"),
        ("@Customer.test", "@customer.test"),
        ("customer.test", "@customer.test"),
        ("not an address", None),
        ("@", None),
        ("ana@", None),
    ],
)
def test_normalise_pattern(value: str, pattern: str | None) -> None:
    assert normalise_pattern(value) == pattern


def test_matches_addresses_domains_and_subdomains_only() -> None:
    patterns = {"ana@customer.test", "@partner.test"}
    assert matches(patterns, "ANA@customer.test")
    assert matches(patterns, "bob@partner.test") and matches(patterns, "bob@eu.partner.test")
    assert not matches(patterns, "bob@notpartner.test")
    assert not matches(patterns, "bob@customer.test")
    assert not matches(patterns, "")


def test_counterparts_are_the_other_side_without_ourselves() -> None:
    mailbox = Mailbox(team_id="T", kind="personal", owner_id="U", address="Sales@acme.test")
    assert counterparts(mailbox, "ana@c.test", ["sales@acme.test"], "in") == ["ana@c.test"]
    assert counterparts(
        mailbox, "sales@acme.test", ["A@c.test", "sales@acme.test", "a@c.test"], "out"
    ) == ["a@c.test"]


def test_csv_any_column_any_delimiter_with_header() -> None:
    data = "\ufeffName,Email,Domain\nAna,ana@c.test,\nAcme,,@acme.test\nNobody,,\nAna again,ANA@c.test,\n"
    found, without = parse_contacts_csv(data.encode("utf-8"))
    assert found == ["ana@c.test", "@acme.test"]
    assert without == 1


def test_csv_too_large_is_refused() -> None:
    with pytest.raises(UserError):
        parse_contacts_csv(b"a@b.test\n" * (MAX_CSV_BYTES // 8))
