"""Inbox sync through real Dovecot into the fake Slack: incremental, cheap, read-only, safe."""

from __future__ import annotations

import json
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import pytest
from sqlmodel import select

from storage.models import FolderState, Message
from tests.support.harness import Harness, HarnessFactory, SilentServer, make_email
from tests.support.imap_counter import CommandCounter
from tests.support.wait import wait_until

CHANNEL = "C_SALES"


def email_posts(h: Harness, channel: str = CHANNEL) -> list[dict]:
    """Every email Mailroom posted into the channel (roots and thread replies)."""
    return [
        m
        for m in h.slack.messages(channel)
        if (m.get("metadata") or {}).get("event_type") == "mailroom_email"
    ]


def rendered(message: dict) -> str:
    return json.dumps({"text": message.get("text"), "blocks": message.get("blocks")})


def message_row(h: Harness, message_id: str) -> Message | None:
    with h.ctx.db.session() as session:
        return session.exec(select(Message).where(Message.message_id == message_id)).first()


@pytest.fixture
def manual(harness_with: HarnessFactory) -> Harness:
    """The app with its scheduler off: only the test's own h.sync() calls run."""
    return harness_with(MAILROOM_SCHEDULER="off")


# --- Incremental and cheap -----------------------------------------------------------------


def test_sync_is_incremental_by_uid(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    for n in range(2):
        h.deliver(account, make_email(to=account.address, subject=f"First batch {n}"))
    assert h.sync(mailbox.id).new == 2
    h.deliver(account, make_email(to=account.address, subject="Second batch"))
    result = h.sync(mailbox.id)
    assert (result.new, result.posted) == (1, 1)
    assert h.sync(mailbox.id).new == 0
    subjects = [m for m in email_posts(h) if "batch" in rendered(m)]
    assert len(subjects) == 3
    with h.ctx.db.session() as session:
        state = session.exec(
            select(FolderState).where(
                FolderState.mailbox_id == mailbox.id, FolderState.folder == "INBOX"
            )
        ).one()
    assert state.last_uid == 3


def test_poll_without_new_mail_costs_the_same_for_5_or_300_messages(manual: Harness) -> None:
    h = manual
    counter = CommandCounter(h.dovecot.port)
    try:
        costs = {}
        for size, user in ((5, "UALICE"), (300, "UBOB")):
            account = h.new_account()
            h.dovecot.append_many(
                account.address,
                [make_email(to=account.address, subject=f"old {n}") for n in range(size)],
            )
            mailbox = h.connect(account, user=user, imap_port=str(counter.port))
            h.sync(mailbox.id)  # the first run settles the cursor at "now"
            counter.take()
            result = h.sync(mailbox.id)
            assert (result.new, result.error) == (0, None)
            costs[size] = [line.split(b" ")[1].upper() for line in counter.take()]
        assert costs[5] == costs[300], costs
        # LOGIN, CAPABILITY/ENABLE, one STATUS per folder, LOGOUT: no SEARCH, SELECT or FETCH.
        assert len(costs[300]) <= 8, costs[300]
        assert not {b"FETCH", b"SEARCH", b"SELECT", b"EXAMINE", b"UID"} & set(costs[300])
    finally:
        counter.close()


def test_sync_never_marks_mail_as_read(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    for n in range(3):
        h.deliver(account, make_email(to=account.address, subject=f"Unread {n}"))
    assert h.sync(mailbox.id).posted == 3
    flags = h.dovecot.flags(account.address)
    assert len(flags) == 3
    assert all("\\Seen" not in f for f in flags.values()), flags


@pytest.mark.parametrize(("backfill", "expected"), [("0", 0), ("1", 2), ("7", 2)])
def test_backfill_brings_in_existing_mail_only_when_asked(
    harness: Harness, backfill: str, expected: int
) -> None:
    h = harness
    account = h.new_account()
    for n in range(2):
        h.deliver(account, make_email(to=account.address, subject=f"Before connecting {n}"))
    mailbox = h.connect(account, backfill=backfill)
    h.sync(mailbox.id)
    assert len([m for m in email_posts(h) if "Before connecting" in rendered(m)]) == expected
    h.deliver(account, make_email(to=account.address, subject="After connecting"))
    h.sync(mailbox.id)
    assert len([m for m in email_posts(h) if "After connecting" in rendered(m)]) == 1


# --- Sent folder -----------------------------------------------------------------------------


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


# --- UIDVALIDITY ---------------------------------------------------------------------------


def test_uidvalidity_change_rescans_without_reposting(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    no_id = (
        b"From: Nobody <nobody@customer.test>\r\nTo: "
        + account.address.encode()
        + b"\r\nSubject: No id here\r\nDate: "
        + formatdate().encode()
        + b"\r\n\r\nThis mail has no Message-ID.\r\n"
    )
    h.deliver(account, make_email(to=account.address, subject="Before renumbering"))
    h.deliver(account, no_id)
    assert h.sync(mailbox.id).posted == 2
    new_validity = h.dovecot.set_uidvalidity_changed(account.address)
    h.deliver(account, make_email(to=account.address, subject="After renumbering"))
    result = h.sync(mailbox.id)
    assert (result.posted, result.error) == (1, None)
    texts = [rendered(m) for m in email_posts(h)]
    assert sum("Before renumbering" in t for t in texts) == 1
    assert sum("No id here" in t for t in texts) == 1
    assert sum("After renumbering" in t for t in texts) == 1
    with h.ctx.db.session() as session:
        state = session.exec(
            select(FolderState).where(
                FolderState.mailbox_id == mailbox.id, FolderState.folder == "INBOX"
            )
        ).one()
    assert state.uidvalidity == new_validity


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


# --- What a post shows -----------------------------------------------------------------------


@pytest.fixture
def small_attachments(harness_with: HarnessFactory) -> Harness:
    return harness_with(ATTACHMENT_MAX_BYTES="2000")


def test_attachments_are_uploaded_into_the_thread_and_oversize_ones_listed(
    small_attachments: Harness,
) -> None:
    h = small_attachments
    account = h.new_account()
    mailbox = h.connect(account)
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "carla@customer.test", account.address, "Files"
    msg["Message-ID"] = make_msgid(domain="customer.test")
    msg.set_content("Two files attached.")
    msg.add_attachment(
        b"small file contents", maintype="text", subtype="plain", filename="notes.txt"
    )
    msg.add_attachment(
        b"\x00" * 5000, maintype="application", subtype="octet-stream", filename="big-scan.bin"
    )
    h.deliver(account, msg.as_bytes())
    h.sync(mailbox.id)
    root = h.slack.top_level(CHANNEL)[0]
    files = h.slack.uploaded_files()
    assert [(f["filename"], f["bytes"], f["channel"], f["thread_ts"]) for f in files] == [
        ("notes.txt", b"small file contents", CHANNEL, root["ts"])
    ]
    assert "big-scan.bin (4.9 KB) is too large" in rendered(root)


def test_auto_replies_and_bounces_are_labelled(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    h.deliver(
        account,
        make_email(
            to=account.address,
            subject="Out of office",
            extra_headers={"Auto-Submitted": "auto-replied"},
        ),
    )
    bounce = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.customer.test>\r\n"
        b"To: " + account.address.encode() + b"\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <bounce-1@mx.customer.test>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.customer.test\r\n\r\nFinal-Recipient: rfc822; x@y.test\r\n"
        b"Action: failed\r\nStatus: 5.1.1\r\n--B--\r\n"
    )
    h.deliver(account, bounce)
    h.sync(mailbox.id)
    posts = {("Out of office" in rendered(m)): rendered(m) for m in email_posts(h)}
    assert "Automatic reply" in posts[True]
    assert "Delivery failure notice (bounce)" in posts[False]


def test_html_mail_is_shown_as_text_without_tags(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "carla@customer.test", account.address, "Rich mail"
    msg.set_content(
        "<html><body><p>Hello <b>there</b>, see the <i>offer</i>.</p>"
        "<div>Second paragraph</div></body></html>",
        subtype="html",
    )
    h.deliver(account, msg.as_bytes())
    h.sync(mailbox.id)
    text = rendered(email_posts(h)[0])
    assert "there" in text and "offer" in text and "Second paragraph" in text
    for tag in ("<p>", "&lt;p&gt;", "<b>", "&lt;b&gt;", "<div>", "&lt;div&gt;", "<html"):
        assert tag not in text, tag


def test_hostile_email_text_never_reaches_slack_unescaped(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    h.deliver(
        account,
        make_email(
            to=account.address,
            sender='"<@U123>" <evil@evil.test>',
            subject="<!channel> urgent <!here>",
            body="Log in at <https://evil.test|https://bank.test> now <#C1>",
        ),
    )
    assert h.sync(mailbox.id).posted == 1
    calls = h.slack.calls_to("chat.postMessage")
    assert calls
    for call in calls:
        payload = json.dumps({k: call.params.get(k) for k in ("text", "blocks")})
        for needle in ("<!channel>", "<!here>", "<@U123>", "<https://evil", "<#C1>"):
            assert needle not in payload, (needle, payload)
        assert call.params.get("unfurl_links") in (False, "false", "0", 0)
    assert "&lt;!channel&gt; urgent" in rendered(email_posts(h)[0])


def test_show_full_email_opens_a_modal_with_the_whole_text(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    body = "\n".join(f"Line {n}: details about the order." for n in range(300)) + "\nTHE END"
    h.deliver(account, make_email(to=account.address, subject="Long one", body=body))
    h.sync(mailbox.id)
    root = h.slack.top_level(CHANNEL)[0]
    assert "THE END" not in rendered(root)
    button = next(
        e
        for b in root["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "email_show_full"
    )

    h.client.action("email_show_full", button["value"], "UBOB", channel_id=CHANNEL, message=root)
    wait_until(lambda: h.slack.ephemerals("UBOB"), message="refusal for a non-owner")
    assert not h.slack.calls_to("views.open")

    h.client.action("email_show_full", button["value"], "UALICE", channel_id=CHANNEL, message=root)
    view = wait_until(h.slack.last_view, message="the full email modal")
    shown = json.dumps(view["blocks"])
    assert "Line 0: details" in shown and "Line 299: details" in shown and "THE END" in shown


# --- Failures --------------------------------------------------------------------------------


def dms(h: Harness, user: str, words: str) -> list[dict]:
    return [m for m in h.slack.messages(user) if words in m.get("text", "")]


def test_wrong_password_notifies_the_owner_once_and_recovery_once(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE")
    h.dovecot.add_user(account.address, "changed-elsewhere")

    first = h.sync(mailbox.id)
    assert first.error and "refused the username or password" in first.error
    broken = h.ctx.mailboxes.get(mailbox.id)
    assert broken.health == "needs_attention"
    assert "refused the username or password" in broken.last_error
    assert not dms(h, "UALICE", "cannot sync")  # one failure is not worth a message yet

    for _ in range(5):
        assert h.sync(mailbox.id).error
    assert h.ctx.mailboxes.get(mailbox.id).consecutive_failures == 6
    alerts = dms(h, "UALICE", "cannot sync")
    assert len(alerts) == 1
    assert account.address in alerts[0]["text"]
    buttons = [
        e["action_id"] for b in alerts[0]["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert buttons == ["mailbox_sync_now", "mailbox_reconnect"]
    assert "changed-elsewhere" not in json.dumps(h.slack.messages("UALICE"))

    h.dovecot.add_user(account.address, account.password)
    for _ in range(2):
        assert h.sync(mailbox.id).error is None
    assert h.ctx.mailboxes.get(mailbox.id).health == "ok"
    assert len(dms(h, "UALICE", "syncing again")) == 1
    assert len(dms(h, "UALICE", "cannot sync")) == 1


@pytest.fixture
def admin_channel(harness_with: HarnessFactory) -> Harness:
    return harness_with(MAILROOM_ADMIN_CHANNEL="C_ADMINS")


def test_failing_shared_mailbox_alerts_the_admin_channel_once(admin_channel: Harness) -> None:
    h = admin_channel
    account = h.new_account()
    mailbox = h.connect(account, user="UADMIN", kind="shared")
    h.dovecot.add_user(account.address, "rotated")
    for _ in range(4):
        h.sync(mailbox.id)
    alerts = [m for m in h.slack.messages("C_ADMINS") if "cannot sync" in m.get("text", "")]
    assert len(alerts) == 1
    assert not dms(h, "UADMIN", "cannot sync")


@pytest.fixture
def fast_polling(harness_with: HarnessFactory) -> Harness:
    return harness_with(SYNC_INTERVAL_SECONDS="1", IMAP_TIMEOUT_SECONDS="5")


def test_a_hanging_mailbox_does_not_delay_a_healthy_one(
    fast_polling: Harness, silent_server: SilentServer
) -> None:
    h = fast_polling
    silent = silent_server
    healthy_account = h.new_account()
    healthy = h.connect(healthy_account, user="UALICE", channel="C_OK")
    broken = h.connect(user="UBOB", channel="C_BROKEN")
    h.ctx.mailboxes.set_fields(broken.id, imap_port=silent.port)
    wait_until(lambda: silent.accepted, message="the broken mailbox's sync hangs")

    for n in range(2):
        h.deliver(
            healthy_account, make_email(to=healthy_account.address, subject=f"Still flowing {n}")
        )
        # One poll interval plus a sync: well inside the 5 seconds the broken one hangs for.
        wait_until(
            lambda n=n: any(f"Still flowing {n}" in rendered(m) for m in email_posts(h, "C_OK")),
            timeout=3,
            message=f"mail {n} in the healthy mailbox's channel",
        )
    wait_until(
        lambda: h.ctx.mailboxes.get(broken.id).consecutive_failures >= 1,
        timeout=10,
        message="the broken mailbox's failure recorded",
    )
    assert h.ctx.mailboxes.get(healthy.id).health == "ok"
    assert "did not answer" in h.ctx.mailboxes.get(broken.id).last_error
