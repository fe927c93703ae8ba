"""The language pickers of /mail-status, through signed requests: a channel's language
(admins), a mailbox's own email language (who manages it)."""

from __future__ import annotations

from bot.status import build_status
from tests.support.channel_posts import channel_texts
from tests.support.harness import Harness, make_email
from tests.support.wait import wait_until


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
        lambda: [t for t in channel_texts(h, "C_ES") if "Pedido 7" in t], message="the post"
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
