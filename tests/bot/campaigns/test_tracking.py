"""Tracked clicks and replies (bot.campaigns.tracking): who gets a follow-up."""

from __future__ import annotations

from sqlmodel import select

from bot.campaigns import templates as template_service
from storage.models import Campaign
from tests.support.campaigns import (
    answer,
    button_value,
    campaign_row,
    campaign_setup,
    click,
    prepare_campaign,
    save_template,
)
from tests.support.harness import Harness, make_email
from tests.support.wait import wait_until

# --- Roles -----------------------------------------------------------------------------------


def test_tracked_clicks_and_replies_choose_who_gets_a_follow_up(campaign_app: Harness) -> None:
    import re
    from urllib.parse import urlsplit

    h = campaign_app
    recipients = [
        "ana@customer.example.com",
        "ben@customer.example.com",
        "cid@customer.example.com",
    ]
    mailbox_id, audience_id, _ = campaign_setup(h, recipients)
    save_template(
        h.client, "links", "Spring", "See <https://shop.example.com/spring?x=1&y=2|our shop>."
    )
    save_template(h.client, "reminder", "Last days", "Only a few days left, {first_name|friend}.")
    links = template_service.find_template(h.ctx, "T1", "links")
    confirmation = prepare_campaign(h, mailbox_id, audience_id, links.id, track_clicks=True)
    value = button_value(confirmation, "campaign_send")
    click(h, "campaign_send", value, "UALICE", confirmation)
    wait_until(lambda: campaign_row(h, int(value)).state == "done", timeout=30, message="done")
    assert campaign_row(h, int(value)).track_clicks
    mails = {m.recipients[0]: m for m in h.smtp.messages}

    html = mails["ana@customer.example.com"].message.get_body(("html",)).get_content()
    [tracked] = re.findall(r'href="(http://testserver/c/[^"]+)"', html)
    assert 'href="https://shop.example.com' not in html  # the link goes through Mailroom
    web = h.client.client
    path = urlsplit(tracked).path
    answer_ = web.get(path, follow_redirects=False)
    assert answer_.status_code == 302
    assert answer_.headers["location"] == "https://shop.example.com/spring?x=1&y=2"
    # The signed target cannot be swapped for another site: no open redirect.
    token, _, _ = path.removeprefix("/c/").partition("/")
    import base64

    evil = base64.urlsafe_b64encode(b"https://evil.example.net/").decode().rstrip("=")
    forged = web.get(f"/c/{token}/{evil}.{path.rsplit('.', 1)[1]}", follow_redirects=False)
    assert forged.status_code == 404 and "location" not in forged.headers

    # ben answers the campaign; the mail lands in the marketing mailbox.
    mailbox = h.ctx.mailboxes.get(mailbox_id)
    h.dovecot.append(
        mailbox.address,
        make_email(sender="ben@customer.example.com", to=mailbox.address, subject="Re: Spring"),
    )
    h.sync(mailbox_id)

    before = len(h.smtp.messages)
    assert "Follow-up added" in answer(
        h, "/mail-campaign", f"followup {value} 0.00002 reminder no-reply"
    )
    assert "Follow-up added" in answer(
        h, "/mail-campaign", f"followup {value} 0.00002 reminder clicked"
    )

    def reminders() -> list[str] | None:
        got = sorted(
            m.recipients[0] for m in h.smtp.messages[before:] if m.message["Subject"] == "Last days"
        )
        return got if len(got) >= 3 else None

    got = wait_until(reminders, timeout=30, message="the follow-ups")
    assert got == [
        "ana@customer.example.com",
        "ana@customer.example.com",
        "cid@customer.example.com",
    ]
    # Both steps launched once each, as campaigns following the first.
    with h.ctx.db.session() as session:
        children = session.exec(select(Campaign).where(Campaign.parent_id == int(value))).all()
    assert len(children) == 2
