"""Opening, filling and saving the footer editor (/mail-footer) through signed requests."""

from __future__ import annotations

from typing import Any

from tests.support.harness import Harness
from tests.support.slack_requests import plain_input, static_select
from tests.support.wait import wait_until

GOOD = {
    "text": "Best regards,\n*{sender_name}* · {mailbox_name}\n<https://acme.test/help|Help centre> · {company}",
    "format": "rich",
    "company": "Acme & Co",
    "text_color": "#222222",
    "link_color": "#cc0000",
    "background_color": "#f4f4f4",
    "facebook": "https://www.facebook.com/acme",
    "x": "https://x.com/acme",
    "instagram": "",
    "linkedin": "https://linkedin.com/company/acme",
}


def footer_state(values: dict[str, str]) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        key: {"value": static_select(value) if key == "format" else plain_input(value)}
        for key, value in values.items()
    }


def open_editor(h: Harness, user: str, text: str = "") -> dict[str, Any]:
    before = len(h.slack.calls_to("views.open"))
    h.client.command("/mail-footer", text, user)
    wait_until(lambda: len(h.slack.calls_to("views.open")) > before, message="footer modal")
    view = h.slack.last_view()
    assert view is not None and view["callback_id"] == "mail_footer"
    return view


def save(h: Harness, user: str, view: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    response = h.client.submit_view("mail_footer", footer_state(values), user, view=view)
    assert response.status_code == 200
    return response.json() if response.content else {}
