"""/mail-campaign, /mail-audience and /mail-campaign-template through signed requests: the
marketing role, listings, a mailbox's contacts as an audience, App Home, the reader's language.

Sending, unsubscribe, bounces, tracking, limits and imports are tested with their modules in
tests/bot/campaigns/; the campaign buttons in tests/handlers/actions/test_campaign.py.
"""

from __future__ import annotations

import json

from bot.campaigns import audiences as audience_service
from tests.support.campaigns import (
    answer,
    campaign_row,
    campaign_setup,
    dms,
    start_campaign,
)
from tests.support.harness import Harness
from tests.support.wait import wait_until

# --- Roles -----------------------------------------------------------------------------------


def test_campaign_commands_refuse_people_without_the_marketing_role(campaign_app: Harness) -> None:
    h = campaign_app
    for command in ("/mail-campaign", "/mail-audience", "/mail-campaign-template"):
        assert "marketing role" in answer(h, command, "list", user="UBOB")
    assert "now has the marketing role" in answer(h, "/mail-role", "<@UBOB> marketing", "UADMIN")
    assert "No audiences yet" in answer(h, "/mail-audience", "list", user="UBOB")
    # Granting is for admins only.
    assert "Only Mailroom admins" in answer(h, "/mail-role", "<@UALICE> marketing", "UBOB")


def test_campaign_list_shows_past_campaigns(campaign_app: Harness) -> None:
    h = campaign_app
    mailbox_id, audience_id, template_id = campaign_setup(h, ["ana@customer.example.com"])
    campaign_id = start_campaign(h, mailbox_id, audience_id, template_id)
    wait_until(lambda: campaign_row(h, campaign_id).state == "done", timeout=30, message="done")
    listing = answer(h, "/mail-campaign", "list")
    assert f"#{campaign_id} *welcome → news* — done, 1/1 sent" in listing


# --- Audiences and templates -----------------------------------------------------------------


def test_a_mailbox_s_contacts_can_be_added_to_an_audience(campaign_app: Harness) -> None:
    h = campaign_app
    shared = h.connect(h.new_account(), user="UADMIN", kind="shared", channel="C_SALES")
    before = len(h.slack.ephemerals("UADMIN"))
    h.client.command(
        "/mail-contacts",
        f"add pat@partner.example.com @partner.example.com mailbox:{shared.address}",
        "UADMIN",
    )
    wait_until(lambda: h.slack.ephemerals("UADMIN")[before:], message="contacts added")
    assert "created" in answer(h, "/mail-audience", "create partners", "UADMIN")
    added = answer(h, "/mail-audience", f"add-contacts partners mailbox:{shared.address}", "UADMIN")
    assert "Added 1 address(es)" in added and "1 @domain contact(s)" in added
    audience = audience_service.find_audience(h.ctx, "T1", "partners")
    assert [m.address for m in audience_service.members(h.ctx, audience.id)] == [
        "pat@partner.example.com"
    ]


def test_app_home_shows_campaigns_to_the_marketing_role_only(campaign_app: Harness) -> None:
    from tests.support.slack_requests import app_home_opened

    h = campaign_app
    mailbox_id, _, _ = campaign_setup(h, ["ana@customer.example.com"])
    for user in ("UALICE", "UBOB"):
        h.client.event(app_home_opened(user))
    home = wait_until(lambda: h.slack.home_view("UALICE"), message="Alice's home")
    assert "campaign_home_new" in json.dumps(home)
    bob = wait_until(lambda: h.slack.home_view("UBOB"), message="Bob's home")
    assert "campaign_home_new" not in json.dumps(bob)

    h.client.action("campaign_home_new", None, "UALICE", view=home)
    opened = wait_until(
        lambda: [
            c for c in h.slack.calls_to("views.open") if "campaign_new" in json.dumps(c.params)
        ],
        message="the New campaign modal",
    )
    assert str(mailbox_id) in json.dumps(opened[0].params)
    h.client.action("campaign_home_new", None, "UBOB", view=bob)
    wait_until(
        lambda: (
            any("marketing role" in m.get("text", "") for m in dms(h, "UBOB"))
            or any("marketing role" in e["text"] for e in h.slack.ephemerals("UBOB"))
        ),
        message="Bob refused",
    )


def answer_and_blocks(h: Harness, command: str, text: str, user: str) -> str:
    before = len(h.slack.ephemerals(user))
    assert h.client.command(command, text, user).status_code == 200
    got = wait_until(lambda: h.slack.ephemerals(user)[before:], message=f"answer to {command}")[0]
    return str(got["text"]) + json.dumps(got.get("blocks") or [], ensure_ascii=False)


def test_campaign_commands_answer_a_spanish_user_in_spanish(harness: Harness) -> None:
    h = harness
    h.slack.set_locale("UADMIN", "es-ES")
    assert "Todavía no hay campañas" in answer_and_blocks(h, "/mail-campaign", "list", "UADMIN")
    assert "Todavía no hay audiencias" in answer_and_blocks(h, "/mail-audience", "list", "UADMIN")
    created = answer_and_blocks(h, "/mail-audience", "create noticias", "UADMIN")
    assert "Audiencia *noticias* creada." in created
    added = answer_and_blocks(
        h, "/mail-audience", "add noticias ana@customer.example.com", "UADMIN"
    )
    assert "Se añadió 1 dirección a *noticias*." in added
    listing = answer_and_blocks(h, "/mail-audience", "list", "UADMIN")
    assert "*noticias* — 1 dirección" in listing
