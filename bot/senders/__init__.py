"""Sender verification with AWS SES (/mail-verify) and domain checks (/dkim-check).

``install`` puts a ``Senders`` service in ``ctx.senders`` and hooks it into the
app: the activation and reply guards for mailboxes that send through SES, the /mail-status
lines, and two scheduled jobs (following pending verifications, re-checking watched domains)
whose work is also callable directly with an explicit ``now``, so tests drive time.
"""

from __future__ import annotations

from datetime import datetime

from bot.context import AppContext
from bot.senders.domains import WATCH_JOB, WATCH_TICK_SECONDS, DomainService
from bot.senders.verification import FOLLOW_JOB, FOLLOW_TICK_SECONDS, SenderVerifications


class Senders:
    """The feature's two services, and the scheduled work they share."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.verifications = SenderVerifications(ctx)
        self.domains = DomainService(ctx, self.verifications)

    def follow_due_verifications(self, now: datetime | None = None) -> list[tuple[str, str]]:
        return self.verifications.follow_due(now)

    def run_due_watches(self, now: datetime | None = None) -> list[tuple[str, str]]:
        return self.domains.run_due_watches(now)

    def start_jobs(self, ctx: AppContext) -> None:
        """``ctx.events.started``: the follow-up ticks every minute (each row keeps its own next check)."""
        ctx.scheduler.every(FOLLOW_JOB, FOLLOW_TICK_SECONDS, self.verifications.follow_job)
        ctx.scheduler.every(WATCH_JOB, WATCH_TICK_SECONDS, self.domains.run_due_watches)


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
