"""The connection test of the connect form (bot.connect): what a host that never logged in
said is not shown back."""

from __future__ import annotations

import json

import pytest

from tests.support.harness import HarnessFactory
from tests.support.listeners import Listener
from tests.support.mail_servers import free_port
from tests.support.wait import wait_until

ALLOWED = "127.0.0.1"  # in the harness's MAILROOM_ALLOWED_PRIVATE_HOSTS

BANNERS = {
    "imap_host": b"SSH-2.0-OpenSSH_9.6 internal-build-7f3a secret-banner\r\n",
    "smtp_host": b"554 internal-relay.corp secret-banner go away\r\n",
}


@pytest.mark.parametrize("field", ["imap_host", "smtp_host"])
def test_connection_test_does_not_echo_a_foreign_banner(
    harness_with: HarnessFactory, field: str
) -> None:
    h = harness_with(MAILROOM_SCHEDULER="off")
    account = h.new_account()
    listener = Listener(ALLOWED, free_port(), BANNERS[field])
    try:
        port_field = field.replace("_host", "_port")
        answer = h.client.submit_view(
            "mail_connect",
            h.connect_values(account, **{port_field: str(listener.port)}),
            "UALICE",
            private_metadata='{"mailbox_id": null}',
        ).json()
        wait_until(lambda: listener.accepted >= 1, message="the listener was reached")
    finally:
        listener.close()
    assert answer["response_action"] == "errors", answer
    shown = json.dumps(answer["errors"])
    assert field in answer["errors"], answer["errors"]
    for leaked in ("secret-banner", "internal-", "OpenSSH"):
        assert leaked not in shown, shown
    # Still a sentence that says what to check.
    assert f"port {listener.port}" in answer["errors"][field]
