"""Reminders after N working hours: once per unanswered mail, to the assignee or the
channel, never for an answered thread; working days counted in the mailbox's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.inbox.reminders import check_reminders, parse_days, working_seconds
from tests.support.harness import Harness, HarnessFactory
from tests.support.inbox import click, shows
from tests.support.threads import CHANNEL, ephemeral_to, open_thread, outbound_rows
from tests.support.wait import wait_until


def reminders(h: Harness, ts: str) -> list[dict]:
    return [m for m in h.slack.thread(CHANNEL, ts) if ":alarm_clock:" in m.get("text", "")]


def test_working_hours_skip_the_weekend_in_the_mailbox_time_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    friday_evening = datetime(2026, 12, 4, 22, 0, tzinfo=paris)  # a Friday
    monday_morning = datetime(2026, 12, 7, 2, 0, tzinfo=paris)
    weekdays = parse_days("mon-fri")
    assert weekdays == {0, 1, 2, 3, 4}
    # Two hours on Friday, two on Monday: the weekend does not count.
    assert working_seconds(friday_evening, monday_morning, paris, weekdays) == 4 * 3600
    assert working_seconds(friday_evening, monday_morning, paris, parse_days("mon-sun")) == (
        52 * 3600
    )
    assert parse_days("fri-mon") == {4, 5, 6, 0}
    # Friday 22:00 in Paris is Friday 21:00 UTC; in UTC terms the same hours are counted.
    utc_start = friday_evening.astimezone(UTC)
    assert working_seconds(utc_start, monday_morning.astimezone(UTC), paris, weekdays) == 4 * 3600


def test_unanswered_mail_reminds_once_and_an_answered_one_never(
    harness_with: HarnessFactory,
) -> None:
    h = harness_with(INBOX_REMINDER_CHECK_SECONDS="1")
    account, _, ts = open_thread(h, user="UALICE")
    # Only the owner (or an admin) sets a mailbox's reminder.
    h.client.command("/mail-inbox", f"reminder {account.address} 0.0005 UTC mon-sun", "UBOB")
    ephemeral_to(h, "UBOB", "You do not manage")
    h.client.command("/mail-inbox", f"reminder {account.address} 0.0005 UTC mon-sun", "UALICE")
    ephemeral_to(h, "UALICE", "working hours reminds")

    # Unassigned: the channel is reminded (broadcast from the thread), once.
    first = wait_until(lambda: reminders(h, ts), timeout=20, message="the reminder")
    assert "nobody has this conversation" in first[0]["text"]
    assert first[0].get("subtype") == "thread_broadcast" or any(
        c.params.get("reply_broadcast") for c in h.slack.calls_to("chat.postMessage")
    )
    # Later checks (the job runs every second) say nothing more for the same mail.
    assert check_reminders(h.ctx) == 0
    assert len(reminders(h, ts)) == 1


def test_an_answered_thread_is_never_reminded(harness_with: HarnessFactory) -> None:
    h = harness_with(INBOX_REMINDER_CHECK_SECONDS="3600")
    account, mailbox_id, ts = open_thread(h, user="UALICE")
    h.reply(CHANNEL, ts, "Answered at once.")
    h.smtp.wait_for_messages(1)
    wait_until(lambda: outbound_rows(h, mailbox_id)[0].state == "sent", message="sent")
    h.client.command("/mail-inbox", f"reminder {account.address} 0.0001 UTC mon-sun", "UALICE")
    ephemeral_to(h, "UALICE", "working hours reminds")
    assert check_reminders(h.ctx) == 0
    assert reminders(h, ts) == []


def test_assigned_thread_reminds_its_assignee(harness_with: HarnessFactory) -> None:
    h = harness_with(INBOX_REMINDER_CHECK_SECONDS="1")
    account, _, ts = open_thread(h, user="UALICE")
    click(h, "triage_assign_me", "UALICE", ts)
    shows(h, ts, "<@UALICE>")
    h.client.command("/mail-inbox", f"reminder {account.address} 0.0005 UTC mon-sun", "UALICE")
    reminder = wait_until(lambda: reminders(h, ts), timeout=20, message="the reminder")[0]
    assert reminder["text"].startswith(":alarm_clock: <@UALICE>")
