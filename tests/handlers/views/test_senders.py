"""The /mail-verify modal (view submission), through signed requests: it verifies a mailbox's address in SES and checks its fields."""

from __future__ import annotations

from tests.support.harness import Harness
from tests.support.senders_app import buttons, shown
from tests.support.ses_server import (
    MotoSes,
)
from tests.support.slack_requests import checkboxes, plain_input, static_select
from tests.support.wait import wait_until


def test_modal_verifies_a_mailbox_and_switches_it_to_ses(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    h = senders_harness
    mailbox = h.connect(user="UADMIN", kind="shared")
    h.client.command("/mail-verify", "", "UADMIN")
    view = wait_until(h.slack.last_view, message="the verify modal")
    select = next(b for b in view["blocks"] if b.get("block_id") == "mailbox")
    options = [o["value"] for o in select["element"]["options"]]
    assert options == [f"mailbox:{mailbox.id}", "new"]
    assert any(b.get("block_id") == "send_via" for b in view["blocks"])

    values = {
        "mailbox": {"value": static_select(f"mailbox:{mailbox.id}")},
        "address": {"value": plain_input("")},
        "sender_name": {"value": plain_input("Sales at Acme")},
        "send_via": {"value": checkboxes(["ses"])},
    }
    response = h.client.submit_view("mail_verify", values, "UADMIN", view=view)
    assert response.status_code == 200 and not response.content
    answer = wait_until(lambda: h.slack.ephemerals("UADMIN"), timeout=15)[0]
    assert answer["channel"] == "C_CMD"
    assert f"verification email to {mailbox.address}" in answer["text"]
    assert (
        "sends its replies through Amazon SES: replies wait until the address is verified"
        in shown(answer)
    )
    assert ses_endpoint.identity(mailbox.address).verification_status == "PENDING"
    saved = h.ctx.mailboxes.get(mailbox.id)
    assert (saved.send_via, saved.sender_name) == ("ses", "Sales at Acme")
    assert buttons(answer)["Send through SMTP"] == f"{mailbox.id}:smtp"


def test_modal_field_errors(senders_harness: Harness) -> None:
    h = senders_harness
    h.client.command("/mail-verify", "", "UADMIN")
    view = wait_until(h.slack.last_view)
    for typed, expected in (
        ("", "Type the address to verify"),
        ("nope", "is not a valid email address"),
    ):
        response = h.client.submit_view(
            "mail_verify", {"address": {"value": plain_input(typed)}}, "UADMIN", view=view
        )
        body = response.json()
        assert body["response_action"] == "errors"
        assert expected in body["errors"]["address"]
