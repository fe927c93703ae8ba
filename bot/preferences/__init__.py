"""Mailbox settings: footers, status and visibility, partial sync and contacts, App Home."""

from __future__ import annotations

from bot.context import AppContext
from bot.preferences import contacts, footers, panel


def install(ctx: AppContext) -> None:
    """Register services, hooks, routes and scheduled jobs on ``ctx`` (see bot.features)."""
    ctx.replies.footer = footers.footer_source(ctx)
    ctx.replies.sent_hooks.append(contacts.sent_hook(ctx))
    ctx.sync.post_filters.append(contacts.post_filter(ctx))
    ctx.sync.ingest_hooks.append(contacts.ingest_hook(ctx))
    ctx.home_view = panel.home_view
    ctx.events.mailbox_changed.connect(panel.schedule_refresh)
    ctx.events.domain_checked.connect(panel.schedule_admin_refresh)
    watcher = panel.HealthWatcher(ctx)
    ctx.home_watcher = watcher
    ctx.events.started.connect(watcher.start)
