"""Composing one recipient's campaign mail (bot.campaigns.compose)."""

from __future__ import annotations

import json

from tests.support.harness import Harness


def test_the_unsubscribe_link_says_the_recipients_language_else_the_mailboxs(
    harness: Harness,
) -> None:
    from bot.campaigns.compose import compiled_for, compose, sender_of
    from storage.models import Audience, Campaign, CampaignRecipient, CampaignTemplate

    h = harness
    mailbox = h.connect(h.new_account(), user="UADMIN", kind="marketing")
    assert mailbox.id is not None
    h.ctx.mailboxes.set_fields(mailbox.id, language="es")
    mailbox = h.ctx.mailboxes.get(mailbox.id)
    with h.ctx.db.session() as session:
        audience = Audience(team_id="T1", name="a")
        template = CampaignTemplate(team_id="T1", name="t", subject="s", body="Hola")
        session.add(audience)
        session.add(template)
        session.flush()
        campaign = Campaign(
            team_id="T1",
            mailbox_id=mailbox.id,
            audience_id=audience.id,
            template_id=template.id,
            subject="s",
            body="Hola",
            state="done",
        )
        session.add(campaign)
        session.flush()
        told = CampaignRecipient(
            campaign_id=campaign.id,
            address="en@customer.example.com",
            fields_json=json.dumps({"language": "en"}),
        )
        silent = CampaignRecipient(campaign_id=campaign.id, address="x@customer.example.com")
        session.add(told)
        session.add(silent)
        session.flush()
        session.expunge_all()
    sender = sender_of(mailbox, campaign)
    compiled = compiled_for(campaign, ("", ""), h.ctx)
    told_mail = _text_of(compose(h.ctx, campaign, sender, told, compiled))
    silent_mail = _text_of(compose(h.ctx, campaign, sender, silent, compiled))
    assert "?lang=en" in told_mail and "?lang=es" not in told_mail
    assert "?lang=es" in silent_mail


def _text_of(raw: bytes) -> str:
    """Every part of the message, decoded (the links sit in quoted-printable parts)."""
    import email

    message = email.message_from_bytes(raw)
    parts = [p.get_payload(decode=True) for p in message.walk() if not p.is_multipart()]
    return "\n".join(p.decode() for p in parts if isinstance(p, bytes))
