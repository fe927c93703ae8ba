"""The campaign buttons, through signed requests: pause/resume/cancel checked against who clicks, a template's preview and test mail."""

from __future__ import annotations

import json
from collections import Counter

from sqlmodel import select

from bot.campaigns import templates as template_service
from storage.models import AudienceMember, CampaignRecipient
from tests.support.campaigns import (
    CHANNEL,
    answer,
    button_value,
    campaign_row,
    campaign_setup,
    click,
    grant,
    prepare_campaign,
    save_template,
    start_campaign,
    wait_for_dm,
)
from tests.support.harness import Harness
from tests.support.wait import wait_until

# --- Roles -----------------------------------------------------------------------------------


def test_pause_resume_and_cancel_are_checked_against_who_clicks(campaign_app: Harness) -> None:
    h = campaign_app
    recipients = [f"r{n:02d}@customer.example.com" for n in range(30)]
    mailbox_id, audience_id, template_id = campaign_setup(h, recipients)
    mailbox = h.ctx.mailboxes.get(mailbox_id)
    assert "2/second" in answer(h, "/mail-campaign", f"limits {mailbox.address} 2 0 0", "UADMIN")
    campaign_id = start_campaign(h, mailbox_id, audience_id, template_id)
    h.smtp.wait_for_messages(2, timeout=30)

    # Someone without the role cannot pause it.
    click(h, "campaign_pause", str(campaign_id), "UBOB", channel=CHANNEL)
    wait_until(
        lambda: any("marketing role" in e["text"] for e in h.slack.ephemerals("UBOB")),
        message="refusal",
    )
    assert campaign_row(h, campaign_id).state == "sending"

    click(h, "campaign_pause", str(campaign_id), "UALICE", channel=CHANNEL)
    wait_until(lambda: campaign_row(h, campaign_id).state == "paused", message="paused")
    settled = wait_until(lambda: _stable_count(h), timeout=10, message="sending stopped")
    assert settled < len(recipients)

    click(h, "campaign_resume", str(campaign_id), "UALICE", channel=CHANNEL)
    wait_until(lambda: len(h.smtp.messages) >= settled + 2, timeout=20, message="resumed")
    click(h, "campaign_cancel", str(campaign_id), "UALICE", channel=CHANNEL)
    wait_until(lambda: campaign_row(h, campaign_id).state == "cancelled", message="cancelled")
    final = wait_until(lambda: _stable_count(h), timeout=10, message="sending stopped")
    assert final < len(recipients)
    with h.ctx.db.session() as session:
        states = Counter(r.state for r in session.exec(select(CampaignRecipient)))
    assert states["sent"] == final and states["cancelled"] == len(recipients) - final
    # Nobody got two mails.
    assert len({m.recipients[0] for m in h.smtp.messages}) == len(h.smtp.messages)


_last_counts: dict[int, tuple[int, float]] = {}


def _stable_count(h: Harness) -> int | None:
    """The sink's count once it stayed the same for 1.5 s (polled, never slept)."""
    import time

    count, now = len(h.smtp.messages), time.monotonic()
    last = _last_counts.get(id(h))
    if last is None or last[0] != count:
        _last_counts[id(h)] = (count, now)
        return None
    return count if now - last[1] >= 1.5 else None


def test_a_template_with_an_unknown_field_is_refused_and_preview_uses_a_real_recipient(
    campaign_app: Harness,
) -> None:
    h = campaign_app
    grant(h, "UALICE", "marketing")
    answer(h, "/mail-audience", "create vip")
    answer(h, "/mail-audience", "add vip zoe@customer.example.com")
    refused = save_template(h.client, "t1", "Hi {frist_name}", "Body")
    assert refused["response_action"] == "errors"
    assert "Unknown field {frist_name}" in refused["errors"]["subject"]
    assert template_service.list_templates(h.ctx, "T1") == []

    view = {"id": "VTPL", "callback_id": "campaign_template", "blocks": []}
    state = {
        "subject": {"value": {"type": "plain_text_input", "value": "For {email}"}},
        "body": {"value": {"type": "plain_text_input", "value": "Hello {first_name|friend}"}},
    }
    h.client.action("campaign_template_preview", None, "UALICE", view=view, state_values=state)
    pushed = wait_until(lambda: h.slack.calls_to("views.push"), message="preview pushed")[0]
    shown = json.dumps(pushed.params)
    assert "zoe@customer.example.com" in shown and "Hello friend" in shown, shown


def test_send_me_a_test_mails_the_filled_template_to_the_person(campaign_app: Harness) -> None:
    h = campaign_app
    campaign_setup(h, ["zoe@customer.example.com"])
    with h.ctx.db.session() as session:
        member = session.exec(select(AudienceMember)).one()
        member.fields_json = json.dumps({"first_name": "Zoë <b>"})
        session.add(member)
    view = {"id": "VTPL", "callback_id": "campaign_template", "blocks": []}
    state = {
        "subject": {"value": {"type": "plain_text_input", "value": "Hi {first_name|there}"}},
        "body": {"value": {"type": "plain_text_input", "value": "Hello *{first_name}*"}},
    }
    h.client.action("campaign_template_test", None, "UALICE", view=view, state_values=state)
    [mail] = h.smtp.wait_for_messages(1, timeout=20)
    assert mail.recipients == ["ualice@example.com"]
    assert mail.message["Subject"] == "[Test] Hi Zoë <b>"
    html = mail.message.get_body(("html",)).get_content()
    assert "<strong>Zoë &lt;b&gt;</strong>" in html
    # Clicked in a modal: the answer comes as a direct message.
    wait_for_dm(h, "UALICE", "Test sent to ualice@example.com")


def test_discard_cancels_a_draft_only_for_who_may_control_it(campaign_app: Harness) -> None:
    h = campaign_app
    mailbox_id, audience_id, template_id = campaign_setup(h, ["ana@customer.example.com"])
    confirmation = prepare_campaign(h, mailbox_id, audience_id, template_id)
    value = button_value(confirmation, "campaign_discard")
    assert value, confirmation

    click(h, "campaign_discard", value, "UBOB", channel=CHANNEL)
    wait_until(
        lambda: any("marketing role" in e["text"] for e in h.slack.ephemerals("UBOB")),
        message="refusal",
    )
    assert campaign_row(h, int(value)).state == "draft"

    click(h, "campaign_discard", value, "UALICE", confirmation)
    wait_until(lambda: campaign_row(h, int(value)).state == "cancelled", message="discarded")
    # A discarded campaign is no draft any more: Send (and a second Discard) are refused.
    click(h, "campaign_send", value, "UALICE", confirmation)
    click(h, "campaign_discard", value, "UALICE", confirmation)
    wait_until(
        lambda: sum("already started" in e["text"] for e in h.slack.ephemerals("UALICE")) >= 2,
        message="two refusals",
    )
    assert campaign_row(h, int(value)).state == "cancelled" and not h.smtp.messages
