"""bot.inbox.timezones: a person's time zone from Slack, and their local day and time in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.inbox.timezones import local_to_utc, user_timezone
from providers.errors import UserError
from tests.support.harness import Harness


def test_the_zone_slack_knows_for_a_person_or_utc(harness: Harness) -> None:
    harness.slack.add_user("UMADRID", tz="Europe/Madrid")
    harness.slack.add_user("UMARS", tz="Mars/Olympus_Mons")
    assert user_timezone(harness.ctx, "UMADRID") == ZoneInfo("Europe/Madrid")
    assert user_timezone(harness.ctx, "UMARS") == ZoneInfo("UTC")  # a zone nobody knows
    assert user_timezone(harness.ctx, "UNOBODY") == ZoneInfo("UTC")  # users.info refused


def test_a_local_day_and_time_become_utc_across_daylight_saving() -> None:
    madrid = ZoneInfo("Europe/Madrid")
    assert local_to_utc("2026-01-15", "09:30", madrid) == datetime(2026, 1, 15, 8, 30, tzinfo=UTC)
    assert local_to_utc("2026-07-15", "09:30", madrid) == datetime(2026, 7, 15, 7, 30, tzinfo=UTC)
    assert local_to_utc("2026-07-15", "09:30", madrid).tzinfo == UTC


@pytest.mark.parametrize(("day", "clock"), [("", "09:00"), ("2026-12-04", ""), ("soon", "9")])
def test_a_missing_day_or_time_is_the_persons_to_fix(day: str, clock: str) -> None:
    with pytest.raises(UserError) as caught:
        local_to_utc(day, clock, ZoneInfo("UTC"))
    assert caught.value.message == "Pick both a day and a time."
