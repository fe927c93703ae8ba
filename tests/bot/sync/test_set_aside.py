"""Mail set aside (bot/sync/set_aside.py): one mail that cannot be recorded or posted never
holds up the mail after it: it is tried again on the next syncs, then set aside with a
notice and a Retry button."""

from __future__ import annotations

import json
from typing import Any

from bot.formatting.inbound import InboundEmail
from storage.models import Mailbox
from tests.bot.sync.helpers import CHANNEL, count_posts_with, last_uid, row_with_subject, rows
from tests.support.harness import Harness, HarnessFactory, make_email
from tests.support.wait import wait_until


def is_email_post_about(subject: str) -> Any:
    def matches(params: dict[str, Any]) -> bool:
        metadata = params.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        is_email = (metadata or {}).get("event_type") == "mailroom_email"
        return is_email and subject in json.dumps([params.get("text"), params.get("blocks")])

    return matches


def failure_notices(h: Harness) -> list[dict]:
    return [
        m
        for m in h.slack.messages(CHANNEL)
        if any(
            e.get("action_id") == "email_ingest_retry"
            for b in m.get("blocks") or []
            for e in b.get("elements") or []
        )
    ]


def retry_button(notice: dict) -> dict:
    return next(
        e
        for b in notice["blocks"]
        for e in b.get("elements") or []
        if e.get("action_id") == "email_ingest_retry"
    )


def test_a_mail_slack_refuses_is_set_aside_and_later_mail_still_arrives(
    harness: Harness,
) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    # Slack refuses this one mail (blocks and plain text alike), as it may for odd content.
    h.slack.reject("chat.postMessage", is_email_post_about("Poison"), error="invalid_blocks")
    h.deliver(account, make_email(to=account.address, subject="Poison"))
    h.deliver(account, make_email(to=account.address, subject="Healthy one"))
    first = h.sync(mailbox.id)
    assert first.error is None
    assert count_posts_with(h, "Healthy one") == 1
    assert last_uid(h, mailbox.id) == 2
    for n in range(2):
        h.deliver(account, make_email(to=account.address, subject=f"Later {n}"))
        assert h.sync(mailbox.id).error is None
        assert count_posts_with(h, f"Later {n}") == 1
    poison = row_with_subject(h, mailbox.id, "Poison")
    assert (poison.state, poison.failures) == ("ingest_failed", 3)
    assert "invalid_blocks" in (poison.error or "")

    # The channel is told once, with the reason and a Retry button; the owner once by DM.
    [notice] = failure_notices(h)
    assert "could not be shown" in notice["text"] and "invalid_blocks" in notice["text"]
    h.sync(mailbox.id)
    assert len(failure_notices(h)) == 1
    dms = [m for m in h.slack.messages("UALICE") if "could not be shown" in m.get("text", "")]
    assert len(dms) == 1

    # Someone who cannot see the mailbox cannot retry it; its owner can.
    button = retry_button(notice)
    h.client.action("email_ingest_retry", button["value"], "UBOB", channel_id=CHANNEL)
    wait_until(
        lambda: any("Only an admin" in e.get("text", "") for e in h.slack.ephemerals("UBOB")),
        message="the refusal to UBOB",
    )
    assert row_with_subject(h, mailbox.id, "Poison").state == "ingest_failed"
    h.slack.stop_rejecting()
    h.client.action("email_ingest_retry", button["value"], "UALICE", channel_id=CHANNEL)
    wait_until(
        lambda: row_with_subject(h, mailbox.id, "Poison").state == "pending_post",
        message="the mail queued again",
    )
    h.sync(mailbox.id)
    assert count_posts_with(h, "Poison") == 1
    assert row_with_subject(h, mailbox.id, "Poison").state == "posted"


def test_a_notice_slack_refused_is_posted_on_a_later_sync(harness_with: HarnessFactory) -> None:
    h = harness_with(MAIL_MAX_FAILURES="1")
    account = h.new_account()
    mailbox = h.connect(account)
    h.slack.reject("chat.postMessage", is_email_post_about("Poison"), error="invalid_blocks")
    h.slack.reject(
        "chat.postMessage",
        lambda params: "could not be shown" in str(params.get("text")),
        error="internal_error",
    )
    h.deliver(account, make_email(to=account.address, subject="Poison"))
    h.sync(mailbox.id)
    assert row_with_subject(h, mailbox.id, "Poison").state == "ingest_failed"
    assert failure_notices(h) == []
    h.slack.stop_rejecting()
    h.sync(mailbox.id)
    h.sync(mailbox.id)
    assert len(failure_notices(h)) == 1


def test_a_mail_that_fails_to_record_is_retried_by_uid_then_set_aside(
    harness_with: HarnessFactory, database_url: str
) -> None:
    h = harness_with(database_url=database_url)
    account = h.new_account()
    mailbox = h.connect(account)
    broken = {"on": True}

    def failing_filter(box: Mailbox, parsed: InboundEmail, role: str) -> bool:
        # Stands in for any bug that one mail's content triggers while it is recorded.
        if broken["on"] and parsed.subject == "Unrecordable":
            raise ValueError("boom")
        return True

    h.ctx.sync.post_filters.append(failing_filter)
    h.deliver(account, make_email(to=account.address, subject="Unrecordable"))
    h.deliver(account, make_email(to=account.address, subject="Fine 0"))
    assert h.sync(mailbox.id).error is None
    assert count_posts_with(h, "Fine 0") == 1
    placeholder = row_with_subject(h, mailbox.id, "Unrecordable")
    assert (placeholder.state, placeholder.failures, placeholder.uid) == ("record_retry", 1, 1)
    assert last_uid(h, mailbox.id) == 2
    for n in (1, 2):
        h.deliver(account, make_email(to=account.address, subject=f"Fine {n}"))
        assert h.sync(mailbox.id).error is None
        assert count_posts_with(h, f"Fine {n}") == 1
    placeholder = row_with_subject(h, mailbox.id, "Unrecordable")
    assert (placeholder.state, placeholder.failures) == ("ingest_failed", 3)
    [notice] = failure_notices(h)
    assert "ValueError" in notice["text"]

    broken["on"] = False
    h.client.action("email_ingest_retry", retry_button(notice)["value"], "UALICE")
    wait_until(
        lambda: row_with_subject(h, mailbox.id, "Unrecordable").state != "ingest_failed",
        message="the mail queued again",
    )
    h.sync(mailbox.id)
    assert count_posts_with(h, "Unrecordable") == 1
    assert [r.subject for r in rows(h, mailbox.id)].count("Unrecordable") == 1
