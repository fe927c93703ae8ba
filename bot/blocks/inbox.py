"""Team inbox pieces: the status and assignee shown on a thread's root post, its buttons,
the Assign and Snooze modals, and the notes posted in the thread when they change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.blocks.common import Block, actions, button, context, input_block, modal, option
from storage.models import ThreadStatus

# Blocks of the root post that belong to the team inbox: replaced as a whole on each change.
TRIAGE_PREFIX = "triage_"
STATUS_LABELS = {
    ThreadStatus.OPEN: ":large_orange_circle: *Open* — the customer is waiting for an answer",
    ThreadStatus.WAITING: ":large_blue_circle: *Waiting* — answered; waiting for the customer",
    ThreadStatus.DONE: ":white_check_mark: *Done*",
    ThreadStatus.SNOOZED: ":zzz: *Snoozed*",
}


def slack_time(when: datetime) -> str:
    """A time each reader sees in their own time zone."""
    stamp = int(when.replace(tzinfo=when.tzinfo or UTC).timestamp())
    return f"<!date^{stamp}^{{date_short_pretty}} at {{time}}|{when:%Y-%m-%d %H:%M} UTC>"


def triage_blocks(
    status: str, assignee_id: str | None, snoozed_until: datetime | None = None
) -> list[Block]:
    label = STATUS_LABELS.get(ThreadStatus(status), status)
    if status == ThreadStatus.SNOOZED and snoozed_until is not None:
        label += f" until {slack_time(snoozed_until)}"
    who = f"Assigned to <@{assignee_id}>" if assignee_id else "Unassigned"
    buttons = [button("Assign to me", "triage_assign_me"), button("Assign…", "triage_assign")]
    if status in (ThreadStatus.DONE, ThreadStatus.SNOOZED):
        buttons.append(button("Reopen", "triage_reopen"))
    else:
        buttons.append(button("Done", "triage_done", style="primary"))
    buttons.append(button("Snooze until…", "triage_snooze"))
    return [
        {**context(f"{label} · {who}"), "block_id": f"{TRIAGE_PREFIX}state"},
        actions(*buttons, block_id=f"{TRIAGE_PREFIX}actions"),
    ]


def without_triage(blocks: list[Block]) -> list[Block]:
    return [b for b in blocks if not str(b.get("block_id", "")).startswith(TRIAGE_PREFIX)]


def assign_modal(conversation_id: int, people: list[tuple[str, str]]) -> dict[str, Any]:
    """Pick who handles the thread, among the people who may answer from its mailbox."""
    element = {
        "type": "static_select",
        "action_id": "value",
        "options": [option(name, user_id) for user_id, name in people[:100]],
    }
    return modal(
        "Assign",
        [input_block("assignee", "Who handles this customer?", element)],
        callback_id="triage_assign",
        submit="Assign",
        private_metadata=str(conversation_id),
    )


def when_modal(
    callback_id: str, title: str, reference: str, tz_name: str, *, submit: str
) -> dict[str, Any]:
    """A day and a time in the person's own Slack time zone (Snooze, Send later)."""
    today = datetime.now(UTC).date().isoformat()
    return modal(
        title,
        [
            input_block(
                "day", "Day", {"type": "datepicker", "action_id": "value", "initial_date": today}
            ),
            input_block(
                "time",
                "Time",
                {"type": "timepicker", "action_id": "value", "initial_time": "09:00"},
                hint=f"In your time zone ({tz_name}).",
            ),
        ],
        callback_id=callback_id,
        submit=submit,
        private_metadata=reference,
    )


def assigned_note(actor: str, assignee: str) -> str:
    if actor == assignee:
        return f":raising_hand: <@{actor}> took this conversation."
    return f":point_right: <@{actor}> assigned this conversation to <@{assignee}>."


def status_note(actor: str | None, status: str, snoozed_until: datetime | None = None) -> str:
    who = f"<@{actor}>" if actor else "Mailroom"
    if status == ThreadStatus.DONE:
        return f":white_check_mark: {who} marked this conversation done."
    if status == ThreadStatus.SNOOZED and snoozed_until is not None:
        return f":zzz: {who} snoozed this conversation until {slack_time(snoozed_until)}."
    if status == ThreadStatus.OPEN:
        return f":large_orange_circle: {who} reopened this conversation."
    return f"{who} set this conversation to {status}."


def new_mail_mention(assignee: str) -> str:
    return f":incoming_envelope: <@{assignee}>, the customer wrote again in your conversation."
