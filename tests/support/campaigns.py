"""Setting up campaigns through the app's real Slack entry points (commands, modals, buttons)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.campaigns import audiences as audience_service
from bot.campaigns import templates as template_service
from storage.models import Audience, Campaign, CampaignTemplate, Suppression
from tests.support.dns_server import TestDnsServer
from tests.support.harness import Harness, HarnessFactory, MailAccount
from tests.support.slack_requests import (
    SlackClientForTests,
    checkboxes,
    plain_input,
    static_select,
)
from tests.support.wait import wait_until

CHANNEL = "C_NEWS"


def marketing_account(h: Harness, domain: str = "good.test") -> MailAccount:
    account = MailAccount(f"news{uuid.uuid4().hex[:8]}@{domain}", uuid.uuid4().hex[:16])
    h.dovecot.add_user(account.address, account.password)
    h.smtp.users[account.address] = account.password
    return account


def grant(h: Harness, user: str, role: str) -> None:
    """Grant a role and wait for the confirmation (commands are answered asynchronously)."""
    before = len(h.slack.ephemerals("UADMIN"))
    assert h.client.command("/mail-role", f"<@{user}> {role}", "UADMIN").status_code == 200
    wait_until(
        lambda: any(
            f"now has the {role} role" in e["text"] for e in h.slack.ephemerals("UADMIN")[before:]
        ),
        message=f"{user} granted {role}",
    )


def save_template(
    client: SlackClientForTests, name: str, subject: str, body: str, user: str = "UALICE"
) -> dict[str, Any]:
    response = client.submit_view(
        "campaign_template",
        {
            "name": {"value": plain_input(name)},
            "subject": {"value": plain_input(subject)},
            "body": {"value": plain_input(body)},
        },
        user,
        private_metadata='{"template_id": null}',
    )
    assert response.status_code == 200, response.text
    return response.json() if response.content else {}


def dms(h: Harness, user: str) -> list[dict[str, Any]]:
    return h.slack.messages(user)


def wait_for_dm(h: Harness, user: str, needle: str, before: int = 0) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        for message in dms(h, user)[before:]:
            if needle in message.get("text", "") + json.dumps(message.get("blocks") or []):
                return message
        return None

    return wait_until(found, timeout=20, message=f"a DM to {user} with {needle!r}")


def button_value(message: dict[str, Any], action_id: str) -> str | None:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return element.get("value")
    return None


def prepare_campaign(
    h: Harness,
    mailbox_id: int,
    audience_id: int,
    template_id: int,
    user: str = "UALICE",
    *,
    track_clicks: bool = False,
) -> dict[str, Any]:
    """Submit the New campaign modal; returns the confirmation DM."""
    before = len(dms(h, user))
    values = {
        "mailbox": {"value": static_select(str(mailbox_id))},
        "audience": {"value": static_select(str(audience_id))},
        "template": {"value": static_select(str(template_id))},
    }
    if track_clicks:
        values["tracking"] = {"value": checkboxes(["clicks"])}
    response = h.client.submit_view("campaign_new", values, user)
    assert response.status_code == 200, response.text
    return wait_for_dm(h, user, "Ready to send?", before)


def click(
    h: Harness,
    action_id: str,
    value: str,
    user: str,
    message: dict[str, Any] | None = None,
    channel: str | None = None,
) -> None:
    response = h.client.action(
        action_id,
        value,
        user,
        channel_id=channel or f"D{user}",
        message_ts=(message or {}).get("ts"),
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def campaign_app(harness_with: HarnessFactory, dns_server: TestDnsServer) -> Harness:
    return harness_with(DNS_NAMESERVERS=dns_server.address, PUBLIC_URL="http://testserver")


@pytest.fixture
def campaign_app_any_db(
    harness_with: HarnessFactory, dns_server: TestDnsServer, database_url: str
) -> Harness:
    return harness_with(
        database_url=database_url,
        DNS_NAMESERVERS=dns_server.address,
        PUBLIC_URL="http://testserver",
    )


def answer(h: Harness, command: str, text: str, user: str = "UALICE") -> str:
    before = len(h.slack.ephemerals(user))
    h.client.command(command, text, user)
    got = wait_until(lambda: h.slack.ephemerals(user)[before:], message=f"answer to {command}")[0]
    return got["text"] + json.dumps(got.get("blocks") or [])


def campaign_setup(
    h: Harness, addresses: list[str], domain: str = "good.test"
) -> tuple[int, int, int]:
    """A marketing mailbox, an audience with ``addresses`` and a template; returns their ids."""
    account = marketing_account(h, domain)
    mailbox = h.connect(account, user="UADMIN", kind="marketing", channel=CHANNEL)
    grant(h, "UALICE", "marketing")
    assert "created" in answer(h, "/mail-audience", "create news")
    assert "Added" in answer(h, "/mail-audience", "add news " + " ".join(addresses))
    save_template(
        h.client, "welcome", "Hello {first_name|there}", "Hi *{first_name|there}*, news from us."
    )
    audience = audience_service.find_audience(h.ctx, "T1", "news") or only_audience(h)
    template = template_service.list_templates(h.ctx, audience.team_id)[0]
    return mailbox.id, audience.id, template.id  # type: ignore[return-value]


def only_audience(h: Harness):  # type: ignore[no-untyped-def]
    with h.ctx.db.session() as session:
        from storage.models import Audience

        return session.exec(select(Audience)).one()


def start_campaign(h: Harness, mailbox_id: int, audience_id: int, template_id: int) -> int:
    confirmation = prepare_campaign(h, mailbox_id, audience_id, template_id)
    value = button_value(confirmation, "campaign_send")
    assert value, confirmation
    click(h, "campaign_send", value, "UALICE", confirmation)
    return int(value)


def campaign_row(h: Harness, campaign_id: int) -> Campaign:
    with h.ctx.db.session() as session:
        row = session.get(Campaign, campaign_id)
    assert row is not None
    return row


def suppressed(h: Harness) -> dict[str, str]:
    with h.ctx.db.session() as session:
        return {s.address: s.reason for s in session.exec(select(Suppression))}


def add_campaign(
    session: Session,
    mailbox_id: int | None,
    *,
    named: str = "a",
    subject: str = "",
    body: str = "",
    **fields: Any,
) -> Campaign:
    """A campaign of ``mailbox_id`` written straight to the database (no Slack, no worker), with
    its own audience and template, both called ``named``; ``subject`` and ``body`` are the
    template's, which the campaign carries as starting one copies them; ``fields`` are the
    campaign's (its state, name, ...). Flushed, so it has its id."""
    audience = Audience(team_id="T1", name=named)
    template = CampaignTemplate(team_id="T1", name=named, subject=subject, body=body)
    session.add_all([audience, template])
    session.flush()
    campaign = Campaign(
        team_id="T1",
        mailbox_id=mailbox_id,  # type: ignore[arg-type]
        audience_id=audience.id,  # type: ignore[arg-type]
        template_id=template.id,  # type: ignore[arg-type]
        subject=subject,
        body=body,
        **fields,
    )
    session.add(campaign)
    session.flush()
    return campaign
