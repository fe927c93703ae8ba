"""Recording new mail (bot/sync/recording.py), through real Dovecot into the fake Slack.

- A mail is known by (folder, UIDVALIDITY, UID): a different mail reusing a Message-ID is
  posted, and crash recovery re-fetches each mail from its own place.
- The very same mail in two folders (same Message-ID and content) is posted once.
- Mail from the Sent folder shows only as an answer in a thread we know.
- Hostile sizes neither fail nor stall the mailbox.
"""

from __future__ import annotations

import json
from email.utils import make_msgid

from sqlmodel import select

from storage.models import Message
from tests.bot.sync.helpers import (
    CHANNEL,
    count_posts_with,
    email_posts,
    rendered,
    row_with_subject,
    rows,
)
from tests.support.harness import Harness, HarnessFactory, make_email
from tests.support.wait import wait_until

# --- Identity -------------------------------------------------------------------------------------


def test_a_different_mail_reusing_a_message_id_is_posted_and_recovered_from_its_own_uid(
    harness: Harness,
) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    reused = "<ticket-42@helpdesk.test>"
    h.deliver(account, make_email(to=account.address, subject="Ticket opened", message_id=reused))
    h.deliver(account, make_email(to=account.address, subject="Ticket updated", message_id=reused))
    # The first post fails for the whole channel: both mails stay recorded, not posted. The
    # next run posts them from the server by their own UIDs (crash recovery's path).
    h.slack.fail_next("chat.postMessage", status=200, retry_after=None, error="not_in_channel")
    assert h.sync(mailbox.id).error is not None
    recorded = rows(h, mailbox.id)
    assert [(r.subject, r.uid, r.state) for r in recorded] == [
        ("Ticket opened", 1, "pending_post"),
        ("Ticket updated", 2, "pending_post"),
    ]
    assert h.sync(mailbox.id).error is None
    assert count_posts_with(h, "Ticket opened") == 1
    assert count_posts_with(h, "Ticket updated") == 1
    # Threading still uses the Message-ID: an answer joins the thread of the newest mail
    # that carried it.
    h.deliver(
        account,
        make_email(to=account.address, subject="Re: Ticket", in_reply_to=reused, references=reused),
    )
    h.sync(mailbox.id)
    root = next(m for m in h.slack.top_level(CHANNEL) if "Ticket updated" in json.dumps(m))
    assert any("Re: Ticket" in json.dumps(m) for m in h.slack.thread(CHANNEL, root["ts"]))


