"""Sender verification with AWS SES (/mail-verify) and domain checks (/dkim-check).

``install`` puts a ``Senders`` service in ``ctx.senders`` and hooks it into the
app: the activation and reply guards for mailboxes that send through SES, the /mail-status
lines, and two scheduled jobs (following pending verifications, re-checking watched domains)
whose work is also callable directly with an explicit ``now``, so tests drive time.
"""

from __future__ import annotations

from bot.context import AppContext
from bot.senders.service import Senders

__all__ = ["Senders", "install"]


def install(ctx: AppContext) -> None:
    """Register services, hooks, routes and scheduled jobs on ``ctx`` (see bot.features)."""
    senders = Senders(ctx)
    ctx.senders = senders
    ctx.activation_guards.append(senders.verifications.activation_guard)
    ctx.replies.send_guards.append(senders.verifications.send_guard)
    ctx.replies.transports["ses"] = senders.verifications.send_through_ses
    ctx.status_lines.append(senders.verifications.status_lines)
    ctx.status_footer.append(senders.domains.status_footer)
    ctx.events.started.connect(senders.start_jobs)
