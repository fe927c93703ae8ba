"""The team inbox in Slack threads: who has a thread, where it stands, held replies."""

from __future__ import annotations

from functools import partial
from typing import Any

from bot.context import AppContext


def install(ctx: AppContext) -> None:
    from bot.inbox import compose, triage

    ctx.sync.ingest_hooks.append(lambda mailbox, row, parsed: triage.remember_cc(ctx, row, parsed))
    ctx.sync.ingest_hooks.append(
        lambda mailbox, row, parsed: triage.on_mail_recorded(ctx, mailbox, row, parsed)
    )
    ctx.replies.sent_hooks.append(lambda mailbox, row: triage.on_reply_sent(ctx, mailbox, row))
    ctx.replies.before_recovered_send.append(partial(compose.recover_root, ctx))
    ctx.events.started.connect(partial(triage.resume_snoozes, ctx))
    ctx.events.started.connect(partial(_schedule_reminders, ctx))
    ctx.events.started.connect(partial(_schedule_held_reply_sweep, ctx))
    _add_home_counts(ctx)


def _add_home_counts(ctx: AppContext) -> None:
    """App Home starts with the same counts as /mail-inbox, above the existing panel."""
    from bot.blocks.inbox import home_counts_blocks
    from bot.inbox.waiting import counts

    previous = ctx.home_view
    if previous is None:
        return  # no App Home panel to add to (the preferences feature builds it)

    def home_view(user_id: str, team_id: str) -> dict[str, Any]:
        view = previous(user_id, team_id)
        mine, unassigned = counts(ctx, user_id, team_id)
        view["blocks"] = (home_counts_blocks(mine, unassigned) + view["blocks"])[:100]
        return view

    ctx.home_view = home_view


def _schedule_reminders(ctx: AppContext) -> None:
    from bot.inbox.reminders import check_reminders

    ctx.scheduler.every(
        "inbox-reminders", ctx.settings.inbox_reminder_check_seconds, check_reminders, ctx
    )


def _schedule_held_reply_sweep(ctx: AppContext) -> None:
    ctx.scheduler.every("held-replies", HELD_REPLY_SWEEP_SECONDS, ctx.replies.send_due)


# How often held replies past their time are looked for (their own jobs normally send them).
HELD_REPLY_SWEEP_SECONDS = 5