def test_the_same_mail_in_two_folders_is_posted_once(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    root_id = "<start@customer.test>"
    h.deliver(account, make_email(to=account.address, subject="Start", message_id=root_id))
    h.sync(mailbox.id)
    # The team answers from a mail client and copies itself: the answer lands in Sent and,
    # with the delivery's trace headers, in INBOX. It is one mail, shown once.
    answer = make_email(
        sender=account.address,
        to=f"carla@customer.test, {account.address}",
        subject="Re: Start",
        body="Our answer, from Thunderbird.",
        message_id="<answer@example.com>",
        in_reply_to=root_id,
        references=root_id,
    )
    h.deliver(account, answer, folder="Sent")
    delivered = (
        b"Return-Path: <" + account.address.encode() + b">\r\n"
        b"Delivered-To: " + account.address.encode() + b"\r\n"
        b"Received: from mx.example.com by imap.example.com; Thu, 3 Dec 2026 09:00:00 +0000\r\n"
    ) + answer
    h.deliver(account, delivered)
    h.sync(mailbox.id)
    h.sync(mailbox.id)
    assert count_posts_with(h, "Our answer, from Thunderbird.") == 1
    copies = [r for r in rows(h, mailbox.id) if r.message_id == "<answer@example.com>"]
    assert sorted((r.folder, r.state) for r in copies) == [
        ("INBOX", "skipped"),
        ("Sent", "posted"),
    ] or sorted((r.folder, r.state) for r in copies) == [("INBOX", "posted"), ("Sent", "skipped")]


def test_mail_without_message_id_gets_a_stable_synthetic_id(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    raw = (
        b"From: Nobody <nobody@customer.test>\r\nTo: "
        + account.address.encode()
        + b"\r\nSubject: Anonymous\r\n\r\nNo id.\r\n"
    )
    h.deliver(account, raw)
    h.deliver(account, raw)  # the very same bytes twice: one mail, posted once
    h.sync(mailbox.id)
    assert sum("Anonymous" in rendered(m) for m in email_posts(h)) == 1
    with h.ctx.db.session() as session:
        rows = session.exec(select(Message).where(Message.mailbox_id == mailbox.id)).all()
    # Each copy is known by its own UID; the second is recorded as the same mail, not posted.
    assert all(row.message_id.endswith("@mailroom.invalid>") for row in rows)
    assert sorted(row.state for row in rows) == ["posted", "skipped"]


# --- Sent folder ----------------------------------------------------------------------------------


def test_mail_sent_from_a_mail_client_joins_the_customer_thread(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    customer_id = make_msgid(domain="customer.test")
    h.deliver(
        account, make_email(to=account.address, message_id=customer_id, subject="Invoice question")
    )
    h.sync(mailbox.id)
    root = h.slack.top_level(CHANNEL)[0]

    h.deliver(
        account,
        make_email(
            sender=f"Ana <{account.address}>",
            to="carla@customer.test",
            subject="Re: Invoice question",
            body="Answered from Thunderbird.",
            in_reply_to=customer_id,
            references=customer_id,
        ),
        folder="Sent",
    )
    assert h.sync(mailbox.id).posted == 1
    assert len(h.slack.top_level(CHANNEL)) == 1
    thread = h.slack.thread(CHANNEL, root["ts"])
    assert len(thread) == 1
    assert "with a mail client" in rendered(thread[0])
    assert "Answered from Thunderbird" in rendered(thread[0])


def test_our_own_reply_copied_to_sent_is_not_posted_again(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    h.deliver(account, make_email(to=account.address, subject="Hello there"))
    h.sync(mailbox.id)
    root = h.slack.top_level(CHANNEL)[0]
    h.reply(CHANNEL, root["ts"], "Thanks, we are on it.")
    h.smtp.wait_for_messages(1)
    wait_until(
        lambda: h.dovecot.message_count(account.address, "Sent") == 1,
        message="the reply's copy in Sent",
    )
    before = len(h.slack.messages(CHANNEL))
    result = h.sync(mailbox.id)
    assert result.posted == 0 and result.error is None
    assert len(h.slack.messages(CHANNEL)) == before


def test_sent_mail_outside_known_threads_is_not_posted(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    h.sync(mailbox.id)
    # Someone writes to a supplier from their mail client: not a customer conversation.
    h.deliver(
        account,
        make_email(
            sender=account.address,
            to="supplier@vendor.test",
            subject="Invoice 42",
            body="Please find the invoice.",
        ),
        folder="Sent",
    )
    result = h.sync(mailbox.id)
    assert result.new == 1 and result.posted == 0
    assert h.slack.top_level("C_SALES") == []
    # ...but an answer sent from the mail client to a customer thread shows up in it.
    customer_id = "<c1@customer.test>"
    h.deliver(account, make_email(to=account.address, message_id=customer_id))
    h.sync(mailbox.id)
    root = h.slack.top_level("C_SALES")[0]
    h.deliver(
        account,
        make_email(
            sender=account.address,
            to="carla@customer.test",
            subject="Re: Question about pricing",
            body="Sent from Thunderbird",
            in_reply_to=customer_id,
            references=customer_id,
        ),
        folder="Sent",
    )
    h.sync(mailbox.id)
    thread = h.slack.thread("C_SALES", root["ts"])
    assert any("Sent from Thunderbird" in str(m.get("blocks")) for m in thread)
    assert len(h.slack.top_level("C_SALES")) == 1


# --- Hostile sizes --------------------------------------------------------------------------------


def huge_references_mail(to: str, parent: str, ids: int) -> bytes:
    """A reply whose References header lists ``ids`` ids, then its real parent (newest)."""
    refs = [f"<old-{n}@ancient.test>" for n in range(ids)] + [parent]
    folded = "\r\n ".join(" ".join(refs[i : i + 40]) for i in range(0, len(refs), 40))
    head = (
        f"From: Carla Cliente <carla@customer.test>\r\nTo: {to}\r\n"
        f"Subject: Re: Long story\r\nMessage-ID: <long@customer.test>\r\n"
        f"In-Reply-To: {parent}\r\nReferences: {folded}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    return head.encode() + b"The whole story, in one reply.\r\n"


def test_a_references_header_with_70000_ids_neither_fails_nor_stalls_the_mailbox(
    harness_with: HarnessFactory, database_url: str
) -> None:
    # PostgreSQL refuses more than 65,535 parameters in one statement (SQLite 32,766): the
    # thread lookup must use a bounded number of ids.
    h = harness_with(database_url=database_url)
    account = h.new_account()
    mailbox = h.connect(account)
    parent = "<story@customer.test>"
    h.deliver(account, make_email(to=account.address, subject="Long story", message_id=parent))
    h.sync(mailbox.id)
    h.deliver(account, huge_references_mail(account.address, parent, 70_000))
    h.deliver(account, make_email(to=account.address, subject="Right after"))
    result = h.sync(mailbox.id)
    assert result.error is None, result.error
    assert count_posts_with(h, "Right after") == 1
    root = next(m for m in h.slack.top_level(CHANNEL) if "Long story" in json.dumps(m))
    thread = h.slack.thread(CHANNEL, root["ts"])
    assert any("The whole story, in one reply." in json.dumps(m) for m in thread)
    stored = row_with_subject(h, mailbox.id, "Re: Long story")
    assert len((stored.references or "").split()) == 50
