"""DSN parsing (RFC 3464) on bounces written the way Postfix, Gmail and Exchange Online
write them (tests/bot/campaigns/dsn/), a delay notice, and an auto-reply that is no bounce."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.campaigns.bounces import parse_dsn

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
