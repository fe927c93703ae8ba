"""Marketing campaigns (issue 14): audiences, templates, exactly-once sending, unsubscribe.

Modules: ``audiences`` (lists, CSV import), ``templates`` (merge fields through Jinja's
sandbox), ``compose`` (one message per recipient), ``transport`` (SMTP or SES, failures
classified), ``limits`` (provider limits, throttle), ``ledger`` (one row per recipient, the
exactly-once record), ``sending`` (prepare, start, schedule, the worker, pause/resume/cancel),
``unsubscribe`` (RFC 8058 routes, suppression list), ``bounces`` (RFC 3464 DSNs from the
INBOX), ``sns`` (SES notifications), ``tracking`` (opt-in click redirects), ``steps``
(follow-ups).

``install`` puts the ``CampaignEngine`` in ``ctx.campaigns``, schedules its worker
at start (after turning rows a killed worker left ``sending`` into ``uncertain``), adds the
web routes, hooks the sync (bounces, unsubscribe mails) and adds a Campaigns part to App Home.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from bot.campaigns import bounces, sns, steps, tracking
from bot.campaigns.sending import CampaignEngine, list_campaigns, may_run_campaigns
from bot.campaigns.unsubscribe import install_routes, mailto_hook
from bot.context import AppContext


def install(ctx: AppContext) -> None:
    engine = CampaignEngine(ctx, ctx.need_senders() if ctx.senders else None)
    ctx.campaigns = engine
    engine.launchers.append(partial(steps.launch_due_steps, ctx))
    ctx.events.started.connect(engine.start_jobs)
    ctx.routes.append(partial(install_routes, ctx=ctx))
    ctx.routes.append(partial(tracking.install_routes, ctx=ctx))
    ctx.routes.append(partial(sns.install_routes, ctx=ctx))
    ctx.sync.ingest_hooks.append(bounces.ingest_hook(ctx))
    base_home = ctx.home_view
    if base_home is not None:
        ctx.home_view = with_campaigns(ctx, base_home)
    ctx.sync.ingest_hooks.append(mailto_hook(ctx))


def with_campaigns(
    ctx: AppContext, base: Callable[..., dict[str, Any]]
) -> Callable[..., dict[str, Any]]:
    """App Home plus a Campaigns section for admins and the marketing role."""

    def home_view(user_id: str, team_id: str) -> dict[str, Any]:
        view = base(user_id, team_id)
        if may_run_campaigns(ctx, user_id):
            from bot.blocks.campaigns import home_section
            from bot.campaigns import ledger

            rows = [(c, ledger.counts(ctx, c.id)) for c in list_campaigns(ctx, team_id, limit=5)]  # type: ignore[arg-type]
            room = 100 - len(view.get("blocks", []))
            if room > 3:
                view["blocks"] = [*view.get("blocks", []), *home_section(rows)[:room]]
        return view

    return home_view
