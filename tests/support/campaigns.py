"""Setting up campaigns through the app's real Slack entry points (commands, modals, buttons)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.support.harness import Harness, MailAccount
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
