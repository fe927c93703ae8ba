"""A person's local time, from the time zone Slack knows for them (users.info ``tz``)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.errors import SlackApiError

from bot.context import AppContext
from locales import _
from providers.errors import UserError

log = logging.getLogger(__name__)


def user_timezone(ctx: AppContext, user_id: str) -> ZoneInfo:
    """The person's Slack time zone; UTC when Slack does not say or names an unknown zone."""
    try:
        name = ctx.slack.client.users_info(user=user_id)["user"].get("tz") or "UTC"
    except SlackApiError as exc:
        log.info("users.info for %s failed: %s", user_id, exc.response.get("error"))
        name = "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_to_utc(day: str, clock: str, zone: ZoneInfo) -> datetime:
    """``2026-12-04`` + ``09:30`` in ``zone`` → an aware UTC datetime."""
    try:
        local = datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), zone)
    except ValueError:
        raise UserError(_("Pick both a day and a time.")) from None
    return local.astimezone(UTC)
