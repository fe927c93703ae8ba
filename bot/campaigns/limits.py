"""A marketing mailbox's sending limits and the throttle that holds a campaign to them.

Defaults follow each provider's published limits; SES's come from GetSendQuota; an admin
can set a mailbox's own with ``/mail-campaign limits``. 0 means no limit.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import botocore.session
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Connection, select, text, update

from bot.campaigns import ledger
from locales import N_, _, format_number
from storage.db import Database
from storage.models import CampaignLimit, CampaignThrottle, Mailbox, Provider, utcnow

if TYPE_CHECKING:
    from bot.core import Core

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
    source: str  # marked with N_, translated in describe(); may name {provider}
    waiting: str = ""  # why nothing may be sent now (an exhausted SES quota)
    provider: str = ""

    def describe(self) -> str:
        parts = []
        if self.per_second:
            parts.append(_("{n}/second").format(n=f"{self.per_second:g}"))
        if self.per_minute:
            parts.append(_("{n}/minute").format(n=self.per_minute))
        if self.per_day:
            parts.append(_("{n}/day").format(n=format_number(self.per_day)))
        source = _(self.source).format(provider=self.provider)
        return _("{limits} ({source})").format(
            limits=", ".join(parts) or _("no limit"), source=source
        )

    def seconds_for(self, count: int) -> float:
        rates = [r for r in (self.per_second, self.per_minute / 60.0) if r]
        return count / min(rates) if rates else 0.0


def limits_for(ctx: Core, mailbox: Mailbox) -> Limits:
    with ctx.db.session() as session:
        row = session.get(CampaignLimit, mailbox.id)
    if row is not None:
        return Limits(row.per_second, row.per_minute, row.per_day, N_("set for this mailbox"))
    if mailbox.send_via == "ses":
        quota = ses_quota(ctx)
        if quota is not None:
            mine = ledger.sent_since(ctx, mailbox.id, utcnow() - timedelta(days=1))  # type: ignore[arg-type]
            waiting = "" if quota.per_day else _("The Amazon SES 24-hour sending quota is used up.")
            return Limits(quota.per_second, 0, mine + quota.per_day, quota.source, waiting)
    if mailbox.provider in PROVIDER_LIMITS:
        per_second, per_minute, per_day = PROVIDER_LIMITS[Provider(mailbox.provider)]
        return Limits(
            per_second, per_minute, per_day, N_("{provider} default"), provider=mailbox.provider
        )
    settings = CampaignSettings()
    return Limits(
        settings.mailroom_campaign_per_second,
        settings.mailroom_campaign_per_minute,
        settings.mailroom_campaign_per_day,
        N_("default"),
    )


_SES_QUOTA_CACHE: dict[tuple[str, str], tuple[float, Limits]] = {}
SES_QUOTA_TTL = 60.0


def ses_quota(ctx: Core) -> Limits | None:
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
        float(quota.get("MaxSendRate") or 1.0), 0, max(remaining, 0), N_("Amazon SES quota")
    )
    _SES_QUOTA_CACHE[key] = (time.monotonic(), limits)
    return limits


def set_limits(
    ctx: Core, mailbox_id: int, per_second: float, per_minute: int, per_day: int, user: str
) -> None:
    with ctx.db.session() as session:
        row = session.get(CampaignLimit, mailbox_id) or CampaignLimit(mailbox_id=mailbox_id)
        row.per_second, row.per_minute, row.per_day = per_second, per_minute, per_day
        row.updated_by, row.updated_at = user, utcnow()
        session.add(row)


# A slot given to a worker is claimed (its ledger row becomes ``sending``) right at its time;
# until this long after it, the daily cap counts it as a send on its own.
CLAIM_GRACE_SECONDS = 2.0
# Slots are given out in small batches: those within this many seconds of the first one.
SLOT_HORIZON_SECONDS = 0.5
MAX_SLOTS = 50


@dataclass
class Grant:
    """Send slots for one worker: (monotonic time at which it may claim and send, the same
    time on the database's clock, recorded as the row's ``claimed_at``)."""

    slots: list[tuple[float, datetime]]
    day_full: bool = False  # the daily cap is reached (counted across every worker)


class Throttle:
    """One mailbox's limits, held across every worker process through the database.

    The mailbox's ``campaign_throttles`` row is locked (a plain UPDATE: a row lock on
    PostgreSQL, the write lock on SQLite) while a worker takes a few slots: the per-second
    limit is a GCRA whose next permitted time is stored in the row, the per-minute limit a
    sliding window of the slot times given in the last minute, and the daily cap counts the
    ledger's sent and in-flight rows of the last 24 hours plus the slots just given out.
    A slot a worker does not use is lost, which only slows the mailbox down.
    """

    def __init__(self, db: Database, mailbox_id: int) -> None:
        self.db = db
        self.mailbox_id = mailbox_id
        self.created = False

    def reserve(self, limits: Limits, want: int, max_wait: float) -> Grant:
        """Up to ``want`` slots, none later than ``max_wait`` seconds from now.

        An empty grant without ``day_full``: the next slot is further away than
        ``max_wait`` (come back later)."""
        if not self.created:
            self.db.insert_once(CampaignThrottle(mailbox_id=self.mailbox_id))
            self.created = True
        table = CampaignThrottle.__table__  # type: ignore[attr-defined]
        with self.db.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.mailbox_id == self.mailbox_id)
                .values(next_at=table.c.next_at)
            )
            stored = conn.execute(
                select(table.c.next_at, table.c.granted).where(
                    table.c.mailbox_id == self.mailbox_id
                )
            ).one()
            next_at, granted_json = float(stored[0]), str(stored[1] or "[]")
            now = _db_now(conn)
            mono = time.monotonic()
            used = claimed = 0
            if limits.per_day:
                used, claimed = ledger.in_window(
                    conn, self.mailbox_id, _utc(now - 86400.0), _utc(now - CLAIM_GRACE_SECONDS)
                )
            granted = [float(t) for t in json.loads(granted_json)]
            slots, next_at, granted, day_full = plan(
                limits, now, next_at, granted, used, want, max_wait, claimed_lately=claimed
            )
            if slots:
                conn.execute(
                    update(table)
                    .where(table.c.mailbox_id == self.mailbox_id)
                    .values(next_at=next_at, granted=json.dumps([round(t, 4) for t in granted]))
                )
        return Grant([(mono + (t - now), _utc(t)) for t in slots], day_full)


def plan(
    limits: Limits,
    now: float,
    next_at: float,
    granted: list[float],
    used_today: int,
    want: int,
    max_wait: float,
    *,
    claimed_lately: int = 0,
) -> tuple[list[float], float, list[float], bool]:
    """The slots to give (times on the database's clock) and the row's new state.

    ``used_today``: the ledger's sends of the last 24 hours (in flight included);
    ``claimed_lately``: its rows claimed in the last CLAIM_GRACE_SECONDS, each with the
    time of the slot it used."""
    window = 60.0 if limits.per_minute else CLAIM_GRACE_SECONDS + 1.0
    granted = [t for t in granted if t > now - window]
    day_left = want
    if limits.per_day:
        # Slots of the last moments that no row was claimed with yet are counted on their
        # own (a slot not used at all is counted until CLAIM_GRACE_SECONDS after its time).
        recent = sum(1 for t in granted if t >= now - CLAIM_GRACE_SECONDS)
        pending = max(recent - claimed_lately, 0)
        day_left = limits.per_day - used_today - pending
        if day_left <= 0:
            # Full by the ledger alone: wait for the 24-hour window; full only with the
            # slots just given out: some may go unused, so ask again in a moment.
            return [], next_at, granted, used_today >= limits.per_day
    slots: list[float] = []
    while len(slots) < min(want, day_left, MAX_SLOTS):
        t = max(now, granted[-1] if granted else now)
        if limits.per_second:
            t = max(t, next_at)
        if limits.per_minute and len(granted) >= limits.per_minute:
            t = max(t, granted[-limits.per_minute] + 60.0)
        if t > now + max_wait or (slots and t > slots[0] + SLOT_HORIZON_SECONDS):
            break
        slots.append(t)
        granted.append(t)
        if limits.per_second:
            next_at = t + 1.0 / limits.per_second
    return slots, next_at, [t for t in granted if t > now - window], False


def throttled(limits: Limits) -> bool:
    return bool(limits.per_second or limits.per_minute or limits.per_day)


def _db_now(conn: Connection) -> float:
    """The database's clock (Unix seconds): one clock for every worker, whatever the host."""
    if conn.dialect.name == "postgresql":
        return float(
            conn.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one()
        )
    return time.time()  # SQLite: every worker runs on this machine


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
