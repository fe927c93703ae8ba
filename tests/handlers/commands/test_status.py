"""/mail-status through signed requests: what each person may see, plurals, admin notes."""

from __future__ import annotations

import json

from tests.support.ephemerals import ephemeral_to, status_for
from tests.support.harness import Harness
from tests.support.senders_app import verify
from tests.support.ses_server import MotoSes
from tests.support.wait import wait_until


def buttons(ephemeral: dict) -> list[tuple[str, str]]:
    return [
        (e["action_id"], e["value"])
        for b in ephemeral["blocks"] or []
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"  # (the language menu sits beside them)
    ]


def test_status_lists_only_what_each_person_may_see(harness: Harness) -> None:
    h = harness
    alice = h.connect(user="UALICE", channel="C_ALICE")
    bob = h.connect(user="UBOB", channel="C_BOB")
    shared = h.connect(user="UADMIN", kind="shared", channel="C_SHARED")
    marketing = h.connect(user="UADMIN", kind="marketing", channel="C_NEWS")
    everyone = {m.address for m in (alice, bob, shared, marketing)}

    def listed(user: str) -> set[str]:
        text = json.dumps(status_for(h, user)["blocks"])
        return {address for address in everyone if address in text}

    assert listed("UALICE") == {alice.address}
    assert listed("UBOB") == {bob.address}
    assert listed("UADMIN") == everyone
    assert listed("USALES") == set()
    h.client.command("/mail-role", "<@USALES|sales> sales", "UADMIN")
    ephemeral_to(h, "UADMIN", "now has the sales role")
    assert listed("USALES") == {shared.address}

    mine = status_for(h, "UALICE")
    text = mine["blocks"][2]["text"]["text"]
    for expected in (
        alice.address,
        "personal",
        "working",
        "<#C_ALICE>",
        "active",
        "Last successful sync",
        "messages synced: 0",
    ):
        assert expected in text, expected
    assert buttons(mine) == [
        ("mailbox_sync_now", str(alice.id)),
        ("mailbox_toggle_active", str(alice.id)),
        ("mailbox_reconnect", str(alice.id)),
        ("mailbox_remove", str(alice.id)),
    ]
    # Sales may use the shared mailbox but not manage it.
    assert buttons(status_for(h, "USALES")) == [("mailbox_sync_now", str(shared.id))]


# --- What users notice: real plurals, operator notes only for admins --------------------------


def test_status_counts_in_real_plurals(harness: Harness) -> None:
    h = harness
    h.connect(user="UALICE", channel="C_ALICE")
    h.connect(user="UBOB", channel="C_BOB")
    alice, admin = status_for(h, "UALICE"), status_for(h, "UADMIN")
    assert alice["text"] == "1 mailbox"
    assert admin["text"] == "2 mailboxes"
    for shown in (alice, admin):
        assert "(es)" not in json.dumps(shown) and "(s)" not in json.dumps(shown)


def test_sign_in_setup_note_is_for_admins_only_and_says_who_acts(harness: Harness) -> None:
    """Sign-in is not configured in this harness: only admins hear about it, and the note
    says what an admin can do (ask whoever runs the server), not just variable names."""
    h = harness
    h.connect(user="UALICE", channel="C_ALICE")
    h.client.command("/mail-role", "<@USALES|sales> sales", "UADMIN")
    ephemeral_to(h, "UADMIN", "now has the sales role")
    for user in ("UALICE", "USALES", "UBOB"):
        shown = json.dumps(status_for(h, user))
        for operator_words in ("GOOGLE_CLIENT_ID", "PUBLIC_URL", "README", "not configured"):
            assert operator_words not in shown, (user, operator_words)
    footer = [
        element["text"]
        for block in status_for(h, "UADMIN")["blocks"]
        if block["type"] == "context"
        for element in block["elements"]
    ]
    note = next(text for text in footer if "sign-in" in text)
    assert "Google and Microsoft sign-in is not configured" in note
    assert "ask whoever runs the Mailroom server" in note
    assert "GOOGLE_CLIENT_ID" in note and "restart Mailroom" in note
    assert "see README" not in note and "a Mailroom admin can" not in note


def test_mail_status_never_renders_a_stored_channel_id_as_markup(harness: Harness) -> None:
    h = harness
    mailbox = h.connect(user="UALICE")
    # Stored before channel ids were checked.
    h.ctx.mailboxes.set_fields(mailbox.id, channel_id="C1>|<!channel")
    h.client.command("/mail-status", "", "UADMIN")
    shown = wait_until(lambda: h.slack.ephemerals("UADMIN"), message="/mail-status")[-1]
    text = json.dumps(shown["blocks"])
    assert "<!channel" not in text and "<#C1>" not in text
    assert "&lt;!channel" in text


def test_status_shows_the_mailbox_verification(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    h = senders_harness
    mailbox = h.connect(user="UADMIN", kind="shared")
    verify(h, mailbox.address)
    verify(h, "other@good.test")
    before = len(h.slack.ephemerals("UADMIN"))
    h.client.command("/mail-status", "", "UADMIN")
    status = json.dumps(wait_until(lambda: h.slack.ephemerals("UADMIN")[before:])[0]["blocks"])
    assert "SES sender: :hourglass_flowing_sand: waiting for the link to be clicked" in status
    assert "*SES identities:* other@good.test :hourglass_flowing_sand:" in status
