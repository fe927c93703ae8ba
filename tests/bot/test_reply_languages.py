"""A refused reply is explained to its author in their Slack language."""

from __future__ import annotations

from tests.bot.test_replies import CHANNEL, ephemeral_to, open_thread, outbound_rows
from tests.support.harness import Harness


def test_refused_reply_notice_in_the_authors_language(harness: Harness) -> None:
    h = harness
    h.slack.set_locale("UALICE", "es-ES")
    h.ctx.languages.forget("UALICE")
    account, mailbox_id, ts = open_thread(h, user="UALICE")
    h.ctx.mailboxes.set_fields(mailbox_id, active=False)
    h.reply(CHANNEL, ts, "¿Hay alguien?", user="UALICE")
    notice = ephemeral_to(h, "UALICE", "está inactivo, así que no se envió nada")
    assert notice["text"].startswith(account.address)
    assert "`/mail-status`" in notice["text"]
    assert outbound_rows(h, mailbox_id) == []


def test_refused_reply_notice_stays_english_for_an_english_author(harness: Harness) -> None:
    h = harness
    h.slack.set_locale("UBOB", "en-US")
    h.ctx.languages.forget("UBOB")
    _account, mailbox_id, ts = open_thread(h, user="UBOB")
    h.ctx.mailboxes.set_fields(mailbox_id, active=False)
    h.reply(CHANNEL, ts, "Anyone there?", user="UBOB")
    ephemeral_to(h, "UBOB", "is inactive, so nothing was sent and nothing was queued")
