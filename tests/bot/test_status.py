"""What /mail-status and App Home report to one person (bot.status): only the mailboxes they
may see, the features' lines for each, the workspace lines and a channel's language for
admins only; App Home published in its reader's language."""

from __future__ import annotations

import json
from typing import Any

from bot.status import build_status, publish_home
from storage.models import Mailbox
from tests.support.harness import Harness


def shown(blocks: list[Any]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_feature_lines_are_asked_for_visible_mailboxes_and_admins_get_the_footer(
    harness: Harness,
) -> None:
    h = harness
    alice = h.connect(user="UALICE", channel="C_ALICE")
    bob = h.connect(user="UBOB", channel="C_BOB")
    asked: list[tuple[str, int | None]] = []

    def mailbox_line(mailbox: Mailbox) -> list[str]:
        asked.append((mailbox.address, mailbox.id))
        return [f"Feature line for {mailbox.address}"]

    h.ctx.status_lines.append(mailbox_line)
    h.ctx.status_footer.append(lambda team_id: ["Workspace line for admins"])

    _text, blocks = build_status(h.ctx, "UALICE", "")
    assert asked == [(alice.address, alice.id)]
    assert f"Feature line for {alice.address}" in shown(blocks)
    assert bob.address not in shown(blocks) and "Workspace line" not in shown(blocks)

    asked.clear()
    _text, blocks = build_status(h.ctx, "UADMIN", "")
    assert sorted(asked) == sorted([(alice.address, alice.id), (bob.address, bob.id)])
    assert "Workspace line for admins" in shown(blocks)


def test_a_channel_s_language_is_offered_to_admins_in_a_real_channel_only(
    harness: Harness,
) -> None:
    h = harness
    h.connect(user="UADMIN", channel="C_SALES")

    def picker(user: str, channel: str) -> bool:
        return "channel_language" in shown(build_status(h.ctx, user, "", channel)[1])

    assert picker("UADMIN", "C_SALES") and picker("UADMIN", "G_PRIVATE")
    assert not picker("UADMIN", "DUADMIN")  # a DM has no channel language
    assert not picker("UADMIN", "C1>|<!channel")  # nor does a forged id
    assert not picker("UALICE", "C_SALES")


def test_app_home_uses_the_feature_s_view_or_the_status_in_the_reader_s_language(
    harness: Harness,
) -> None:
    h = harness
    h.slack.set_locale("UALICE", "es-ES")
    h.connect(user="UALICE", channel="C_ALICE")
    builder = h.ctx.home_view
    assert builder is not None  # the preferences panel
    publish_home(h.ctx, "UALICE", "")
    panel = h.slack.home_view("UALICE")
    assert panel is not None and panel["type"] == "home"

    h.ctx.home_view = None
    publish_home(h.ctx, "UALICE", "")
    status = h.slack.home_view("UALICE")
    assert status is not None and status["type"] == "home"
    assert status["blocks"] != panel["blocks"]
    # Published in Alice's language, though this code runs outside any Slack request.
    assert "Last successful sync" in shown(build_status(h.ctx, "UALICE", "")[1])
    assert "Last successful sync" not in shown(status["blocks"])
    assert "Última sincronización correcta" in shown(status["blocks"])
