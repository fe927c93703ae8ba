"""Composing one recipient's campaign mail (bot.campaigns.compose)."""

from __future__ import annotations

import json

from tests.support.campaigns import add_campaign
from tests.support.harness import Harness


def test_the_unsubscribe_link_says_the_recipients_language_else_the_mailboxs(
    harness: Harness,
) -> None:
    from bot.campaigns.compose import compiled_for, compose, sender_of
    from storage.models import CampaignRecipient

    h = harness
    mailbox = h.connect(h.new_account(), user="UADMIN", kind="marketing")
    assert mailbox.id is not None
    h.ctx.mailboxes.set_fields(mailbox.id, language="es")
    mailbox = h.ctx.mailboxes.get(mailbox.id)
    with h.ctx.db.session() as session:
        campaign = add_campaign(session, mailbox.id, subject="s", body="Hola", state="done")
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
