"""A template written in the rich text editor, saved through the modal, sent as a campaign."""

from __future__ import annotations

import json
from typing import Any

from bot.campaigns import audiences as audience_service
from bot.campaigns import templates as template_service
from tests.support.campaigns import (
    CHANNEL,
    answer,
    button_value,
    click,
    grant,
    marketing_account,
    prepare_campaign,
)
from tests.support.dns_server import TestDnsServer
from tests.support.harness import Harness, HarnessFactory
from tests.support.slack_requests import plain_input, rich_input
from tests.support.wait import wait_until

BODY: dict[str, Any] = {
    "type": "rich_text",
    "elements": [
        {
            "type": "rich_text_section",
            "elements": [
                {"type": "text", "text": "Hi "},
                {"type": "text", "text": "{first_name|there}", "style": {"bold": True}},
                {"type": "text", "text": " & welcome <script>alert(1)</script> "},
                {"type": "emoji", "name": "wave", "unicode": "1f44b"},
                {"type": "text", "text": "\n"},
            ],
        },
        {
            "type": "rich_text_list",
            "style": "bullet",
            "elements": [
                {
                    "type": "rich_text_section",
                    "elements": [
                        {"type": "link", "url": "https://example.com/news", "text": "Our news"}
                    ],
                },
                {
                    "type": "rich_text_section",
                    "elements": [
                        {"type": "link", "url": "javascript:alert(1)", "text": "not a link"}
                    ],
                },
            ],
        },
        {
            "type": "rich_text_quote",
            "elements": [{"type": "text", "text": "See you, {company|friend}"}],
        },
    ],
}


def submit(h: Harness, body: dict[str, Any], template_id: int | None = None) -> dict[str, Any]:
    response = h.client.submit_view(
        "campaign_template",
        {
            "name": {"value": plain_input("rich welcome")},
            "subject": {"value": plain_input("Hello {first_name|there}")},
            "body": {"value": rich_input(body)},
        },
        "UALICE",
        private_metadata=json.dumps({"template_id": template_id}),
    )
    assert response.status_code == 200, response.text
    return response.json() if response.content else {}


def test_a_rich_text_template_sends_the_right_html_and_text_parts(
    harness_with: HarnessFactory, dns_server: TestDnsServer
) -> None:
    h = harness_with(DNS_NAMESERVERS=dns_server.address, PUBLIC_URL="http://testserver")
    mailbox = h.connect(marketing_account(h), user="UADMIN", kind="marketing", channel=CHANNEL)
    grant(h, "UALICE", "marketing")
    assert "created" in answer(h, "/mail-audience", "create news")
    assert "Added" in answer(h, "/mail-audience", "add news ana@customer.example.com")

    # An unknown merge field typed in the rich text is refused on the body block.
    unknown = json.loads(json.dumps(BODY).replace("{company|friend}", "{favourite_color}"))
    refused = submit(h, unknown)
    assert refused["response_action"] == "errors"
    assert "Unknown field {favourite_color}" in refused["errors"]["body"]
    empty = submit(h, {"type": "rich_text", "elements": []})
    assert empty["errors"]["body"] == "Write the message."
    assert template_service.list_templates(h.ctx, "T1") == []

    assert submit(h, BODY).get("response_action") is None
    [template] = template_service.list_templates(h.ctx, "T1")
    assert json.loads(template.body_rich) == BODY
    assert "{first_name|there}" in template.body

    # Editing re-opens the editor with the stored rich text.
    h.client.command("/mail-campaign-template", "edit rich welcome", "UALICE")
    opened = wait_until(
        lambda: [
            c for c in h.slack.calls_to("views.open") if "rich welcome" in json.dumps(c.params)
        ],
        message="the template modal",
    )
    view = opened[-1].params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    [body_block] = [b for b in view["blocks"] if b.get("block_id") == "body"]
    assert body_block["element"]["type"] == "rich_text_input"
    assert body_block["element"]["initial_value"] == BODY

    audience = audience_service.find_audience(h.ctx, "T1", "news")
    confirmation = prepare_campaign(h, mailbox.id, audience.id, template.id)  # type: ignore[arg-type, union-attr]
    value = button_value(confirmation, "campaign_send")
    assert value
    click(h, "campaign_send", value, "UALICE", confirmation)
    [mail] = h.smtp.wait_for_messages(1, timeout=30)
    msg = mail.message
    assert msg["Subject"] == "Hello there"
    html = msg.get_body(("html",)).get_content()
    plain = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert (
        "Hi <strong>there</strong> &amp; welcome &lt;script&gt;alert(1)&lt;/script&gt; 👋" in html
    )
    assert "<script>" not in html
    assert '<a href="https://example.com/news"' in html and ">Our news</a>" in html
    assert "javascript:" not in html and "not a link" in html
    assert "<blockquote" in html and "See you, friend" in html
    assert "<ul" in html and "<li" in html
    assert plain.startswith(
        "Hi there & welcome <script>alert(1)</script> 👋\n"
        "• Our news (https://example.com/news)\n"
        "• not a link\n"
        "> See you, friend\n"
    )
    assert "Unsubscribe: http://testserver/unsubscribe/" in plain

    # Preview from the open modal fills the rich text with a real recipient's values.
    view = {"id": "VTPL", "callback_id": "campaign_template", "blocks": []}
    state = {
        "subject": {"value": plain_input("For {email}")},
        "body": {"value": rich_input(BODY)},
    }
    h.client.action("campaign_template_preview", None, "UALICE", view=view, state_values=state)
    pushed = wait_until(lambda: h.slack.calls_to("views.push"), message="preview pushed")[0]
    shown = json.dumps(pushed.params, ensure_ascii=False)
    assert "ana@customer.example.com" in shown and "Our news (https://example.com/news)" in shown
