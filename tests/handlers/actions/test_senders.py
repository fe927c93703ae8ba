"""The senders buttons, through signed requests: DKIM Check again / Set up with SES / App Home's check, SES Send again, and sending a mailbox through SES or SMTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from storage.models import utcnow
from tests.support.harness import Harness, make_email
from tests.support.senders_app import (
    ADMIN_CHANNEL,
    buttons,
    dkim_check,
    lines_for,
    status_of,
    verify,
)
from tests.support.ses_server import (
    MotoSes,
)
from tests.support.wait import wait_until


def test_send_again_button_sends_a_fresh_mail(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    h = senders_harness
    first = verify(h, "sales@good.test")
    before = len(h.slack.ephemerals("UADMIN"))
    h.client.action("ses_verify_again", buttons(first)["Send again"], "UADMIN", channel_id="C_CMD")
    again = wait_until(lambda: h.slack.ephemerals("UADMIN")[before:], timeout=15)[0]
    assert "was still waiting for verification, so Amazon SES has sent a new email" in again["text"]
    assert ses_endpoint.identity("sales@good.test").verification_status == "PENDING"


def send_via(h: Harness, mailbox_id: int, via: str, user: str = "UADMIN") -> dict[str, Any]:
    before = len(h.slack.ephemerals(user))
    h.client.action("ses_send_via", f"{mailbox_id}:{via}", user, channel_id="C_CMD")
    return wait_until(lambda: h.slack.ephemerals(user)[before:], timeout=15)[0]


def toggle_active(h: Harness, mailbox_id: int) -> dict[str, Any]:
    before = len(h.slack.ephemerals("UADMIN"))
    h.client.action("mailbox_toggle_active", str(mailbox_id), "UADMIN", channel_id="C_CMD")
    return wait_until(lambda: h.slack.ephemerals("UADMIN")[before:], timeout=15)[0]


def test_ses_mailbox_cannot_be_activated_until_verified(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    h = senders_harness
    mailbox = h.connect(user="UADMIN", kind="shared")
    verify(h, mailbox.address)
    assert "sends its replies through Amazon SES" in send_via(h, mailbox.id, "ses")["text"]
    assert "is paused" in toggle_active(h, mailbox.id)["text"]
    refused = toggle_active(h, mailbox.id)
    assert (
        f"{mailbox.address} sends through Amazon SES, and SES has not verified it yet, so it cannot be activated"
        in refused["text"]
    )
    assert h.ctx.mailboxes.get(mailbox.id).active is False

    ses_endpoint.set_identity_status(mailbox.address, "SUCCESS")  # the link was clicked
    assert "is active again" in toggle_active(h, mailbox.id)["text"]
    assert h.ctx.mailboxes.get(mailbox.id).active is True
    # Learnt while activating: recorded, and announced once.
    assert h.ctx.senders.verifications.row("T1", mailbox.address).status == "SUCCESS"
    wait_until(
        lambda: [m for m in h.slack.messages("UADMIN") if "is verified in Amazon SES" in m["text"]]
    )
    # Pausing and activating again, and the follow-up job, announce nothing more.
    assert "is paused" in toggle_active(h, mailbox.id)["text"]
    assert "is active again" in toggle_active(h, mailbox.id)["text"]
    h.ctx.senders.follow_due_verifications(now=utcnow() + timedelta(days=2))
    for channel in ("UADMIN", ADMIN_CHANNEL):
        verified = [
            m for m in h.slack.messages(channel) if "is verified in Amazon SES" in m["text"]
        ]
        assert len(verified) == 1, channel


def test_smtp_mailboxes_are_not_held_back(senders_harness: Harness) -> None:
    h = senders_harness
    mailbox = h.connect(user="UADMIN", kind="shared")
    toggle_active(h, mailbox.id)
    assert "is active again" in toggle_active(h, mailbox.id)["text"]


def test_ses_mailbox_replies_wait_for_verification_then_go_through_ses(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    h = senders_harness
    account = h.new_account()
    mailbox = h.connect(account, user="UADMIN", kind="shared")
    verify(h, mailbox.address)
    send_via(h, mailbox.id, "ses")
    h.deliver(account, make_email(to=account.address))
    h.sync(mailbox.id)
    root = wait_until(lambda: [m for m in h.slack.top_level("C_SALES") if m.get("blocks")])[0]
    h.reply("C_SALES", root["ts"], "Hello Carla", user="UADMIN")
    refusal = wait_until(
        lambda: [e for e in h.slack.ephemerals("UADMIN") if e["channel"] == "C_SALES"]
    )[0]
    assert (
        "sends through Amazon SES, which has not verified it yet, so this reply was not sent"
        in refusal["text"]
    )
    assert h.smtp.messages == []

    # Verified: the reply goes out through SES, raw, with Mailroom's own threading headers.
    ses_endpoint.set_identity_status(mailbox.address, "SUCCESS")
    h.reply("C_SALES", root["ts"], "Hello again", user="UADMIN")
    sent = wait_until(lambda: ses_endpoint.backend.sent_messages, timeout=15)
    assert len(sent) == 1 and "Hello again" in sent[0].raw_data
    assert "In-Reply-To:" in sent[0].raw_data
    assert h.smtp.messages == []

    send_via(h, mailbox.id, "smtp")  # back to its own server: replies go out by SMTP again
    h.reply("C_SALES", root["ts"], "Third time", user="UADMIN")
    assert "Third time" in h.smtp.wait_for_messages(1)[0].message.get_body(("plain",)).get_content()
    assert len(ses_endpoint.backend.sent_messages) == 1


def press(
    h: Harness, action_id: str, value: str, user: str = "UADMIN", **kwargs: Any
) -> dict[str, Any]:
    """Press a button on the answer in C_CMD; returns the ephemeral that follows."""
    before = len(h.slack.ephemerals(user))
    response = h.client.action(action_id, value, user, channel_id="C_CMD", **kwargs)
    assert response.status_code == 200, response.text
    return wait_until(
        lambda: h.slack.ephemerals(user)[before:], timeout=15, message=f"the answer to {action_id}"
    )[0]


def test_check_again_runs_the_same_check(senders_harness: Harness) -> None:
    h = senders_harness
    first = dkim_check(h, "good.test google absent")
    again = press(h, "dkim_check_again", buttons(first)["Check again"])
    assert [status_of(t) for t in lines_for(again, "DKIM")] == ["pass", "fail"]


def test_set_up_dkim_with_ses_creates_the_domain_identity(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    h = senders_harness
    first = dkim_check(h, "nodkim.test")
    assert first["blocks"] and "Set up DKIM with SES" in buttons(first)
    answer = press(h, "dkim_setup_ses", buttons(first)["Set up DKIM with SES"])
    identity = ses_endpoint.identity("nodkim.test")
    tokens = identity.dkim_attributes["Tokens"]
    assert len(tokens) == 3
    ses_lines = lines_for(answer, "SES DKIM")
    assert [status_of(t) for t in ses_lines] == ["fail", "fail", "fail"]
    for token, line in zip(tokens, ses_lines, strict=True):
        assert f"```{token}._domainkey.nodkim.test. CNAME {token}.dkim.amazonses.com.```" in line
    assert "Set up DKIM with SES" not in buttons(answer)
    # The domain identity is followed like an address until SES verifies it.
    row = h.ctx.senders.verifications.row("T1", "nodkim.test")
    assert row is not None and row.status == "PENDING"


def test_home_check_dkim_button_sends_the_report(senders_harness: Harness) -> None:
    h = senders_harness
    home = {"type": "home", "callback_id": "", "blocks": [], "private_metadata": ""}
    response = h.client.action("dkim_check_open", "good.test", "UADMIN", view=home)
    assert response.status_code == 200
    dm = wait_until(lambda: h.slack.messages("UADMIN"), timeout=15)[0]
    assert dm["text"].startswith("DKIM, SPF, DMARC and MX for good.test: pass")


def test_home_check_dkim_refuses_non_admins(senders_harness: Harness) -> None:
    h = senders_harness
    home = {"type": "home", "callback_id": "", "blocks": [], "private_metadata": ""}
    h.client.action("dkim_check_open", "good.test", "UALICE", view=home)
    dm = wait_until(lambda: h.slack.messages("UALICE"), timeout=15)[0]
    assert dm["text"].startswith("Only Mailroom admins")
