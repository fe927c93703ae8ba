"""Bounces (bot.campaigns.bounces): refused recipients and bounces in the inbox suppress the
address; DSN parsing (RFC 3464) on bounces written the way Postfix, Gmail and Exchange Online
write them (tests/bot/campaigns/dsn/), a delay notice, and an auto-reply that is no bounce."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from bot.campaigns.bounces import parse_dsn
from storage.models import CampaignRecipient
from tests.support.campaigns import (
    campaign_row,
    campaign_setup,
    start_campaign,
    suppressed,
)
from tests.support.harness import Harness, make_email
from tests.support.wait import wait_until

SAMPLES = Path(__file__).parent / "dsn"


def sample(name: str, **values: str) -> bytes:
    text = (SAMPLES / name).read_text()
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text.encode()


@pytest.mark.parametrize(
    ("name", "status", "diagnostic"),
    [
        ("postfix.eml", "5.1.1", "User unknown in virtual mailbox table"),
        ("gmail.eml", "5.1.1", "The email account that you tried to reach does not exist"),
        ("microsoft.eml", "5.1.10", "RESOLVER.ADR.RecipientNotFound"),
    ],
)
def test_a_hard_bounce_names_the_recipient_status_and_original_message(
    name: str, status: str, diagnostic: str
) -> None:
    raw = sample(
        name,
        sender="news@good.test",
        recipient="ana@customer.example.com",
        message_id="<campaign-1-ana@good.test>",
    )
    [bounce] = parse_dsn(raw)
    assert bounce.recipient == "ana@customer.example.com"
    assert (bounce.action, bounce.status, bounce.hard) == ("failed", status, True)
    assert diagnostic in bounce.diagnostic
    assert bounce.original_message_id == "<campaign-1-ana@good.test>"


DELAYED = b"""From: MAILER-DAEMON@mx.example.net
To: news@good.test
Subject: Delayed Mail (still being retried)
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="D"

--D
Content-Type: text/plain

Your message is delayed.

--D
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; ben@customer.example.com
Action: delayed
Status: 4.4.7
Diagnostic-Code: smtp; 451 4.4.7 Try again later

--D--
"""

OUT_OF_OFFICE = b"""From: Ben <ben@customer.example.com>
To: news@good.test
Subject: Automatic reply: Hello there
Auto-Submitted: auto-replied
Content-Type: text/plain

I am out of the office until Monday.
"""


def test_a_delay_is_a_soft_bounce_and_an_auto_reply_is_no_bounce() -> None:
    [delay] = parse_dsn(DELAYED)
    assert (delay.recipient, delay.action, delay.status, delay.hard) == (
        "ben@customer.example.com",
        "delayed",
        "4.4.7",
        False,
    )
    assert parse_dsn(OUT_OF_OFFICE) == []
    assert parse_dsn(b"\xff\xfe not an email at all") == []


def test_refused_recipients_and_bounces_in_the_inbox_suppress_the_address(
    campaign_app: Harness,
) -> None:
    h = campaign_app
    recipients = [
        "ana@customer.example.com",
        "ben@customer.example.com",
        "cid@customer.example.com",
    ]
    h.smtp.refuse_recipient("cid@customer.example.com")
    mailbox_id, audience_id, template_id = campaign_setup(h, recipients)
    campaign_id = start_campaign(h, mailbox_id, audience_id, template_id)
    wait_until(lambda: campaign_row(h, campaign_id).state == "done", timeout=30, message="done")
    assert suppressed(h) == {"cid@customer.example.com": "hard_bounce"}
    with h.ctx.db.session() as session:
        rows = {r.address: r for r in session.exec(select(CampaignRecipient))}
    assert rows["cid@customer.example.com"].state == "failed"
    assert "5.1.1" in (rows["cid@customer.example.com"].error or "")

    # A DSN for ana (Postfix's format) reaches the marketing mailbox's INBOX.
    mailbox = h.ctx.mailboxes.get(mailbox_id)
    dsn = (Path(__file__).parent / "dsn" / "postfix.eml").read_text()
    for key, value in {
        "sender": mailbox.address,
        "recipient": "ana@customer.example.com",
        "message_id": rows["ana@customer.example.com"].message_id,
    }.items():
        dsn = dsn.replace("{" + key + "}", value)
    h.dovecot.append(mailbox.address, dsn.encode())
    # An out-of-office answer from ben is not a bounce.
    h.dovecot.append(
        mailbox.address,
        make_email(
            sender="ben@customer.example.com",
            to=mailbox.address,
            subject="Automatic reply: Hello there",
            extra_headers={"Auto-Submitted": "auto-replied"},
        ),
    )
    h.sync(mailbox_id)
    wait_until(lambda: "ana@customer.example.com" in suppressed(h), timeout=20, message="bounce")
    assert suppressed(h) == {
        "cid@customer.example.com": "hard_bounce",
        "ana@customer.example.com": "hard_bounce",
    }
    with h.ctx.db.session() as session:
        ana = session.exec(
            select(CampaignRecipient).where(CampaignRecipient.address == "ana@customer.example.com")
        ).one()
    assert ana.bounce == "hard" and ana.state == "sent"
