"""/mail-contacts and partial sync, through the real servers (/mail-contact: test_contact.py)."""

from __future__ import annotations

import json

from sqlmodel import select

from storage.models import Contact, FolderState, Message, MessageState
from tests.support.contacts import command
from tests.support.harness import Harness, make_email
from tests.support.slack_requests import message_event
from tests.support.wait import wait_until


def test_partial_sync_posts_contacts_only_and_switching_never_reposts(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    h.sync(mailbox.id)
    assert "Added 2 contacts" in command(
        h, "add <mailto:carla@customer.test|carla@customer.test> @partner.test"
    )
    assert "partial mode" in command(h, "mode partial")

    h.deliver(
        account,
        make_email(
            sender="Stan Stranger <stan@unknown.test>",
            to=account.address,
            subject="Buy our SEO services",
        ),
    )
    h.deliver(
        account,
        make_email(sender="Carla <carla@customer.test>", to=account.address, subject="Order 42"),
    )
    h.deliver(
        account,
        make_email(sender="Pat <pat@eu.partner.test>", to=account.address, subject="Partner news"),
    )
    result = h.sync(mailbox.id)
    assert result.new == 3 and result.posted == 2
    posted = json.dumps(h.slack.top_level("C_SALES"))
    assert "Order 42" in posted and "Partner news" in posted and "SEO" not in posted
    with h.ctx.db.session() as session:
        skipped = session.exec(select(Message).where(Message.state == MessageState.SKIPPED)).all()
    assert [m.from_address for m in skipped] == ["stan@unknown.test"]

    # A stranger's mail that arrives last: skipped, and the cursor still moves past it.
    h.deliver(
        account,
        make_email(sender="stan@unknown.test", to=account.address, subject="SEO, last chance"),
    )
    assert h.sync(mailbox.id).posted == 0
    with h.ctx.db.session() as session:
        last = session.exec(select(Message).where(Message.subject == "SEO, last chance")).one()
        cursor = session.exec(
            select(FolderState).where(
                FolderState.mailbox_id == mailbox.id, FolderState.folder == "INBOX"
            )
        ).one()
    assert last.state == MessageState.SKIPPED and last.uid is not None
    assert cursor.last_uid >= last.uid

    # The contact's mail is its activity, linked to its thread; the stranger has none.
    order = next(m for m in h.slack.top_level("C_SALES") if "Order 42" in json.dumps(m))
    activity = command(h, "carla@customer.test", cmd="/mail-contact")
    assert "Order 42" in activity and ":inbox_tray: in" in activity
    assert f"channel=C_SALES&message_ts={order['ts']}" in activity
    assert "No activity" in command(h, "stan@unknown.test", cmd="/mail-contact")

    # Back to full: the skipped mail is not posted after all, new mail from anyone is.
    assert "full mode" in command(h, "mode full")
    assert h.sync(mailbox.id).posted == 0
    h.deliver(
        account, make_email(sender="stan@unknown.test", to=account.address, subject="Follow-up")
    )
    assert h.sync(mailbox.id).posted == 1
    assert "SEO" not in json.dumps(h.slack.top_level("C_SALES"))  # neither skipped one
    assert len(h.slack.top_level("C_SALES")) == 3


def test_list_remove_and_mistakes(harness: Harness) -> None:
    h = harness
    h.connect(user="UALICE")
    reply = command(h, "add ana@customer.test not-an-address")
    assert "Added 1 contact " in reply and "not-an-address" in reply
    assert "already there" in command(h, "add ANA@customer.test")
    assert "ana@customer.test" in command(h, "list")
    assert "Removed 1 contact " in command(h, "remove ana@customer.test")
    assert "no contacts yet" in command(h, "list")
    assert "did not understand" in command(h, "frobnicate")
    # Someone with no mailbox of their own cannot change anyone's contacts.
    assert "no mailbox you can manage" in command(h, "add x@y.test", user="UBOB")
    assert "not a mailbox you can manage" in command(h, "add x@y.test mailbox:nobody@example.com")


def test_csv_shared_in_dm_imports_contacts(harness: Harness) -> None:
    h = harness
    mailbox = h.connect(user="UALICE")
    data = b"name;email;company\nAna;ana@customer.test;Customer\nBob;;\nZed;zed@zeta.test;Zeta\n"
    file = h.slack.add_file("contacts.csv", data)
    event = message_event(
        "DUALICE", "", "UALICE", channel_type="im", subtype="file_share", files=[file]
    )
    assert h.client.event(event).status_code == 200
    dm = wait_until(
        lambda: [m for m in h.slack.messages("DUALICE") if "Added" in m["text"]],
        message="import result DM",
    )[0]["text"]
    assert "Added 2 contacts" in dm and "1 row had no address" in dm
    with h.ctx.db.session() as session:
        patterns = {
            c.pattern for c in session.exec(select(Contact).where(Contact.mailbox_id == mailbox.id))
        }
    assert patterns == {"ana@customer.test", "zed@zeta.test"}
    # Downloaded with the bot token, from the file's private URL.
    download = h.slack.calls_to("files-pri")[0]
    assert download.headers["authorization"] == f"Bearer {h.env['SLACK_BOT_TOKEN']}"
    assert "import contacts" in command(h, "import")  # how to do it


def test_csv_posted_in_the_mailbox_channel_imports_but_a_thread_reply_does_not(
    harness: Harness,
) -> None:
    h = harness
    mailbox = h.connect(user="UALICE", channel="C_SALES")
    h.connect(user="UADMIN", kind="shared", channel="C_SHARED")
    csv_file = h.slack.add_file("leads.csv", b"email\nlead@one.test\n")
    # A file attached to a thread reply is an email attachment, never an import.
    reply = message_event(
        "C_SALES",
        "import contacts",
        "UALICE",
        thread_ts="1700000000.000100",
        subtype="file_share",
        files=[csv_file],
    )
    h.client.event(reply)
    post = message_event(
        "C_SALES", "Import contacts please", "UALICE", subtype="file_share", files=[csv_file]
    )
    h.client.event(post)
    dm = wait_until(
        lambda: [m for m in h.slack.messages("DUALICE") if "Added" in m["text"]],
        message="import result DM",
    )
    assert len(dm) == 1 and mailbox.address in dm[0]["text"]
    with h.ctx.db.session() as session:
        assert [c.pattern for c in session.exec(select(Contact))] == ["lead@one.test"]
    assert len(h.slack.calls_to("files-pri")) == 1
