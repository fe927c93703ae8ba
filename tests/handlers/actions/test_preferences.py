"""App Home's buttons and the footer editor's tools, through signed requests: connect, edit a footer,
the sync mode, a footer's preview and test mail."""

from __future__ import annotations

import json

from sqlmodel import select

from storage.models import Footer
from tests.support.footers import GOOD, footer_state, open_editor
from tests.support.harness import Harness
from tests.support.home import home_containing, open_home
from tests.support.wait import wait_until


def test_home_buttons_connect_footer_and_sync_mode(harness: Harness) -> None:
    h = harness
    mailbox = h.connect(user="UALICE")
    open_home(h, "UALICE")
    view = h.slack.home_view("UALICE")

    h.client.action("home_connect", None, "UALICE", view=view)
    modal = wait_until(lambda: h.slack.last_view(), message="connect modal")
    assert modal["callback_id"] == "mail_connect"

    h.client.action("home_edit_footer", str(mailbox.id), "UALICE", view=view)
    wait_until(lambda: h.slack.last_view()["callback_id"] == "mail_footer", message="footer modal")
    assert json.loads(h.slack.last_view()["private_metadata"]) == {"target": str(mailbox.id)}

    h.client.action("home_sync_mode", str(mailbox.id), "UALICE", view=view)
    wait_until(lambda: h.ctx.mailboxes.get(mailbox.id).sync_mode == "partial", message="partial")
    home_containing(h, "UALICE", "partial: only contacts")
    # Someone else cannot change it.
    h.client.action("home_sync_mode", str(mailbox.id), "UBOB", view=view)
    wait_until(lambda: h.slack.messages("DUBOB"), message="refusal DM")
    assert h.ctx.mailboxes.get(mailbox.id).sync_mode == "partial"


def test_preview_and_send_me_a_test_change_nothing_until_save(harness: Harness) -> None:
    h = harness
    mailbox = h.connect(user="UALICE")
    view = open_editor(h, "UALICE")

    h.client.action(
        "footer_preview", str(mailbox.id), "UALICE", view=view, state_values=footer_state(GOOD)
    )
    # The editor itself has a "Preview" button: wait for the preview's own block.
    preview = wait_until(
        lambda: (
            any(b.get("block_id") == "preview" for b in h.slack.last_view()["blocks"])
            and json.dumps(h.slack.last_view()["blocks"])
        ),
        message="preview",
    )
    assert "Ualice" in preview and "Acme &amp; Co" in preview  # tags filled, text escaped

    h.client.action(
        "footer_test", str(mailbox.id), "UALICE", view=view, state_values=footer_state(GOOD)
    )
    test = h.smtp.wait_for_messages(1)[0].message
    assert test["To"] == "ualice@example.com" and mailbox.address in test["From"]
    assert "background-color:#f4f4f4" in test.get_body(("html",)).get_content()
    assert "Best regards" in test.get_body(("plain",)).get_content()
    wait_until(
        lambda: "Test sent to ualice@example.com" in json.dumps(h.slack.last_view()["blocks"]),
        message="test result shown",
    )

    # A mistake found by the preview is listed; still nothing stored.
    h.client.action(
        "footer_preview",
        str(mailbox.id),
        "UALICE",
        view=view,
        state_values=footer_state({**GOOD, "link_color": "blue"}),
    )
    wait_until(lambda: "Fix these" in json.dumps(h.slack.last_view()["blocks"]), message="problems")
    with h.ctx.db.session() as session:
        assert session.exec(select(Footer)).all() == []
