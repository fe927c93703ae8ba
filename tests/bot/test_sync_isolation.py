"""Mail identity and per-mail failure isolation, through real Dovecot into the fake Slack.

- A mail is known by (folder, UIDVALIDITY, UID): a different mail reusing a Message-ID is
  posted, and crash recovery re-fetches each mail from its own place.
- The very same mail in two folders (same Message-ID and content) is posted once.
- One mail that cannot be recorded or posted never holds up the mail after it: it is tried
  again on the next syncs, then set aside with a notice and a Retry button.
"""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

from sqlmodel import select

from bot.formatting.inbound import InboundEmail
from storage.models import FolderState, Mailbox, Message
from tests.support.harness import Harness, HarnessFactory, make_email
from tests.support.wait import wait_until

CHANNEL = "C_SALES"


def email_posts(h: Harness, channel: str = CHANNEL) -> list[dict]:
    return [
        m
        for m in h.slack.messages(channel)
        if (m.get("metadata") or {}).get("event_type") == "mailroom_email"
    ]


def posted_subjects(h: Harness) -> list[str]:
    return [json.dumps(m.get("blocks")) for m in email_posts(h)]


def count_posts_with(h: Harness, needle: str) -> int:
    return sum(needle in text for text in posted_subjects(h))


def rows(h: Harness, mailbox_id: int) -> list[Message]:
    with h.ctx.db.session() as session:
        return list(
            session.exec(
                select(Message).where(Message.mailbox_id == mailbox_id).order_by(Message.id)
            ).all()
        )


def row_with_subject(h: Harness, mailbox_id: int, subject: str) -> Message:
    return next(r for r in rows(h, mailbox_id) if r.subject == subject)


def last_uid(h: Harness, mailbox_id: int) -> int:
    with h.ctx.db.session() as session:
        return (
            session.exec(
                select(FolderState).where(
                    FolderState.mailbox_id == mailbox_id, FolderState.folder == "INBOX"
                )
            )
            .one()
            .last_uid
        )


# --- Identity ----------------------------------------------------------------------------------


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


# --- One bad mail does not stop the others -----------------------------------------------------


def is_email_post_about(subject: str) -> Any:
    def matches(params: dict[str, Any]) -> bool:
        metadata = params.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        is_email = (metadata or {}).get("event_type") == "mailroom_email"
        return is_email and subject in json.dumps([params.get("text"), params.get("blocks")])

    return matches


def failure_notices(h: Harness) -> list[dict]:
    return [
        m
        for m in h.slack.messages(CHANNEL)
        if any(
            e.get("action_id") == "email_ingest_retry"
            for b in m.get("blocks") or []
            for e in b.get("elements") or []
        )
    ]


def retry_button(notice: dict) -> dict:
    return next(
        e
        for b in notice["blocks"]
        for e in b.get("elements") or []
        if e.get("action_id") == "email_ingest_retry"
    )


def test_a_mail_slack_refuses_is_set_aside_and_later_mail_still_arrives(
    harness: Harness,
) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    # Slack refuses this one mail (blocks and plain text alike), as it may for odd content.
    h.slack.reject("chat.postMessage", is_email_post_about("Poison"), error="invalid_blocks")
    h.deliver(account, make_email(to=account.address, subject="Poison"))
    h.deliver(account, make_email(to=account.address, subject="Healthy one"))
    first = h.sync(mailbox.id)
    assert first.error is None
    assert count_posts_with(h, "Healthy one") == 1
    assert last_uid(h, mailbox.id) == 2
    for n in range(2):
        h.deliver(account, make_email(to=account.address, subject=f"Later {n}"))
        assert h.sync(mailbox.id).error is None
        assert count_posts_with(h, f"Later {n}") == 1
    poison = row_with_subject(h, mailbox.id, "Poison")
    assert (poison.state, poison.failures) == ("ingest_failed", 3)
    assert "invalid_blocks" in (poison.error or "")

    # The channel is told once, with the reason and a Retry button; the owner once by DM.
    [notice] = failure_notices(h)
    assert "could not be shown" in notice["text"] and "invalid_blocks" in notice["text"]
    h.sync(mailbox.id)
    assert len(failure_notices(h)) == 1
    dms = [m for m in h.slack.messages("UALICE") if "could not be shown" in m.get("text", "")]
    assert len(dms) == 1

    # Someone who cannot see the mailbox cannot retry it; its owner can.
    button = retry_button(notice)
    h.client.action("email_ingest_retry", button["value"], "UBOB", channel_id=CHANNEL)
    wait_until(
        lambda: any("Only an admin" in e.get("text", "") for e in h.slack.ephemerals("UBOB")),
        message="the refusal to UBOB",
    )
    assert row_with_subject(h, mailbox.id, "Poison").state == "ingest_failed"
    h.slack.stop_rejecting()
    h.client.action("email_ingest_retry", button["value"], "UALICE", channel_id=CHANNEL)
    wait_until(
        lambda: row_with_subject(h, mailbox.id, "Poison").state == "pending_post",
        message="the mail queued again",
    )
    h.sync(mailbox.id)
    assert count_posts_with(h, "Poison") == 1
    assert row_with_subject(h, mailbox.id, "Poison").state == "posted"


