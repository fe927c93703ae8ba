"""Campaigns in the reader's language: the unsubscribe page in the browser's language (with
``<html lang>``), and campaign command answers in the Slack language of whoever asked."""

from __future__ import annotations

import json

import pytest

from bot.campaigns import sending
from locales import speaking
from providers.errors import UserError
from tests.bot.campaigns.test_unsubscribe_browser import recipient_token
from tests.support.campaigns import dms, wait_for_dm
from tests.support.harness import Harness
from tests.support.wait import wait_until


def answer(h: Harness, command: str, text: str, user: str) -> str:
    before = len(h.slack.ephemerals(user))
    assert h.client.command(command, text, user).status_code == 200
    got = wait_until(lambda: h.slack.ephemerals(user)[before:], message=f"answer to {command}")[0]
    return str(got["text"]) + json.dumps(got.get("blocks") or [], ensure_ascii=False)


def test_the_unsubscribe_page_speaks_the_browser_s_language(harness: Harness) -> None:
    h = harness
    token = recipient_token(h)
    web = h.client.client  # the TestClient on the app

    page = web.get(f"/unsubscribe/{token}", headers={"Accept-Language": "es-ES,es;q=0.9"})
    assert page.status_code == 200
    assert '<html lang="es">' in page.text
    assert "¿Quieres dejar de recibir correos de" in page.text
    assert ">Darme de baja</button>" in page.text
    # The address is still escaped; the answer page keeps the language.
    assert "o&#x27;hara+&lt;b&gt;x&lt;/b&gt;@customer.example.com" in page.text
    assert f'action="/unsubscribe/{token}?lang=es"' in page.text

    english = web.get(f"/unsubscribe/{token}", headers={"Accept-Language": "en-US"})
    assert '<html lang="en">' in english.text and "Stop receiving emails from" in english.text

    bad = web.get("/unsubscribe/1." + "0" * 32, headers={"Accept-Language": "es"})
    assert bad.status_code == 404 and '<html lang="es">' in bad.text
    assert "Este enlace para darte de baja no es válido" in bad.text


def test_campaign_commands_answer_a_spanish_user_in_spanish(harness: Harness) -> None:
    h = harness
    h.slack.set_locale("UADMIN", "es-ES")
    assert "Todavía no hay campañas" in answer(h, "/mail-campaign", "list", "UADMIN")
    assert "Todavía no hay audiencias" in answer(h, "/mail-audience", "list", "UADMIN")
    created = answer(h, "/mail-audience", "create noticias", "UADMIN")
    assert "Audiencia *noticias* creada." in created
    added = answer(h, "/mail-audience", "add noticias ana@customer.example.com", "UADMIN")
    assert "Se añadió 1 dirección a *noticias*." in added
    listing = answer(h, "/mail-audience", "list", "UADMIN")
    assert "*noticias* — 1 dirección" in listing


def test_the_audience_import_report_from_a_job_is_in_the_sharer_s_language(
    harness: Harness,
) -> None:
    h = harness
    h.slack.set_locale("UADMIN", "es-ES")
    data = b"Nombre;Email\nAna;ana@customer.example.com\nBen;not-an-address\n"
    file = h.slack.add_file("lista.csv", data)
    before = len(dms(h, "UADMIN"))
    h.client.event(
        {
            "type": "message",
            "subtype": "file_share",
            "channel": "DUADMIN",
            "channel_type": "im",
            "user": "UADMIN",
            "text": "import audience primavera",
            "ts": "1800000002.000100",
            "files": [file],
        }
    )
    wait_for_dm(h, "UADMIN", "Importando en la audiencia *primavera*", before)
    report = wait_for_dm(h, "UADMIN", "Audiencia *primavera*: añadidas 1", before)["text"]
    assert "Campos combinados: `{nombre}`." in report
    assert "Omitidas 1:" in report and "• línea 3: dirección no válida not-an-address" in report


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
