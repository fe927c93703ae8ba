"""A new email (bot/inbox/compose.py): a thread started in the mailbox's channel (or the
person's DM), the mail sent once with the files the person uploaded, and the customer's
answer landing in that thread. What /mail-send, the shortcut, the modal's submission and its
suggestions answer is in tests/handlers/ (commands/test_send.py, views/test_inbox.py,
options/test_compose.py)."""

from __future__ import annotations

import json
import uuid

from sqlmodel import select

from storage.models import Conversation, Mailbox, Message
from tests.support.harness import Harness, make_email
from tests.support.inbox import compose_values, open_compose, submit
from tests.support.wait import wait_until

CHANNEL = "C_SALES"


def test_a_new_email_starts_a_thread_and_the_answer_lands_in_it(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE", kind="personal", channel=CHANNEL)
    view = open_compose(h, "UALICE")
    values = compose_values(
        mailbox.id, ["carla@customer.example.com"], cc=["dave@customer.example.com"]
    )
    assert submit(h, view, "UALICE", values) == {}
    # The same modal submitted twice (a double click) records and sends once.
    submit(h, view, "UALICE", values)

    mail = h.smtp.wait_for_messages(1)[0]
    assert sorted(mail.recipients) == ["carla@customer.example.com", "dave@customer.example.com"]
    assert mail.message["Subject"] == "Our offer"
    assert "<strong>our offer</strong>" in mail.message.get_body(("html",)).get_content()
    root = wait_until(
        lambda: next(
            (m for m in h.slack.top_level(CHANNEL) if "Our offer" in json.dumps(m.get("blocks"))),
            None,
        ),
        message="the new thread's root post",
    )
    assert "<@UALICE> wrote from" in json.dumps(root["blocks"])
    assert "Waiting" in json.dumps(root["blocks"])
    wait_until(
        lambda: any("Reply sent" in m.get("text", "") for m in h.slack.thread(CHANNEL, root["ts"])),
        message="the sent confirmation in the thread",
    )

    # The customer answers our mail: it lands in the same thread, which opens again.
    our_id = mail.message["Message-ID"]
    h.deliver(
        account,
        make_email(
            to=account.address, subject="Re: Our offer", in_reply_to=our_id, references=our_id
        ),
    )
    h.sync(mailbox.id)
    wait_until(
        lambda: any(
            "Re: Our offer" in json.dumps(m.get("blocks")) or "Hello, how much" in json.dumps(m)
            for m in h.slack.thread(CHANNEL, root["ts"])
        ),
        message="the answer in the thread",
    )
    assert len(h.slack.top_level(CHANNEL)) == 1
    assert len(h.smtp.messages) == 1
    with h.ctx.db.session() as session:
        sent = session.exec(select(Message).where(Message.direction == "out")).all()
    assert [m.state for m in sent if m.source_ts and m.source_ts.startswith("compose:")] == ["sent"]


def test_a_personal_mailbox_without_a_channel_starts_the_thread_in_the_dm(
    harness: Harness,
) -> None:
    h = harness
    mailbox = h.connect(user="UALICE", kind="personal", channel=CHANNEL)
    with h.ctx.db.session() as session:
        stored = session.get(Mailbox, mailbox.id)
        stored.channel_id = None  # e.g. connected by sign-in before a channel was chosen
        session.add(stored)
    view = open_compose(h, "UALICE")
    assert (
        submit(h, view, "UALICE", compose_values(mailbox.id, ["carla@customer.example.com"])) == {}
    )
    h.smtp.wait_for_messages(1)
    dm = h.slack.calls_to("conversations.open")[-1]
    assert dm.params["users"] == "UALICE"
    with h.ctx.db.session() as session:
        conversation = session.exec(select(Conversation)).one()
    assert conversation.channel_id.startswith("D") and conversation.thread_ts
    root = h.slack.message(conversation.channel_id, conversation.thread_ts)
    assert root is not None and "Our offer" in json.dumps(root["blocks"])


def test_a_file_the_person_uploaded_leaves_attached_to_the_new_email(harness: Harness) -> None:
    h = harness
    mailbox = h.connect(user="UALICE", kind="personal", channel=CHANNEL)
    data = b"%PDF-1.4 the offer " + uuid.uuid4().bytes
    uploaded = h.slack.add_file(
        "offer.pdf", data, mimetype="application/pdf", filetype="pdf", user="UALICE"
    )
    view = open_compose(h, "UALICE")
    values = compose_values(mailbox.id, ["carla@customer.example.com"], files=[uploaded])
    assert submit(h, view, "UALICE", values) == {}
    # The file id was on record with the mail before the modal closed (so a crash after
    # the ack still sends it, with the file, once).
    with h.ctx.db.session() as session:
        row = session.exec(select(Message).where(Message.direction == "out")).one()
    assert [f["id"] for f in json.loads(row.files_json)] == [uploaded["id"]]
    assert [c.params["file"] for c in h.slack.calls_to("files.info")] == [uploaded["id"]]

    mail = h.smtp.wait_for_messages(1)[0].message
    attachments = [(a.get_filename(), a.get_content()) for a in mail.iter_attachments()]
    assert attachments == [("offer.pdf", data)]
    assert "our offer" in mail.get_body(("plain",)).get_content()
    wait_until(
        lambda: any(
            ":paperclip: offer.pdf" in json.dumps(m.get("blocks"))
            for m in h.slack.top_level(CHANNEL)
        ),
        message="the thread's root post naming the file",
    )


def test_a_first_post_slack_took_before_a_crash_is_found_again_not_doubled(
    harness: Harness,
) -> None:
    """The process died after Slack accepted the conversation's first post and before the
    thread was recorded: recovery finds the post by its metadata instead of posting again."""
    from bot.inbox import compose

    h = harness
    mailbox = h.connect(user="UALICE", kind="personal", channel=CHANNEL)
    view = open_compose(h, "UALICE")
    assert (
        submit(h, view, "UALICE", compose_values(mailbox.id, ["carla@customer.example.com"])) == {}
    )
    h.smtp.wait_for_messages(1)
    [root] = wait_until(lambda: h.slack.top_level(CHANNEL), message="the first post")
    # The send ends with its confirmation in the thread; clearing the thread before that
    # would send the confirmation to the channel.
    wait_until(lambda: h.slack.thread(CHANNEL, root["ts"]), message="the sent confirmation")
    with h.ctx.db.session() as session:
        row = session.exec(
            select(Message).where(Message.source_ts == f"compose:{view['id']}")
        ).one()
        conversation = session.get(Conversation, row.conversation_id)
        assert conversation is not None and conversation.thread_ts == root["ts"]
        conversation.thread_ts = None  # what a kill right after chat.postMessage leaves
        session.add(conversation)
        session.expunge(row)

    compose.recover_root(h.ctx, row)
    compose.recover_root(h.ctx, row)

    assert [m["ts"] for m in h.slack.top_level(CHANNEL)] == [root["ts"]]
    with h.ctx.db.session() as session:
        found = session.get(Conversation, row.conversation_id)
    assert found is not None and found.thread_ts == root["ts"]
