"""The team inbox in Slack threads: who has a thread, where it stands, held replies."""

from __future__ import annotations

from bot.context import AppContext


def install(ctx: AppContext) -> None:
    from bot.inbox import triage

    ctx.sync.ingest_hooks.append(
        lambda mailbox, row, parsed: triage.on_mail_recorded(ctx, mailbox, row, parsed)
    )
    ctx.replies.sent_hooks.append(lambda mailbox, row: triage.on_reply_sent(ctx, mailbox, row))
    ctx.extras.setdefault("on_start", []).append(triage.resume_snoozes)
