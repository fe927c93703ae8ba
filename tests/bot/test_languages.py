"""Who reads what: a person's Slack locale picks the language of what Mailroom shows them."""

from __future__ import annotations

import json

import pytest

from bot.status import build_status
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


def _channel_texts(h: Harness, channel: str) -> list[str]:
    return [str(m.get("text") or "") for m in h.slack.messages(channel)]


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
        lambda: [t for t in _channel_texts(h, "C_LANG") if "Presupuesto" in t],
        message="the post in the channel",
    )
    assert all(t.startswith(expected) for t in texts), texts
    assert not any(t.startswith(other) for t in _channel_texts(h, "C_LANG"))


def _picker(blocks: list[dict], action_id: str) -> dict | None:
    for block in blocks:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return element
    return None


def test_an_admin_chooses_a_channels_language_in_mail_status(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, channel="C_ES", user="UADMIN")
    _text, blocks = build_status(h.ctx, "UADMIN", "", "C_ES")
    picker = _picker(blocks, "channel_language")
    assert picker is not None and picker["initial_option"]["value"] == "C_ES:default"
    # Not offered to others, and refused when forged.
    assert _picker(build_status(h.ctx, "UALICE", "", "C_ES")[1], "channel_language") is None
    h.client.action(
        "channel_language", "C_ES:es", "UALICE", action_type="static_select", channel_id="C_ES"
    )
    wait_until(lambda: h.slack.ephemerals("UALICE"), message="refusal")
    assert h.ctx.languages.channel_choice("C_ES") is None

    h.client.action(
        "channel_language", "C_ES:es", "UADMIN", action_type="static_select", channel_id="C_ES"
    )
    wait_until(lambda: h.ctx.languages.channel_choice("C_ES") == "es", message="saved")
    h.deliver(account, make_email(to=account.address, subject="Pedido 7"))
    h.sync(mailbox.id)
    texts = wait_until(
        lambda: [t for t in _channel_texts(h, "C_ES") if "Pedido 7" in t], message="the post"
    )
    assert texts[0].startswith("Correo de")  # the workspace language is English
    # The picker shows the choice.
    chosen = _picker(build_status(h.ctx, "UADMIN", "", "C_ES")[1], "channel_language")
    assert chosen is not None and chosen["initial_option"]["value"] == "C_ES:es"


def test_a_manager_sets_the_language_of_a_mailboxs_own_email(harness: Harness) -> None:
    h = harness
    mailbox = h.connect(h.new_account(), user="UALICE")  # Alice's personal mailbox
    assert mailbox.id is not None and h.ctx.languages.of_mailbox(mailbox) == "en"
    # Offered to who manages it (Alice, its owner), not to a viewer.
    assert _picker(build_status(h.ctx, "UALICE", "")[1], "mailbox_language") is not None
    assert _picker(build_status(h.ctx, "UBOB", "")[1], "mailbox_language") is None
    h.client.action("mailbox_language", f"{mailbox.id}:es", "UBOB", action_type="static_select")
    wait_until(lambda: h.slack.ephemerals("UBOB"), message="Bob refused")
    assert h.ctx.mailboxes.get(mailbox.id).language is None
    h.client.action("mailbox_language", f"{mailbox.id}:es", "UALICE", action_type="static_select")
    saved = wait_until(
        lambda: (m := h.ctx.mailboxes.get(mailbox.id)) and m.language == "es" and m,
        message="saved",
    )
    assert h.ctx.languages.of_mailbox(saved) == "es"
    h.client.action(
        "mailbox_language", f"{mailbox.id}:default", "UALICE", action_type="static_select"
    )
    wait_until(lambda: h.ctx.mailboxes.get(mailbox.id).language is None, message="reset")
    # A value that is not one of the offered choices changes nothing.
    h.client.action("mailbox_language", f"{mailbox.id}:xx", "UALICE", action_type="static_select")
    assert h.ctx.mailboxes.get(mailbox.id).language is None
