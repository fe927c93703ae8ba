"""Held replies: the undo window, Undo (author only, nothing sent), Send later in the
author's time zone, and exactly once whatever the timing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from storage.models import Message
from tests.support.harness import Harness, HarnessFactory
from tests.support.threads import CHANNEL, ephemeral_to, open_thread, outbound_rows
from tests.support.wait import wait_until


def held_notice(h: Harness, ts: str) -> dict:
    return wait_until(
        lambda: next(
            (m for m in h.slack.thread(CHANNEL, ts) if "reply_undo" in json.dumps(m.get("blocks"))),
            None,
        ),
        message="the held reply's notice with Undo",
    )


def the_row(h: Harness, mailbox_id: int) -> Message:
    rows = wait_until(lambda: outbound_rows(h, mailbox_id), message="the reply recorded")
    assert len(rows) == 1
    return rows[0]


def test_a_reply_waits_out_the_window_then_leaves_once(
    harness_with: HarnessFactory, database_url: str
) -> None:
    h = harness_with(database_url=database_url, REPLY_UNDO_SECONDS="3")
    _, mailbox_id, ts = open_thread(h)
    h.reply(CHANNEL, ts, "Held a moment, then sent.")
    notice = held_notice(h, ts)
    row = the_row(h, mailbox_id)
    assert row.state == "pending_send" and row.send_after is not None
    assert h.smtp.messages == []  # still inside the window
    mail = h.smtp.wait_for_messages(1, timeout=15)[0]
    arrived = datetime.now(UTC)
    assert arrived >= row.send_after.replace(tzinfo=UTC)
    assert "Held a moment" in mail.message.get_body(("plain",)).get_content()
    wait_until(
        lambda: "has left" in (h.slack.message(CHANNEL, notice["ts"]) or {}).get("text", ""),
        message="the notice updated once sent",
    )
    # The job, recover() and a stray second call all meet one conditional claim.
    assert h.ctx.replies.send(row.id) is False
    assert h.ctx.replies.send_when_due(row.id) is False
    assert len(h.smtp.messages) == 1


def test_undo_within_the_window_sends_nothing_and_only_the_author_can(
    harness_with: HarnessFactory, database_url: str
) -> None:
    h = harness_with(database_url=database_url, REPLY_UNDO_SECONDS="60")
    _, mailbox_id, ts = open_thread(h)
    h.reply(CHANNEL, ts, "Oops, wrong customer.", user="UALICE")
    notice = held_notice(h, ts)
    undo = notice["blocks"][1]["elements"][0]
    assert undo["action_id"] == "reply_undo"

    h.client.action("reply_undo", undo["value"], "UBOB", channel_id=CHANNEL, message=notice)
    ephemeral_to(h, "UBOB", "Only the person who wrote this reply")
    assert the_row(h, mailbox_id).state == "pending_send"

    h.client.action("reply_undo", undo["value"], "UALICE", channel_id=CHANNEL, message=notice)
    wait_until(lambda: the_row(h, mailbox_id).state == "cancelled", message="the reply cancelled")
    wait_until(
        lambda: "undid" in (h.slack.message(CHANNEL, notice["ts"]) or {}).get("text", ""),
        message="the notice says it was undone",
    )
    assert not h.ctx.scheduler.has(f"reply:{the_row(h, mailbox_id).id}")
    # Even if its time comes (a job left over, a restart), an undone reply never leaves.
    row = the_row(h, mailbox_id)
    with h.ctx.db.session() as session:
        stored = session.get(Message, row.id)
        stored.send_after = datetime.now(UTC) - timedelta(seconds=1)
        session.add(stored)
    assert h.ctx.replies.send_when_due(row.id) is False
    h.ctx.replies.recover()
    assert h.smtp.messages == []
    # A second Undo is told plainly that it is already done.
    h.client.action("reply_undo", undo["value"], "UALICE", channel_id=CHANNEL, message=notice)
    ephemeral_to(h, "UALICE", "already undone")


def test_undo_after_it_left_is_refused(harness_with: HarnessFactory) -> None:
    h = harness_with(REPLY_UNDO_SECONDS="1")
    _, mailbox_id, ts = open_thread(h)
    h.reply(CHANNEL, ts, "Gone already.")
    notice = held_notice(h, ts)
    h.smtp.wait_for_messages(1, timeout=15)
    wait_until(lambda: the_row(h, mailbox_id).state == "sent", message="sent")
    value = notice["blocks"][1]["elements"][0]["value"]
    h.client.action("reply_undo", value, "UALICE", channel_id=CHANNEL, message=notice)
    ephemeral_to(h, "UALICE", "Too late")
    assert len(h.smtp.messages) == 1


def _next_whole_minute(zone: ZoneInfo) -> datetime:
    """The next minute boundary at least 5 s away, in ``zone`` (the time picker's grain)."""
    now = datetime.now(zone) + timedelta(seconds=5)
    return (now + timedelta(minutes=1)).replace(second=0, microsecond=0)


@pytest.mark.slow
def test_send_later_leaves_at_the_chosen_time_in_the_authors_time_zone(
    harness_with: HarnessFactory,
) -> None:
    h = harness_with(REPLY_UNDO_SECONDS="60")
    zone = ZoneInfo("Asia/Kolkata")  # UTC+05:30: a wrong conversion is off by hours
    h.slack.add_user("UALICE", real_name="Alice", email="ualice@example.com", tz=zone.key)
    _, mailbox_id, ts = open_thread(h)
    h.reply(CHANNEL, ts, "Tomorrow morning is fine.")
    notice = held_notice(h, ts)
    later = notice["blocks"][1]["elements"][1]
    assert later["action_id"] == "reply_send_later"
    h.client.action(
        "reply_send_later", later["value"], "UALICE", channel_id=CHANNEL, message=notice
    )
    view = wait_until(h.slack.last_view, message="the Send later modal")
    assert "Asia/Kolkata" in json.dumps(view)

    def submit(user: str, day: str, clock: str) -> dict:
        values = {
            "day": {"value": {"type": "datepicker", "selected_date": day}},
            "time": {"value": {"type": "timepicker", "selected_time": clock}},
        }
        answer = h.client.submit_view("reply_send_later", values, user, view=view)
        assert answer.status_code == 200
        return answer.json() if answer.content else {}

    past = datetime.now(zone) - timedelta(hours=1)
    refused = submit("UALICE", past.date().isoformat(), past.strftime("%H:%M"))
    assert "already passed" in refused["errors"]["time"]
    when = _next_whole_minute(zone)
    # Someone else cannot move Alice's reply.
    refused = submit("UBOB", when.date().isoformat(), when.strftime("%H:%M"))
    assert "Only the person who wrote" in refused["errors"]["time"]
    assert submit("UALICE", when.date().isoformat(), when.strftime("%H:%M")) == {}

    row = the_row(h, mailbox_id)
    assert row.send_after.replace(tzinfo=UTC) == when.astimezone(UTC)
    wait_until(
        lambda: "scheduled" in (h.slack.message(CHANNEL, notice["ts"]) or {}).get("text", ""),
        message="the notice shows the schedule",
    )
    # The original 60 s window no longer applies; the chosen minute does.
    mail = h.smtp.wait_for_messages(1, timeout=90)[0]
    assert datetime.now(UTC) >= when.astimezone(UTC)
    assert "Tomorrow morning" in mail.message.get_body(("plain",)).get_content()
    assert len(h.smtp.messages) == 1


def test_a_held_reply_is_rescheduled_not_sent_by_recover(harness_with: HarnessFactory) -> None:
    """recover() (start-up) honours the window: a reply still inside it is not sent early."""
    h = harness_with(REPLY_UNDO_SECONDS="60")
    _, mailbox_id, ts = open_thread(h)
    h.reply(CHANNEL, ts, "Not yet.")
    held_notice(h, ts)
    row = the_row(h, mailbox_id)
    h.ctx.scheduler.remove(f"reply:{row.id}")
    h.ctx.replies.recover()
    assert h.ctx.scheduler.has(f"reply:{row.id}")
    assert h.smtp.messages == []
    with h.ctx.db.session() as session:
        assert session.exec(select(Message.state).where(Message.id == row.id)).one() == (
            "pending_send"
        )


def test_a_due_held_reply_without_a_job_is_swept_up_once(harness_with: HarnessFactory) -> None:
    """A reply recorded by a process without a scheduler (web-only) has no job anywhere: the
    periodic sweep of a scheduling process sends it once its time has come."""
    h = harness_with(REPLY_UNDO_SECONDS="2")
    _, mailbox_id, ts = open_thread(h)
    h.reply(CHANNEL, ts, "Nobody scheduled me.")
    held_notice(h, ts)
    row = the_row(h, mailbox_id)
    h.ctx.scheduler.remove(f"reply:{row.id}")
    assert h.ctx.scheduler.has("held-replies")
    mail = h.smtp.wait_for_messages(1, timeout=20)[0]
    assert datetime.now(UTC) >= row.send_after.replace(tzinfo=UTC)
    assert "Nobody scheduled me." in mail.message.get_body(("plain",)).get_content()
    wait_until(lambda: the_row(h, mailbox_id).state == "sent", message="marked sent")
    assert h.ctx.replies.send_due() == 0
    assert len(h.smtp.messages) == 1


def test_a_held_reply_of_a_removed_mailbox_never_leaves_and_says_why(
    harness_with: HarnessFactory,
) -> None:
    h = harness_with(REPLY_UNDO_SECONDS="2")
    account, mailbox_id, ts = open_thread(h)
    h.reply(CHANNEL, ts, "Held, then the mailbox goes.")
    held_notice(h, ts)
    mailbox = h.ctx.mailboxes.get(mailbox_id)
    assert mailbox is not None
    h.ctx.lifecycle.remove("UALICE", mailbox)
    wait_until(
        lambda: the_row(h, mailbox_id).state == "failed",
        timeout=15,
        message="the held reply failed",
    )
    assert "was removed from Mailroom" in (the_row(h, mailbox_id).error or "")
    wait_until(
        lambda: any(
            f"{account.address} was removed from Mailroom" in m.get("text", "")
            for m in h.slack.thread(CHANNEL, ts)
        ),
        message="the failure said in the thread",
    )
    assert h.smtp.messages == []
