"""Team inbox on the root post: assignment (rights checked on both people), the assignee
told once per customer mail, and the status following the mail, the buttons and snoozes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.inbox import triage
from storage.models import Conversation
from tests.support.harness import Harness, make_email
from tests.support.inbox import click, conversation, root_post, shows, thread_texts
from tests.support.threads import CHANNEL, open_thread
from tests.support.wait import wait_until

ROOT_ID = "<root-1@customer.test>"


def customer_writes_again(h: Harness, account, mailbox_id: int, body: str) -> None:
    h.deliver(
        account,
        make_email(
            to=account.address,
            subject="Re: Question about pricing",
            body=body,
            in_reply_to=ROOT_ID,
            references=ROOT_ID,
        ),
    )
    assert h.sync(mailbox_id).posted == 1


def test_assign_to_someone_lists_only_people_who_may_answer_and_checks_the_choice(
    harness: Harness,
) -> None:
    h = harness
    h.client.command("/mail-role", "<@USALES|sales> sales", "UADMIN")
    account, mailbox_id, ts = open_thread(h, user="UADMIN", kind="shared", message_id=ROOT_ID)
    h.ctx.roles.user("UBOB")  # Bob is known to Mailroom, with no role

    click(h, "triage_assign", "USALES", ts)
    view = wait_until(h.slack.last_view, message="the Assign modal")
    options = [o["value"] for o in view["blocks"][0]["element"]["options"]]
    assert "USALES" in options and "UADMIN" in options and "UBOB" not in options

    def submit(user: str, chosen: str) -> dict:
        values = {
            "assignee": {"value": {"type": "static_select", "selected_option": {"value": chosen}}}
        }
        answer = h.client.submit_view("triage_assign", values, user, view=view)
        return answer.json() if answer.content else {}

    # A forged choice of someone without the right is refused, and so is a clicker without it.
    assert "cannot answer from" in submit("USALES", "UBOB")["errors"]["assignee"]
    assert "cannot handle" in submit("UBOB", "UBOB")["errors"]["assignee"]
    assert submit("UADMIN", "USALES") == {}
    shows(h, ts, "Assigned to <@USALES>")
    wait_until(
        lambda: any(
            "<@UADMIN> assigned this conversation to <@USALES>" in t for t in thread_texts(h, ts)
        ),
        message="the assignment noted in the thread",
    )

    # The customer writes again: the assignee is mentioned in the thread, once per mail.
    customer_writes_again(h, account, mailbox_id, "Any news?")
    mention = "<@USALES>, the customer wrote again"
    wait_until(lambda: any(mention in t for t in thread_texts(h, ts)), message="the mention")
    h.sync(mailbox_id)
    assert sum(mention in t for t in thread_texts(h, ts)) == 1
    customer_writes_again(h, account, mailbox_id, "Hello??")
    wait_until(
        lambda: sum(mention in t for t in thread_texts(h, ts)) == 2,
        message="one mention for the second mail",
    )


def test_status_follows_replies_buttons_and_customer_mail(harness: Harness) -> None:
    h = harness
    account, mailbox_id, ts = open_thread(h, user="UALICE", message_id=ROOT_ID)
    h.reply(CHANNEL, ts, "Here is our answer.")
    h.smtp.wait_for_messages(1)
    shows(h, ts, "Waiting")
    assert conversation(h, ts).status == "waiting"

    click(h, "triage_done", "UALICE", ts)
    shows(h, ts, "Done")
    assert any("marked this conversation done" in t for t in thread_texts(h, ts))
    assert "triage_reopen" in json.dumps(root_post(h, ts)["blocks"])

    # A new customer mail reopens a Done thread.
    customer_writes_again(h, account, mailbox_id, "One more question")
    shows(h, ts, "Open")
    assert conversation(h, ts).status == "open"


def test_snooze_reopens_at_its_time_or_when_the_customer_writes(harness: Harness) -> None:
    h = harness
    account, mailbox_id, ts = open_thread(h, user="UALICE", message_id=ROOT_ID)
    click(h, "triage_snooze", "UALICE", ts)
    view = wait_until(h.slack.last_view, message="the Snooze modal")
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    values = {
        "day": {"value": {"type": "datepicker", "selected_date": tomorrow.date().isoformat()}},
        "time": {"value": {"type": "timepicker", "selected_time": "09:00"}},
    }
    assert h.client.submit_view("triage_snooze", values, "UALICE", view=view).content in (b"",)
    shows(h, ts, "Snoozed")
    conv = conversation(h, ts)
    assert conv.status == "snoozed" and h.ctx.scheduler.has(f"wake:{conv.id}")

    # The customer writes: open at once, the wake-up is dropped.
    customer_writes_again(h, account, mailbox_id, "Are you there?")
    shows(h, ts, "Open")
    assert not h.ctx.scheduler.has(f"wake:{conv.id}")

    # Snoozed again, and its time passes while Mailroom is down: start-up wakes it.
    triage.set_status(
        h.ctx,
        conv.id,
        "UALICE",
        triage.ThreadStatus.SNOOZED,
        datetime.now(UTC) + timedelta(hours=1),
    )
    shows(h, ts, "Snoozed")
    with h.ctx.db.session() as session:
        stored = session.get(Conversation, conv.id)
        stored.snoozed_until = datetime.now(UTC) - timedelta(seconds=1)
        session.add(stored)
    triage.resume_snoozes(h.ctx)
    shows(h, ts, "Open")
    assert any("open again" in t for t in thread_texts(h, ts))
