"""The connect modal and its follow-up views, as plain dicts."""

from __future__ import annotations

import json

from bot.blocks import connect as connect_blocks
from bot.blocks.connect import CALLBACK, connect_modal, connected_view, form_values_from_mailbox
from storage.models import Mailbox

FIELDS = [
    "kind",
    "address",
    "sender_name",
    "imap_host",
    "imap_port",
    "imap_security",
    "imap_username",
    "imap_password",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_username",
    "smtp_password",
    "channel",
    "backfill",
]


def inputs(view: dict) -> dict[str, dict]:
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


def test_connect_modal_has_every_field_id_the_submission_reads() -> None:
    view = connect_modal(kinds=["personal", "shared", "marketing"])
    assert view["callback_id"] == CALLBACK
    assert list(inputs(view)) == FIELDS
    assert json.loads(view["private_metadata"]) == {"mailbox_id": None}
    assert not inputs(view)["imap_password"]["optional"]
    kinds = [o["value"] for o in inputs(view)["kind"]["element"]["options"]]
    assert kinds == ["personal", "shared", "marketing"]
    assert len(view["title"]["text"]) <= 24


def test_non_admin_modal_offers_personal_only() -> None:
    view = connect_modal(kinds=["personal"])
    assert [o["value"] for o in inputs(view)["kind"]["element"]["options"]] == ["personal"]


def test_reconnect_modal_is_refilled_and_keeps_the_saved_password() -> None:
    mailbox = Mailbox(
        id=3,
        team_id="T1",
        kind="shared",
        owner_id="UADMIN",
        address="sales@example.com",
        imap_host="imap.example.com",
        imap_port=993,
        smtp_host="smtp.example.com",
        smtp_port=587,
        smtp_security="starttls",
        channel_id="C_SALES",
        backfill_days=7,
    )
    view = connect_modal(kinds=["shared"], values=form_values_from_mailbox(mailbox), mailbox_id=3)
    fields = inputs(view)
    assert json.loads(view["private_metadata"]) == {"mailbox_id": 3}
    assert fields["address"]["element"]["initial_value"] == "sales@example.com"
    assert fields["smtp_security"]["element"]["initial_option"]["value"] == "starttls"
    assert fields["channel"]["element"]["initial_conversation"] == "C_SALES"
    assert fields["backfill"]["element"]["initial_option"]["value"] == "7"
    assert fields["imap_password"]["optional"]  # empty keeps the saved one
    assert "initial_value" not in fields["imap_password"]["element"]  # never echoed back


def test_late_test_results_appear_under_their_fields() -> None:
    view = connect_modal(kinds=["personal"], field_notes={"imap_password": "Wrong <password>."})
    blocks = view["blocks"]
    index = next(i for i, b in enumerate(blocks) if b.get("block_id") == "imap_password")
    note = blocks[index + 1]
    assert note["type"] == "context"
    assert "Wrong &lt;password&gt;." in note["elements"][0]["text"]


def test_testing_and_connected_views() -> None:
    # Imported through the module: pytest would collect a bare test-prefixed name.
    waiting = connect_blocks.testing_view("<!here>@example.com")
    assert "submit" not in waiting and "&lt;!here&gt;" in json.dumps(waiting)
    mailbox = Mailbox(
        id=1,
        team_id="T1",
        kind="personal",
        owner_id="U1",
        address="a@example.com",
        channel_id="G_PRIV",
    )
    done = connected_view(mailbox, "type `/invite @Mailroom` in that channel")
    text = json.dumps(done)
    assert "<#G_PRIV>" in text and "/invite @Mailroom" in text
