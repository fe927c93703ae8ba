"""Reminders: a customer mail still unanswered after N working hours reminds the thread's
assignee (in the thread), or the channel when nobody has it - once per unanswered mail.

Working hours are counted in the mailbox's time zone on its working days only, so a mail
that arrives on Friday evening is not "late" on Saturday morning. The setting is per
mailbox (``/mail-inbox reminder``); the check runs every INBOX_REMINDER_CHECK_SECONDS, and
the Notification key (thread + first unanswered mail) makes it once across runs, restarts
and processes.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.errors import SlackApiError
from sqlmodel import col, select

from bot.context import AppContext
from locales import _, format_list, ngettext, weekday_name
from providers.errors import UserError
from storage.models import (
    Conversation,
    InboxSetting,
    Mailbox,
    Message,
    Notification,
    ThreadStatus,
    utcnow,
)

log = logging.getLogger(__name__)

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_DAYS_COUNTED = 400  # bounds the walk over days for a very old unanswered mail
UNSENT = {"pending_send", "sending", "failed", "cancelled"}


def working_seconds(start: datetime, end: datetime, zone: ZoneInfo, days: set[int]) -> float:
    """Seconds between ``start`` and ``end`` that fall on working days in ``zone``."""
    if end <= start or not days:
        return 0.0
    total = 0.0
    cursor = start.astimezone(zone)
    stop = end.astimezone(zone)
    for _day in range(MAX_DAYS_COUNTED):
        if cursor >= stop:
            break
        next_midnight = datetime.combine(
            cursor.date() + timedelta(days=1), datetime.min.time(), zone
        )
        segment_end = min(next_midnight, stop)
        if cursor.weekday() in days:
            total += (segment_end - cursor).total_seconds()
        cursor = segment_end
    return total


def parse_days(text: str) -> set[int]:
    """``mon-fri``, ``mon,wed,fri`` or ``sun-thu`` → weekday numbers (Monday = 0)."""
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        if not part:
            continue
        first, _dash, last = part.partition("-")
        if first[:3] not in DAY_NAMES or (last and last[:3] not in DAY_NAMES):
            raise UserError(
                _(
                    "I do not know the day {day}. Use day names like `mon-fri` or `sun,mon,tue`."
                ).format(day=repr(part))
            )
        a = DAY_NAMES.index(first[:3])
        b = DAY_NAMES.index(last[:3]) if last else a
        n = a
        while True:
            days.add(n)
            if n == b:
                break
            n = (n + 1) % 7
    return days


def days_text(days: set[int]) -> str:
    return format_list([weekday_name(d) for d in sorted(days)]) if days else _("none")


def save_reminder(
    ctx: AppContext, mailbox: Mailbox, user_id: str, hours: float, tz: str, days: set[int]
) -> InboxSetting:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(
            _("I do not know the time zone {tz}. Use a name like `Europe/Paris` or `UTC`.").format(
                tz=repr(tz)
            )
        ) from None
    with ctx.db.session() as session:
        setting = session.exec(
            select(InboxSetting).where(InboxSetting.mailbox_id == mailbox.id)
        ).first() or InboxSetting(mailbox_id=mailbox.id)  # type: ignore[arg-type]
        setting.reminder_hours = hours
        setting.timezone = tz
        setting.working_days = ",".join(str(d) for d in sorted(days))
        setting.updated_by = user_id
        setting.updated_at = utcnow()
        session.add(setting)
        session.flush()
        session.refresh(setting)
        session.expunge(setting)
    return setting


def check_reminders(ctx: AppContext) -> int:
    """The periodic job: remind for every thread past its mailbox's limit; returns how many."""
    with ctx.db.session() as session:
        settings = session.exec(select(InboxSetting).where(InboxSetting.reminder_hours > 0)).all()
    sent = 0
    for setting in settings:
        mailbox = ctx.mailboxes.get(setting.mailbox_id)
        if mailbox is None or not mailbox.active:
            continue
        try:
            sent += _check_mailbox(ctx, mailbox, setting)
        except Exception:
            log.exception("reminders for mailbox %s failed", mailbox.id)
    return sent


def _check_mailbox(ctx: AppContext, mailbox: Mailbox, setting: InboxSetting) -> int:
    zone = ZoneInfo(setting.timezone)
    days = {int(d) for d in setting.working_days.split(",") if d.strip().isdigit()}
    limit = setting.reminder_hours * 3600
    now = utcnow()
    with ctx.db.session() as session:
        conversations = session.exec(
            select(Conversation).where(
                Conversation.mailbox_id == mailbox.id,
                Conversation.status == ThreadStatus.OPEN,
                col(Conversation.thread_ts).is_not(None),
            )
        ).all()
    sent = 0
    for conversation in conversations:
        first = _first_unanswered(ctx, conversation.id)  # type: ignore[arg-type]
        if first is None:
            continue
        since = (
            first.created_at
            if first.created_at.tzinfo
            else first.created_at.replace(tzinfo=now.tzinfo)
        )
        if working_seconds(since, now, zone, days) < limit:
            continue
        if _remind_once(ctx, conversation, first, setting.reminder_hours):
            sent += 1
    return sent


def _first_unanswered(ctx: AppContext, conversation_id: int) -> Message | None:
    """The customer's first mail after our last reply, if any."""
    with ctx.db.session() as session:
        rows = session.exec(
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .order_by(col(Message.id))
        ).all()
    first = None
    for row in rows:
        if row.direction == "out" and row.state not in UNSENT:
            first = None
        elif row.direction == "in" and first is None:
            first = row
    return first


def _remind_once(ctx: AppContext, conversation: Conversation, first: Message, hours: float) -> bool:
    key = f"reminder:{conversation.id}:{first.id}"
    recipient = conversation.assignee_id or conversation.channel_id
    if not ctx.db.insert_once(Notification(key=key, recipient=recipient)):
        return False
    # The plural form follows the number shown ("1.5 working hours": the plural).
    count = int(hours) if float(hours).is_integer() else 2
    try:
        if conversation.assignee_id:
            ctx.slack.post(
                conversation.channel_id,
                ":alarm_clock: "
                + ngettext(
                    "<@{assignee}>, this customer has been waiting for an answer for more than "
                    "{hours} working hour.",
                    "<@{assignee}>, this customer has been waiting for an answer for more than "
                    "{hours} working hours.",
                    count,
                ).format(assignee=conversation.assignee_id, hours=f"{hours:g}"),
                thread_ts=conversation.thread_ts,
            )
        else:
            # Nobody has it: said in the thread and shown in the channel (broadcast).
            ctx.slack.client.chat_postMessage(
                channel=conversation.channel_id,
                text=":alarm_clock: "
                + ngettext(
                    "A customer has been waiting for more than {hours} working hour and nobody "
                    "has this conversation yet: open the thread and press *Assign to me*.",
                    "A customer has been waiting for more than {hours} working hours and nobody "
                    "has this conversation yet: open the thread and press *Assign to me*.",
                    count,
                ).format(hours=f"{hours:g}"),
                thread_ts=conversation.thread_ts,
                reply_broadcast=True,
            )
    except SlackApiError as exc:
        log.warning("reminder for %s failed: %s", conversation.id, exc.response.get("error"))
        with ctx.db.session() as session:
            row = session.exec(select(Notification).where(Notification.key == key)).first()
            if row is not None:
                session.delete(row)  # not told: try again on the next check
        return False
    return True
