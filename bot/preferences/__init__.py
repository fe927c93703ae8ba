"""Mailbox settings: footers, status and visibility, partial sync and contacts, App Home."""

from __future__ import annotations

from functools import partial

from bot.context import AppContext
from bot.preferences import contacts, footers, panel


def install(ctx: AppContext) -> None:
    """Register services, hooks, routes and scheduled jobs on ``ctx`` (see bot.features)."""
    ctx.replies.footer = footers.footer_source(ctx)
    ctx.replies.sent_hooks.append(contacts.sent_hook(ctx))
    ctx.sync.post_filters.append(contacts.post_filter(ctx))
    ctx.sync.ingest_hooks.append(contacts.ingest_hook(ctx))
    ctx.home_view = partial(panel.home_view, ctx)
    ctx.events.mailbox_changed.connect(partial(panel.schedule_refresh, ctx))
    ctx.events.domain_checked.connect(partial(panel.schedule_admin_refresh, ctx))
    watcher = panel.HealthWatcher(ctx)
    ctx.events.started.connect(partial(watcher.start, ctx))
