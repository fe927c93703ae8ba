"""/mail-status, its Sync now and Pause buttons, and /mail-role, through signed requests."""

from __future__ import annotations

import json
import threading

from fastapi.testclient import TestClient

from storage.models import Role
from tests.support.harness import SIGNING_SECRET, Harness, make_email
from tests.support.slack_requests import SlackClientForTests
from tests.support.wait import wait_until


def status_for(h: Harness, user: str) -> dict:
    before = len(h.slack.ephemerals(user))
    assert h.client.command("/mail-status", "", user).status_code == 200
    return wait_until(lambda: h.slack.ephemerals(user)[before:], message=f"status for {user}")[0]


def buttons(ephemeral: dict) -> list[tuple[str, str]]:
    return [
        (e["action_id"], e["value"])
        for b in ephemeral["blocks"] or []
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"  # (the language menu sits beside them)
    ]


def ephemeral_to(h: Harness, user: str, words: str) -> dict:
    return wait_until(
        lambda: next((e for e in h.slack.ephemerals(user) if words in e["text"]), None),
        message=f"ephemeral to {user} saying {words!r}",
    )


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


def test_sync_now_button_brings_mail_in(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE")
    h.deliver(account, make_email(to=account.address, subject="Fetched on demand"))

    h.client.action("mailbox_sync_now", str(mailbox.id), "UBOB")
    ephemeral_to(h, "UBOB", "cannot see this mailbox")
    h.client.action("mailbox_sync_now", str(mailbox.id), "UALICE")
    ephemeral_to(h, "UALICE", f"Syncing {account.address} now")
    wait_until(
        lambda: any(
            "Fetched on demand" in json.dumps(m.get("blocks")) for m in h.slack.top_level("C_SALES")
        ),
        message="the mail posted by Sync now",
    )


def test_pause_stops_syncing_and_activate_resumes(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE")

    h.client.action("mailbox_toggle_active", str(mailbox.id), "UBOB")
    ephemeral_to(h, "UBOB", "Only an admin (or the owner")
    assert h.ctx.mailboxes.get(mailbox.id).active

    h.client.action("mailbox_toggle_active", str(mailbox.id), "UALICE")
    ephemeral_to(h, "UALICE", "is paused")
    assert not h.ctx.mailboxes.get(mailbox.id).active
    assert not h.ctx.scheduler.has(f"sync:{mailbox.id}")
    h.deliver(account, make_email(to=account.address, subject="While paused"))
    assert not h.ctx.sync.run(mailbox.id).ran
    h.client.action("mailbox_sync_now", str(mailbox.id), "UALICE")
    ephemeral_to(h, "UALICE", "is paused. Activate it first")
    assert "inactive" in json.dumps(status_for(h, "UALICE")["blocks"])

    h.client.action("mailbox_toggle_active", str(mailbox.id), "UALICE")
    ephemeral_to(h, "UALICE", "is active again")
    assert h.ctx.scheduler.has(f"sync:{mailbox.id}")
    # The resumed job runs by itself and catches up with what arrived while paused.
    wait_until(
        lambda: any(
            "While paused" in json.dumps(m.get("blocks")) for m in h.slack.top_level("C_SALES")
        ),
        message="mail that arrived while paused",
    )


def test_mail_role_is_for_admins_only(harness: Harness) -> None:
    h = harness
    h.client.command("/mail-role", "<@UALICE|alice> admin", "UBOB")
    refusal = ephemeral_to(h, "UBOB", "Only Mailroom admins can grant or revoke roles")
    assert "/mail-role" in refusal["text"]
    assert h.ctx.roles.role_of("UALICE") == Role.NONE

    h.client.command("/mail-role", "make alice boss", "UADMIN")
    ephemeral_to(h, "UADMIN", "I could not read that")
    h.client.command("/mail-role", "<@UALICE|alice> admin", "UADMIN")
    ephemeral_to(h, "UADMIN", "now has the admin role")
    assert h.ctx.roles.role_of("UALICE") == Role.ADMIN
    # A granted admin may grant in turn.
    h.client.command("/mail-role", "<@UBOB|bob> sales", "UALICE")
    ephemeral_to(h, "UALICE", "now has the sales role")
    assert h.ctx.roles.role_of("UBOB") == Role.SALES


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


def test_two_first_commands_at_once_from_a_new_person_both_answer(
    harness_any_db: Harness,
) -> None:
    """Both requests find no stored user and ask Slack who it is at the same moment (users.info
    held until both are waiting); both then store the person: neither may fail."""
    h = harness_any_db
    h.slack.add_user("UNEWBIE", name="newbie", real_name="Nina Newbie", email="nina@example.com")
    held = h.slack.stall("users.info")
    answers: list[int] = []

    def command() -> None:
        client = SlackClientForTests(TestClient(h.mailroom.web), SIGNING_SECRET, fake_slack=h.slack)
        answers.append(client.command("/mail-status", "", "UNEWBIE").status_code)

    workers = [threading.Thread(target=command) for _ in range(2)]
    for worker in workers:
        worker.start()
    wait_until(lambda: held.held >= 2, timeout=20, message="both requests asking users.info")
    held.release()
    for worker in workers:
        worker.join(30)
    assert answers == [200, 200]
    told = wait_until(
        lambda: len(h.slack.ephemerals("UNEWBIE")) >= 2 and h.slack.ephemerals("UNEWBIE"),
        message="both answers",
    )
    assert all("Something went wrong" not in e["text"] for e in told), told
    user = h.ctx.roles.user("UNEWBIE")
    assert (user.name, user.email, user.role) == ("Nina Newbie", "nina@example.com", Role.NONE)
