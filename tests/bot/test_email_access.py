""" "Show full email": signed references to a stored mail, and who may read it through the button Mailroom made."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.fernet import Fernet
from sqlmodel import select

from bot.email_access import row_id_of_reference, show_full_reference
from storage.models import Message
from tests.support.harness import Harness, make_email
from tests.support.settings import settings
from tests.support.wait import wait_until


def test_references_are_signed_and_survive_key_rotation(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = settings(tmp_path, mailroom_secret_key=old)
    ref = show_full_reference(before, 42)
    assert ref.startswith("42.") and row_id_of_reference(before, ref) == 42
    rotated = settings(tmp_path, mailroom_secret_key=f"{new},{old}")
    assert row_id_of_reference(rotated, ref) == 42
    assert row_id_of_reference(settings(tmp_path, mailroom_secret_key=new), ref) is None
    mac = ref.split(".", 1)[1]
    flipped = mac[:-1] + ("1" if mac[-1] == "0" else "0")  # one character changed, surely
    for forged in ("42", f"43.{mac}", f"42.{flipped}", f"42.{mac}x", "", "x.y", f"-1.{mac}"):
        assert row_id_of_reference(before, forged) is None, forged


CHANNEL = "C_SALES"


def show_full_button(message: dict) -> str:
    return next(
        e["value"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "email_show_full"
    )


def long_mail(h: Harness, account: object, **email: str) -> bytes:
    body = "\n".join(f"Line {n} of the contract." for n in range(200)) + "\nSECRET TERMS"
    return make_email(to=account.address, body=body, **email)  # type: ignore[attr-defined]


def opened(h: Harness) -> int:
    return len(h.slack.calls_to("views.open"))


def refusals(h: Harness, user: str) -> int:
    return len([e for e in h.slack.ephemerals(user) if "not available to you" in e["text"]])


def test_show_full_email_needs_the_button_mailroom_made_and_a_reader_of_the_post(
    harness: Harness,
) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE", channel=CHANNEL)
    h.deliver(account, long_mail(h, account))
    h.sync(mailbox.id)
    root = h.slack.top_level(CHANNEL)[-1]
    value = show_full_button(root)
    with h.ctx.db.session() as session:
        row_id = session.exec(select(Message.id).where(Message.mailbox_id == mailbox.id)).one()
    assert value != str(row_id) and str(row_id) in value

    def ask(user: str, button_value: str) -> None:
        h.client.action("email_show_full", button_value, user, channel_id=CHANNEL, message=root)

    # The sequential id, and a forged MAC, are refused even for the owner.
    for forged in (str(row_id), f"{row_id}.{'0' * 32}", f"{row_id + 1}.{value.split('.')[1]}"):
        before = refusals(h, "UALICE")
        ask("UALICE", forged)
        wait_until(lambda b=before: refusals(h, "UALICE") > b, message=f"refusal of {forged}")
    assert opened(h) == 0

    # Bob is not in the channel: refused. Once a member, he may read what he can see there.
    ask("UBOB", value)
    wait_until(lambda: refusals(h, "UBOB") == 1, message="refusal for a non-member")
    assert opened(h) == 0
    h.slack.set_members(CHANNEL, "UALICE", "UBOB")
    ask("UBOB", value)
    view = wait_until(h.slack.last_view, message="the modal for a channel member")
    assert "SECRET TERMS" in json.dumps(view["blocks"])
    h.slack.set_members(CHANNEL)  # the owner needs no membership
    ask("UALICE", value)
    wait_until(lambda: opened(h) == 2, message="the modal for the owner")


def test_mail_that_is_never_posted_keeps_no_body_and_cannot_be_shown(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE", channel=CHANNEL)
    # Someone's Sent folder, not answering any thread: recorded, never posted.
    h.deliver(
        account,
        long_mail(h, account, sender=account.address, subject="Private deal"),
        folder="Sent",
    )
    h.sync(mailbox.id)
    # Partial mode: mail from someone who is not a contact is skipped.
    h.client.command("/mail-contacts", "mode partial", "UALICE")
    wait_until(
        lambda: h.ctx.mailboxes.get(mailbox.id).sync_mode == "partial", message="partial mode"
    )
    h.deliver(account, long_mail(h, account, sender="stranger@elsewhere.test"))
    h.sync(mailbox.id)
    assert h.slack.top_level(CHANNEL) == []
    with h.ctx.db.session() as session:
        rows = session.exec(select(Message).where(Message.mailbox_id == mailbox.id)).all()
    assert len(rows) == 2
    assert [(r.state, r.body_text) for r in rows] == [("skipped", None), ("skipped", None)]

    # Even a correctly signed reference to an unposted mail shows nothing.
    for row in rows:
        before = refusals(h, "UALICE")
        ref = show_full_reference(h.ctx.settings, row.id)  # type: ignore[arg-type]
        h.client.action("email_show_full", ref, "UALICE", channel_id=CHANNEL)
        wait_until(lambda b=before: refusals(h, "UALICE") > b, message="refusal")
    assert opened(h) == 0
