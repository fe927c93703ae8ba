"""/mail-contacts and /mail-contact messages, as plain dicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.blocks.contacts import (
    MAX_LISTED,
    activity_message,
    contacts_changed_text,
    contacts_list,
)
from bot.preferences.contacts import ActivityItem, ContactChanges
from locales import speaking
from storage.models import Activity, Contact, Mailbox


def box(**fields: object) -> Mailbox:
    base: dict[str, object] = {
        "id": 1,
        "team_id": "T",
        "kind": "shared",
        "owner_id": "U",
        "address": "ventas@acme.test",
    }
    base.update(fields)
    return Mailbox(**base)  # type: ignore[arg-type]


def test_contacts_changed_text_speaks_spanish_with_plural_forms() -> None:
    one = ContactChanges(done=["ana@cliente.test"], unchanged=[], invalid=[])
    three = ContactChanges(
        done=["a@x.test", "b@x.test", "@y.test"], unchanged=["c@x.test"], invalid=[]
    )
    with speaking("es"):
        added_one = contacts_changed_text("Added", box(), one)
        added_three = contacts_changed_text("Added", box(), three, skipped_rows=2)
    assert added_one == "Se añadió 1 contacto a ventas@acme.test: ana@cliente.test."
    assert added_three == (
        "Se añadieron 3 contactos a ventas@acme.test: a@x.test, b@x.test, @y.test. "
        "1 ya estaba. 2 filas no tenían dirección."
    )
    # Outside the block, English again.
    assert contacts_changed_text("Removed", box(), one).startswith("Removed 1 contact for")


def test_contacts_changed_text_escapes_values_and_cuts_long_lists() -> None:
    done = [f"c{i}@x.test" for i in range(25)]
    changes = ContactChanges(done=done, unchanged=["old@x.test"], invalid=["<!channel>", "nope"])
    text = contacts_changed_text("Removed", box(address="<@U1>@acme.test"), changes)
    assert text.startswith("Removed 25 contacts for &lt;@U1&gt;@acme.test: c0@x.test, ")
    assert "c19@x.test, …." in text and "c20@x.test" not in text
    assert "1 not in the list." in text
    assert "Not an address or @domain, skipped: `&lt;!channel&gt;`, `nope`." in text
    assert "<!channel>" not in text and "<@U1>" not in text


def test_contacts_list_names_the_sync_mode_and_cuts_at_the_limit() -> None:
    contacts = [Contact(mailbox_id=1, pattern=f"p{i}@x.test") for i in range(MAX_LISTED + 3)]
    text, blocks = contacts_list(box(sync_mode="partial"), contacts)
    assert text == f"{MAX_LISTED + 3} contacts for ventas@acme.test"
    assert "sync mode partial: only mail with these contacts is posted" in blocks[0]["text"]["text"]
    listed = blocks[1]["text"]["text"].splitlines()
    assert listed[0] == "• p0@x.test" and len(listed) == MAX_LISTED
    assert blocks[2]["elements"][0]["text"] == "…and 3 more."
    text, blocks = contacts_list(box(sync_mode="full"), [Contact(mailbox_id=1, pattern="@<!here>")])
    assert text == "1 contact for ventas@acme.test"
    assert "sync mode full: every email is posted" in blocks[0]["text"]["text"]
    assert blocks[1]["text"]["text"] == "• @&lt;!here&gt;"


def test_an_empty_contact_list_says_how_to_add_one() -> None:
    text, blocks = contacts_list(box(sync_mode="partial"), [])
    assert text.startswith("ventas@acme.test has no contacts yet.")
    assert "`/mail-contacts add ana@customer.com @customer.com`" in blocks[1]["text"]["text"]


def test_activity_lines_link_the_thread_and_escape_mail_text() -> None:
    at = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    items = [
        ActivityItem(
            Activity(
                mailbox_id=1,
                message_row_id=1,
                contact_address="ana@cliente.test",
                direction="in",
                subject="<!channel> urgent",
                occurred_at=at,
            ),
            "ventas@acme.test",
            "https://slack.test/archives/C1/p1",
        ),
        ActivityItem(
            Activity(
                mailbox_id=1,
                message_row_id=2,
                contact_address="ana@cliente.test",
                direction="out",
                subject="",
                answered_by="UBOB",
                occurred_at=at,
            ),
            "ventas@acme.test",
            None,
        ),
    ]
    text, blocks = activity_message("@cliente.test", items)
    assert text == "Recent activity with @cliente.test"
    assert blocks[0]["text"]["text"] == "*Recent activity with @cliente.test* (2)"
    first, second = blocks[1]["text"]["text"].splitlines()
    assert first.startswith(":inbox_tray: in · ")
    assert "<https://slack.test/archives/C1/p1|&lt;!channel&gt; urgent>" in first
    assert first.endswith("ana@cliente.test via ventas@acme.test")
    assert second.startswith(":outbox_tray: out · ")
    assert "(no subject)" in second and second.endswith("answered by <@UBOB>")
    assert "<!channel>" not in json.dumps(blocks)


def test_no_activity_is_said_in_a_sentence() -> None:
    text, blocks = activity_message("nobody@x.test", [])
    assert text.startswith("No activity with nobody@x.test yet")
    assert blocks == [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
