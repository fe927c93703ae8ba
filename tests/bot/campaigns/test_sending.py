"""Starting, pausing and cancelling campaigns (bot.campaigns.sending)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from sqlmodel import select

from bot.campaigns import sending
from locales import speaking
from providers.errors import UserError
from storage.models import CampaignRecipient, Suppression
from tests.support.campaigns import (
    CHANNEL,
    answer,
    button_value,
    campaign_row,
    campaign_setup,
    click,
    prepare_campaign,
    start_campaign,
)
from tests.support.dns_server import TestDnsServer
from tests.support.harness import Harness, HarnessFactory
from tests.support.wait import wait_until


def test_sending_refusals_are_in_the_reader_s_language(harness: Harness) -> None:
    h = harness
    h.slack.set_locale("UADMIN", "es-ES")
    refused = answer(h, "/mail-campaign", "cancel 987654", "UADMIN")
    assert "Esa campaña ya no existe. Ejecuta `/mail-campaign list`." in refused

    # A direct call speaks the language of its block, and English outside it.
    with speaking("es"), pytest.raises(UserError) as refusal:
        sending.load(h.ctx, 987654)
    assert refusal.value.message == "Esa campaña ya no existe. Ejecuta `/mail-campaign list`."
    with pytest.raises(UserError, match="That campaign no longer exists"):
        sending.load(h.ctx, 987654)


def test_a_campaign_sends_one_mail_per_recipient_with_unsubscribe_headers(
    campaign_app_any_db: Harness,
) -> None:
    h = campaign_app_any_db
    recipients = [
        "ana@customer.example.com",
        "ben@customer.example.com",
        "cid@customer.example.com",
        "gone@customer.example.com",
    ]
    mailbox_id, audience_id, template_id = campaign_setup(h, recipients)
    with h.ctx.db.session() as session:
        session.add(
            Suppression(team_id="T1", address="gone@customer.example.com", reason="unsubscribed")
        )
    confirmation = prepare_campaign(h, mailbox_id, audience_id, template_id)
    text = confirmation["text"] + json.dumps(confirmation["blocks"])
    assert "*3* recipients after suppression (1 suppressed)" in text
    assert "good.test: *pass*" in text
    value = button_value(confirmation, "campaign_send")
    assert value is not None
    click(h, "campaign_send", value, "UALICE", confirmation)

    mails = h.smtp.wait_for_messages(3, timeout=30)
    wait_until(lambda: campaign_row(h, int(value)).state == "done", timeout=20, message="done")
    assert sorted(r for m in mails for r in m.recipients) == recipients[:3]
    assert Counter(m.message["Message-ID"] for m in mails).most_common(1)[0][1] == 1
    for mail in mails:
        msg = mail.message
        assert len(mail.recipients) == 1 and msg["To"] == mail.recipients[0]
        assert msg["Bcc"] is None
        # Folded between its two URLs; unfolded it is "<https-url>, <mailto-url>".
        unsub = " ".join(str(msg["List-Unsubscribe"]).split())
        assert unsub.startswith("<http://testserver/unsubscribe/") and ">, <mailto:" in unsub
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["List-Id"] == f"<audience-{audience_id}.good.test>"  # RFC 2919 form
        assert msg["Subject"] == "Hello there"
        html = msg.get_body(("html",)).get_content()
        plain = msg.get_body(("plain",)).get_content()
        assert "<strong>there</strong>" in html and "Unsubscribe" in html
        assert "Hi there, news from us." in plain  # plain text: no Slack marks
    with h.ctx.db.session() as session:
        rows = session.exec(select(CampaignRecipient)).all()
    assert {r.address: r.state for r in rows} == dict.fromkeys(recipients[:3], "sent")
    assert {r.message_id for r in rows} == {m.message["Message-ID"] for m in mails}
    # The progress message in the mailbox's channel ends as the final report.
    report = wait_until(
        lambda: [m for m in h.slack.top_level(CHANNEL) if "Finished" in m["text"]],
        message="the final report",
    )
    assert len(report) == 1 and "3 sent" in report[0]["text"]
    assert len([m for m in h.slack.top_level(CHANNEL) if "campaign" in m["text"]]) == 1


def test_a_domain_failing_its_checks_waits_for_an_admin(campaign_app: Harness) -> None:
    h = campaign_app
    mailbox_id, audience_id, template_id = campaign_setup(
        h, ["ana@customer.example.com"], domain="nodmarc.test"
    )
    confirmation = prepare_campaign(h, mailbox_id, audience_id, template_id)
    text = json.dumps(confirmation["blocks"])
    assert "nodmarc.test: *fail*" in text and "only a Mailroom admin can send anyway" in text
    assert button_value(confirmation, "campaign_send") is None
    value = button_value(confirmation, "campaign_confirm_domain")
    assert value
    # A marketing user cannot confirm, and sending directly is refused too.
    click(h, "campaign_confirm_domain", value, "UALICE", confirmation)
    click(h, "campaign_send", value, "UALICE", confirmation)
    wait_until(
        lambda: sum("admin" in e["text"] for e in h.slack.ephemerals("UALICE")) >= 2,
        message="two refusals",
    )
    assert campaign_row(h, int(value)).state == "draft" and not h.smtp.messages
    click(h, "campaign_confirm_domain", value, "UADMIN", confirmation)
    h.smtp.wait_for_messages(1, timeout=30)
    assert campaign_row(h, int(value)).domain_confirmed_by == "UADMIN"


def test_a_scheduled_campaign_starts_at_its_time_and_can_be_cancelled(
    campaign_app: Harness,
) -> None:
    import time as clock

    h = campaign_app
    mailbox_id, audience_id, template_id = campaign_setup(h, ["ana@customer.example.com"])

    def schedule(at: float, confirmation: dict) -> None:
        value = button_value(confirmation, "campaign_schedule")
        assert value
        response = h.client.action(
            "campaign_schedule",
            value,
            "UALICE",
            channel_id="DUALICE",
            message_ts=confirmation["ts"],
            state_values={
                "campaign_confirm": {
                    "campaign_schedule_at": {
                        "type": "datetimepicker",
                        "selected_date_time": int(at),
                    }
                }
            },
        )
        assert response.status_code == 200

    first = prepare_campaign(h, mailbox_id, audience_id, template_id)
    first_id = int(button_value(first, "campaign_send") or 0)
    before = len(h.slack.ephemerals("UALICE"))
    schedule(clock.time() - 60, first)
    wait_until(
        lambda: any("in the future" in e["text"] for e in h.slack.ephemerals("UALICE")[before:]),
        message="a past time refused",
    )
    assert campaign_row(h, first_id).state == "draft"
    schedule(clock.time() + 3600, first)
    wait_until(lambda: campaign_row(h, first_id).state == "scheduled", message="scheduled")
    assert "starts <!date^" in answer(h, "/mail-campaign", "list")
    assert "cancelled" in answer(h, "/mail-campaign", f"cancel {first_id}")

    second = prepare_campaign(h, mailbox_id, audience_id, template_id)
    second_id = int(button_value(second, "campaign_send") or 0)
    schedule(clock.time() + 3, second)
    wait_until(lambda: campaign_row(h, second_id).state == "scheduled", message="scheduled")
    assert not h.smtp.messages
    [mail] = h.smtp.wait_for_messages(1, timeout=30)
    assert mail.recipients == ["ana@customer.example.com"]
    assert campaign_row(h, first_id).state == "cancelled"
    row = campaign_row(h, second_id)
    assert row.started_at is not None and row.scheduled_at is not None
    assert row.started_at >= row.scheduled_at


def test_an_smtp_outage_fails_nobody_and_the_campaign_finishes_after_it(
    campaign_app: Harness,
) -> None:
    from tests.support.mail_servers import free_port

    h = campaign_app
    recipients = [f"r{n}@customer.example.com" for n in range(5)]
    mailbox_id, audience_id, template_id = campaign_setup(h, recipients)
    port = h.ctx.mailboxes.get(mailbox_id).smtp_port
    h.ctx.mailboxes.set_fields(mailbox_id, smtp_port=free_port())  # nothing listens there
    campaign_id = start_campaign(h, mailbox_id, audience_id, template_id)
    wait_until(lambda: "Waiting" in campaign_row(h, campaign_id).note, message="the outage seen")
    # Several retries later nobody has failed or used up attempts.
    wait_until(
        lambda: "Waiting 4 s" in campaign_row(h, campaign_id).note, timeout=20, message="backoff"
    )
    with h.ctx.db.session() as session:
        rows = session.exec(select(CampaignRecipient)).all()
    assert {r.state for r in rows} == {"queued"} and {r.attempts for r in rows} == {0}
    h.ctx.mailboxes.set_fields(mailbox_id, smtp_port=port)
    wait_until(lambda: campaign_row(h, campaign_id).state == "done", timeout=40, message="done")
    assert sorted(m.recipients[0] for m in h.smtp.messages) == recipients


def test_a_temporary_refusal_is_retried_later_not_at_once(
    harness_with: HarnessFactory, dns_server: TestDnsServer
) -> None:
    h = harness_with(
        DNS_NAMESERVERS=dns_server.address,
        PUBLIC_URL="http://testserver",
        MAILROOM_CAMPAIGN_RETRY_SECONDS="3",
    )
    mailbox_id, audience_id, template_id = campaign_setup(h, ["ana@customer.example.com"])
    h.smtp.fail_next(451, "4.7.1 Greylisted, try again later")
    campaign_id = start_campaign(h, mailbox_id, audience_id, template_id)

    def ana() -> CampaignRecipient | None:
        with h.ctx.db.session() as session:
            return session.exec(select(CampaignRecipient)).first()

    # The recipient's row appears once the campaign starts; then its retry is planned.
    waiting = wait_until(
        lambda: (r := ana()) is not None and r.retry_at is not None and r,
        message="the retry planned",
    )
    assert waiting.state == "queued" and waiting.attempts == 1 and "451" in (waiting.error or "")
    assert not h.smtp.messages
    [mail] = h.smtp.wait_for_messages(1, timeout=20)
    assert mail.recipients == ["ana@customer.example.com"]
    wait_until(lambda: campaign_row(h, campaign_id).state == "done", message="done")
    sent = ana()
    assert sent is not None and sent.state == "sent" and sent.attempts == 2
    assert sent.sent_at >= waiting.retry_at
