"""App Home blocks, as dicts."""

from __future__ import annotations

import json

from bot.blocks.home import MAX_MAILBOXES, HomePanel, MailboxPanel, home_view
from storage.models import DomainReportRow, Mailbox


def mailbox(n: int, **fields: object) -> Mailbox:
    values = {
        "id": n,
        "team_id": "T1",
        "kind": "shared",
        "owner_id": "UADMIN",
        "address": f"box{n}@acme.test",
        **fields,
    }
    return Mailbox(**values)  # type: ignore[arg-type]


def actions_of(view: dict) -> list[tuple[str, str]]:
    return [
        (e["action_id"], e.get("value", ""))
        for b in view["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def test_manager_gets_every_button_and_the_status_lines() -> None:
    m = mailbox(1, active=False, visible=False, sync_mode="partial", address="<!channel>@acme.test")
    view = home_view(
        HomePanel(
            "UADMIN",
            True,
            [],
            [MailboxPanel(m, True, problems=["Failed login: x"], pending=["Consent needed"])],
            [DomainReportRow(team_id="T1", domain="acme.test", verdict="pass", report_json="{}")],
        )
    )
    text = json.dumps(view["blocks"])
    assert view["type"] == "home"
    assert "&lt;!channel&gt;@acme.test" in text and "<!channel>" not in text
    assert "inactive" in text and "hidden (admins only)" in text and "partial" in text
    assert "Not functional" in text and "Consent needed" in text and "*acme.test*: pass" in text
    assert [a for a, _ in actions_of(view)] == [
        "home_connect",
        "home_edit_footer",
        "mailbox_toggle_active",
        "home_toggle_visible",
        "home_sync_mode",
        "home_edit_footer",
        "mailbox_reconnect",
        "mailbox_remove",
        "dkim_check_open",
    ]


def test_plain_user_gets_sync_and_dkim_only_and_no_domains() -> None:
    view = home_view(HomePanel("USALES", False, [], [MailboxPanel(mailbox(2), False)], []))
    assert [a for a, _ in actions_of(view)] == [
        "home_connect",
        "mailbox_sync_now",
        "dkim_check_open",
    ]
    assert "Domains" not in json.dumps(view["blocks"])


def test_many_mailboxes_stay_under_the_block_limit() -> None:
    panels = [MailboxPanel(mailbox(n), True) for n in range(MAX_MAILBOXES + 10)]
    view = home_view(HomePanel("UADMIN", True, panels[:5], panels[5:], []))
    assert len(view["blocks"]) <= 100
    assert "10 more" in json.dumps(view["blocks"])
