"""The sender feature's service: SES verifications and domain checks, and their jobs."""

from __future__ import annotations

from datetime import datetime

from bot.core import Core
from bot.senders.domains import WATCH_JOB, WATCH_TICK_SECONDS, DomainService
from bot.senders.verification import FOLLOW_JOB, FOLLOW_TICK_SECONDS, SenderVerifications


class Senders:
    """The feature's two services, and the scheduled work they share."""

    def __init__(self, ctx: Core) -> None:
        self.ctx = ctx
        self.verifications = SenderVerifications(ctx)
        self.domains = DomainService(ctx, self.verifications)

    def follow_due_verifications(self, now: datetime | None = None) -> list[tuple[str, str]]:
        return self.verifications.follow_due(now)

    def run_due_watches(self, now: datetime | None = None) -> list[tuple[str, str]]:
        return self.domains.run_due_watches(now)

    def start_jobs(self) -> None:
        """``events.started``: the follow-up ticks every minute (each row keeps its own next check)."""
        scheduler = self.ctx.scheduler
        scheduler.every(FOLLOW_JOB, FOLLOW_TICK_SECONDS, self.verifications.follow_job)
        scheduler.every(WATCH_JOB, WATCH_TICK_SECONDS, self.domains.run_due_watches)
