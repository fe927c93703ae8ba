"""Posting recorded mail (bot/sync/posting.py) into the fake Slack: what a post shows,
its files, and Slack's refusals and rate limits, which double nothing."""

from __future__ import annotations

import json
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from tests.bot.sync.helpers import CHANNEL, email_posts, rendered
from tests.support.harness import Harness, HarnessFactory, make_email
from tests.support.wait import wait_until

# --- What a post shows ----------------------------------------------------------------------------


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


# --- Slack refusing or slowing posts --------------------------------------------------------------


def test_a_post_slack_refuses_is_retried_as_plain_text(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    h.sync(mailbox.id)
    h.deliver(account, make_email(to=account.address, subject="Odd layout", body="Body <b>x</b>"))
    h.slack.fail_next("chat.postMessage", status=200, retry_after=None, error="invalid_blocks")
    result = h.sync(mailbox.id)
    assert result.error is None and result.posted == 1
    posts = h.slack.top_level("C_SALES")
    assert len(posts) == 1
    assert "Odd layout" in posts[0]["text"] and not posts[0].get("blocks")
    assert "&lt;b&gt;" in posts[0]["text"]  # still escaped
    assert h.ctx.mailboxes.get(mailbox.id).health == "ok"


def test_a_rate_limit_storm_still_posts_once(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    h.deliver(account, make_email(to=account.address, subject="Storm"))
    h.slack.fail_next("chat.postMessage", status=429, retry_after=1, count=3)
    result = h.sync(mailbox.id)
    assert (result.posted, result.error) == (1, None)
    calls = h.slack.calls_to("chat.postMessage")
    assert [c.status for c in calls] == [429, 429, 429, 200]
    assert sum("Storm" in json.dumps(m.get("blocks")) for m in h.slack.messages(CHANNEL)) == 1