def test_a_notice_slack_refused_is_posted_on_a_later_sync(harness_with: HarnessFactory) -> None:
    h = harness_with(MAIL_MAX_FAILURES="1")
    account = h.new_account()
    mailbox = h.connect(account)
    h.slack.reject("chat.postMessage", is_email_post_about("Poison"), error="invalid_blocks")
    h.slack.reject(
        "chat.postMessage",
        lambda params: "could not be shown" in str(params.get("text")),
        error="internal_error",
    )
    h.deliver(account, make_email(to=account.address, subject="Poison"))
    h.sync(mailbox.id)
    assert row_with_subject(h, mailbox.id, "Poison").state == "ingest_failed"
    assert failure_notices(h) == []
    h.slack.stop_rejecting()
    h.sync(mailbox.id)
    h.sync(mailbox.id)
    assert len(failure_notices(h)) == 1


def test_a_mail_that_fails_to_record_is_retried_by_uid_then_set_aside(
    harness_with: HarnessFactory, database_url: str
) -> None:
    h = harness_with(database_url=database_url)
    account = h.new_account()
    mailbox = h.connect(account)
    broken = {"on": True}

    def failing_filter(box: Mailbox, parsed: InboundEmail, role: str) -> bool:
        # Stands in for any bug that one mail's content triggers while it is recorded.
        if broken["on"] and parsed.subject == "Unrecordable":
            raise ValueError("boom")
        return True

    h.ctx.sync.post_filters.append(failing_filter)
    h.deliver(account, make_email(to=account.address, subject="Unrecordable"))
    h.deliver(account, make_email(to=account.address, subject="Fine 0"))
    assert h.sync(mailbox.id).error is None
    assert count_posts_with(h, "Fine 0") == 1
    placeholder = row_with_subject(h, mailbox.id, "Unrecordable")
    assert (placeholder.state, placeholder.failures, placeholder.uid) == ("record_retry", 1, 1)
    assert last_uid(h, mailbox.id) == 2
    for n in (1, 2):
        h.deliver(account, make_email(to=account.address, subject=f"Fine {n}"))
        assert h.sync(mailbox.id).error is None
        assert count_posts_with(h, f"Fine {n}") == 1
    placeholder = row_with_subject(h, mailbox.id, "Unrecordable")
    assert (placeholder.state, placeholder.failures) == ("ingest_failed", 3)
    [notice] = failure_notices(h)
    assert "ValueError" in notice["text"]

    broken["on"] = False
    h.client.action("email_ingest_retry", retry_button(notice)["value"], "UALICE")
    wait_until(
        lambda: row_with_subject(h, mailbox.id, "Unrecordable").state != "ingest_failed",
        message="the mail queued again",
    )
    h.sync(mailbox.id)
    assert count_posts_with(h, "Unrecordable") == 1
    assert [r.subject for r in rows(h, mailbox.id)].count("Unrecordable") == 1


# --- Hostile sizes ------------------------------------------------------------------------------


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


def test_files_per_mail_are_capped_and_the_rest_listed(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "carla@customer.test", account.address, "Many files"
    msg["Message-ID"] = "<many-files@customer.test>"
    msg.set_content("Thirteen files attached.")
    for n in range(13):
        msg.add_attachment(
            f"file {n}".encode(), maintype="text", subtype="plain", filename=f"part-{n:02}.txt"
        )
    h.deliver(account, msg.as_bytes())
    h.sync(mailbox.id)
    # Ten uploads at most (a mail with 3,000 files once made 9,007 Slack calls in one sync).
    files = h.slack.uploaded_files()
    assert [f["filename"] for f in files] == [f"part-{n:02}.txt" for n in range(10)]
    root = next(m for m in h.slack.top_level(CHANNEL) if "Many files" in json.dumps(m))
    shown = json.dumps(root["blocks"])
    assert "3 more files not uploaded here" in shown
    assert all(f"part-{n:02}.txt" in shown for n in (10, 11, 12))


# --- What people see ----------------------------------------------------------------------------


def test_phones_show_names_and_our_own_mail_says_sent_by(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    root_id = "<hello@customer.test>"
    h.deliver(account, make_email(to=account.address, subject="Hola", message_id=root_id))
    h.sync(mailbox.id)
    h.deliver(
        account,
        make_email(
            sender=f"Ventas Acme <{account.address}>",
            to="Carla Cliente <carla@customer.test>",
            subject="Re: Hola",
            in_reply_to=root_id,
            references=root_id,
        ),
        folder="Sent",
    )
    h.sync(mailbox.id)
    texts = [m["text"] for m in email_posts(h)]
    assert texts == ["Email from Carla Cliente: Hola", "Sent by Ventas Acme: Re: Hola"]


def test_an_attachment_name_is_kept_whole(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "carla@customer.test", account.address, "Invoice"
    msg["Message-ID"] = "<invoice@customer.test>"
    msg.set_content("See attached.")
    msg.add_attachment(
        b"%PDF-1.4",
        maintype="application",
        subtype="pdf",
        filename="<!channel> <https://evil.test|invoice>.pdf",
    )
    h.deliver(account, msg.as_bytes())
    h.sync(mailbox.id)
    [uploaded] = h.slack.uploaded_files()
    assert uploaded["filename"] == "<!channel> <https:__evil.test|invoice>.pdf"
