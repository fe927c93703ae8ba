"""A marketing mailbox's sending limits and the throttle that holds a campaign to them.

Defaults follow each provider's published limits; SES's come from GetSendQuota; an admin
can set a mailbox's own with ``/mail-campaign limits``. 0 means no limit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import botocore.session
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.campaigns import ledger
from storage.models import CampaignLimit, Mailbox, Provider, utcnow

if TYPE_CHECKING:
    from bot.context import AppContext

log = logging.getLogger(__name__)


class CampaignSettings(BaseSettings):
    """Campaign defaults, read from the environment like the other settings."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)
    # Limits for hand-configured (IMAP/SMTP) mailboxes without their own; 0 = no limit.
    mailroom_campaign_per_second: float = Field(default=0.0, ge=0)
    mailroom_campaign_per_minute: int = Field(default=60, ge=0)
    mailroom_campaign_per_day: int = Field(default=5000, ge=0)
    # A recipient refused temporarily (4xx) is tried again after this many seconds (x attempt).
    mailroom_campaign_retry_seconds: float = Field(default=300.0, ge=0)


# Published provider limits: Google Workspace about 2,000 messages a day; Exchange Online
# 30 messages a minute and 10,000 recipients a day.
PROVIDER_LIMITS = {
    Provider.GOOGLE: (0.0, 60, 2000),
    Provider.MICROSOFT: (0.0, 30, 10000),
}


@dataclass
class Limits:
    per_second: float
    per_minute: int
    per_day: int
    source: str
    waiting: str = ""  # why nothing may be sent now (an exhausted SES quota)

    def describe(self) -> str:
        parts = []
        if self.per_second:
            parts.append(f"{self.per_second:g}/second")
        if self.per_minute:
            parts.append(f"{self.per_minute}/minute")
        if self.per_day:
            parts.append(f"{self.per_day:,}/day")
        return (", ".join(parts) or "no limit") + f" ({self.source})"

    def seconds_for(self, count: int) -> float:
        rates = [r for r in (self.per_second, self.per_minute / 60.0) if r]
        return count / min(rates) if rates else 0.0


def limits_for(ctx: AppContext, mailbox: Mailbox) -> Limits:
    with ctx.db.session() as session:
        row = session.get(CampaignLimit, mailbox.id)
    if row is not None:
        return Limits(row.per_second, row.per_minute, row.per_day, "set for this mailbox")
    if mailbox.send_via == "ses":
        quota = ses_quota(ctx)
        if quota is not None:
            mine = ledger.sent_since(ctx, mailbox.id, utcnow() - timedelta(days=1))  # type: ignore[arg-type]
            waiting = "" if quota.per_day else "The Amazon SES 24-hour sending quota is used up."
            return Limits(quota.per_second, 0, mine + quota.per_day, quota.source, waiting)
    if mailbox.provider in PROVIDER_LIMITS:
        per_second, per_minute, per_day = PROVIDER_LIMITS[Provider(mailbox.provider)]
        return Limits(per_second, per_minute, per_day, f"{mailbox.provider} default")
    settings = CampaignSettings()
    return Limits(
        settings.mailroom_campaign_per_second,
        settings.mailroom_campaign_per_minute,
        settings.mailroom_campaign_per_day,
        "default",
    )


_SES_QUOTA_CACHE: dict[tuple[str, str], tuple[float, Limits]] = {}
SES_QUOTA_TTL = 60.0


def ses_quota(ctx: AppContext) -> Limits | None:
    """SES's own limits (GetSendQuota): MaxSendRate per second and what is left of the
    24-hour quota; asked at most once a minute."""
    settings = ctx.settings
    if not settings.mailroom_ses_enabled:
        return None
    key = (settings.aws_region, settings.aws_endpoint_url)
    cached = _SES_QUOTA_CACHE.get(key)
    if cached is not None and time.monotonic() - cached[0] < SES_QUOTA_TTL:
        return cached[1]
    try:
        from botocore.config import Config

        from providers.ses import SHARED_LOADER

        session = botocore.session.get_session()
        session.register_component("data_loader", SHARED_LOADER)
        client = session.create_client(
            "ses",
            region_name=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url or None,
            config=Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 3}),
        )
        quota = client.get_send_quota()
    except Exception as exc:
        log.warning("could not read the SES sending quota: %s", type(exc).__name__)
        return None
    # per_day here is what is left of the account's 24-hour quota; limits_for adds back
    # what this mailbox sent in that window, since the worker counts from its own ledger.
    remaining = int(float(quota.get("Max24HourSend", 0)) - float(quota.get("SentLast24Hours", 0)))
    limits = Limits(
        float(quota.get("MaxSendRate") or 1.0), 0, max(remaining, 0), "Amazon SES quota"
    )
    _SES_QUOTA_CACHE[key] = (time.monotonic(), limits)
    return limits


def set_limits(
    ctx: AppContext, mailbox_id: int, per_second: float, per_minute: int, per_day: int, user: str
) -> None:
    with ctx.db.session() as session:
        row = session.get(CampaignLimit, mailbox_id) or CampaignLimit(mailbox_id=mailbox_id)
        row.per_second, row.per_minute, row.per_day = per_second, per_minute, per_day
        row.updated_by, row.updated_at = user, utcnow()
        session.add(row)


class Throttle:
    """Spacing for one mailbox: at most ``per_second`` and ``per_minute`` sends."""

    def __init__(self) -> None:
        self.recent: deque[float] = deque()
        self.last = 0.0
        self.lock = threading.Lock()

    def delay(self, limits: Limits, now: float) -> float:
        with self.lock:
            wait = 0.0
            if limits.per_second:
                wait = max(wait, self.last + 1.0 / limits.per_second - now)
            if limits.per_minute:
                while self.recent and self.recent[0] <= now - 60.0:
                    self.recent.popleft()
                if len(self.recent) >= limits.per_minute:
                    wait = max(wait, self.recent[0] + 60.0 - now)
            return max(wait, 0.0)

    def record(self, now: float) -> None:
        with self.lock:
            self.last = now
            self.recent.append(now)
            while len(self.recent) > 100_000:
                self.recent.popleft()
