"""Who reads what: a person's Slack locale picks the language of what Mailroom shows them."""

from __future__ import annotations

import json

import pytest

from tests.support.channel_posts import channel_texts
from tests.support.harness import Harness, HarnessFactory, make_email
from tests.support.slack_requests import app_home_opened
from tests.support.wait import wait_until


def _home_text(h: Harness, user: str) -> str:
    view = h.slack.home_view(user)
    return json.dumps(view, ensure_ascii=False) if view else ""


def test_app_home_is_in_the_readers_language(harness: Harness) -> None:
    h = harness
    h.slack.set_locale("UBOB", "es-ES")
    h.client.event(app_home_opened("UBOB"))
    h.client.event(app_home_opened("UALICE"))
    spanish = wait_until(lambda: _home_text(h, "UBOB"), message="Bob's home")
    english = wait_until(lambda: _home_text(h, "UALICE"), message="Alice's home")
    assert "Tus buzones" in spanish and "Conectar un buzón" in spanish
    assert "Your mailboxes" not in spanish
    assert "Your mailboxes" in english and "Tus buzones" not in english


def test_connect_modal_follows_the_locale_and_a_change_of_it(harness: Harness) -> None:
    h = harness
    h.slack.set_locale("UALICE", "es-LA")
    h.client.command("/mail-connect", "", "UALICE")
    view = wait_until(h.slack.last_view, message="connect modal")
    assert view["title"]["text"] == "Conectar un buzón"
    assert view["submit"]["text"] == "Probar y guardar"

    # Back to English in Slack: the user_change event makes Mailroom ask again.
    h.slack.set_locale("UALICE", "en-US")
    h.client.event({"type": "user_change", "user": {"id": "UALICE"}})
    h.client.command("/mail-connect", "", "UALICE")
    wait_until(
        lambda: (
            (v := h.slack.last_view()) is not None and v["title"]["text"] == "Connect a mailbox"
        ),
        message="English modal",
    )


@pytest.mark.parametrize(
    ("workspace", "expected", "other"),
    [("es", "Correo de", "Email from"), ("en", "Email from", "Correo de")],
)
def test_a_channel_post_follows_the_workspace_language_not_the_connectors(
    harness_with: HarnessFactory, workspace: str, expected: str, other: str
) -> None:
    h = harness_with(MAILROOM_LANGUAGE=workspace)
    # The person who connected it reads the other language: the channel still gets the
    # workspace's (several people read a channel).
    h.slack.set_locale("UALICE", "en-US" if workspace == "es" else "es-ES")
    account = h.new_account()
    mailbox = h.connect(account, channel="C_LANG")
    h.deliver(account, make_email(to=account.address, subject="Presupuesto"))
    h.sync(mailbox.id)
    texts = wait_until(
        lambda: [t for t in channel_texts(h, "C_LANG") if "Presupuesto" in t],
        message="the post in the channel",
    )
    assert all(t.startswith(expected) for t in texts), texts
    assert not any(t.startswith(other) for t in channel_texts(h, "C_LANG"))
