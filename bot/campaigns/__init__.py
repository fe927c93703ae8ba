"""Marketing campaigns (issue 14): audiences, templates, exactly-once sending, unsubscribe.

``install`` puts the ``CampaignEngine`` in ``ctx.extras["campaigns"]``, schedules its worker
at start (after turning rows a killed worker left ``sending`` into ``uncertain``) and adds
the unsubscribe routes to the web app, and reads delivery status notifications that reach
a marketing mailbox's INBOX (``bounces``).
"""

from __future__ import annotations

from bot.campaigns import bounces, sns, tracking
from bot.campaigns.sending import CampaignEngine
from bot.campaigns.unsubscribe import install_routes, mailto_hook
from bot.context import AppContext


def install(ctx: AppContext) -> None:
    engine = CampaignEngine(ctx)
    ctx.extras["campaigns"] = engine
    ctx.extras["on_start"].append(engine.start_jobs)
    ctx.extras["routes"].append(install_routes)
    ctx.extras["routes"].append(tracking.install_routes)
    ctx.extras["routes"].append(sns.install_routes)
    ctx.sync.ingest_hooks.append(bounces.ingest_hook(ctx))
    ctx.sync.ingest_hooks.append(mailto_hook(ctx))
