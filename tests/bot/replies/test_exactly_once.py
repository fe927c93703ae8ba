"""Exactly once for replies, in process: a Slack event delivered again (retries, a fresh
event id) sends one email, and chatter outside Mailroom's threads writes nothing.

The sync's side (rate-limit storms, racing syncs) is in tests/bot/sync/; the kill -9
scenarios (a real ``python app.py`` killed mid-sync and mid-send) live in
tests/test_app_process.py.
"""

from __future__ import annotations

from sqlmodel import select

from storage.models import Message, ReplyInbox
from tests.support.harness import Harness, make_email
from tests.support.wait import wait_until

CHANNEL = "C_SALES"


def thread_with_customer_mail(h: Harness) -> tuple[int, str]:
    account = h.new_account()
    mailbox = h.connect(account)
    h.deliver(account, make_email(to=account.address))
    assert h.sync(mailbox.id).posted == 1
    return mailbox.id, h.slack.top_level(CHANNEL)[0]["ts"]


def test_an_event_delivered_three_times_sends_one_email(harness_any_db: Harness) -> None:
    h = harness_any_db
    _, ts = thread_with_customer_mail(h)
    event = {
        "type": "message",
        "channel": CHANNEL,
        "user": "UALICE",
        "text": "Once only.",
        "ts": "1800000000.000200",
        "thread_ts": ts,
        "channel_type": "channel",
    }
    for retry in (None, 1, 2):
        answer = h.client.event(event, event_id="EvSAME0001", retry_num=retry)
        assert answer.status_code == 200
    h.smtp.wait_for_messages(1)
    wait_until(lambda: h.slack.calls_to("reactions.add"), message="sent reaction")
    # The same Slack message under a fresh event id (Slack does that too) is still one email:
    # acknowledged, and recognised at once as a message already stored.
    assert h.client.event(event, event_id="EvOTHER0001").status_code == 200
    assert _inbox_events(h) == ["EvSAME0001"]
    assert len(h.smtp.messages) == 1
    with h.ctx.db.session() as session:
        sent = session.exec(select(Message).where(Message.source_ts == event["ts"])).all()
    assert [m.state for m in sent] == ["sent"]


def _inbox_events(h: Harness) -> list[str | None]:
    with h.ctx.db.session() as session:
        return [row.event_id for row in session.exec(select(ReplyInbox)).all()]


def test_chatter_outside_mailroom_threads_is_acknowledged_without_a_write(
    harness: Harness,
) -> None:
    h = harness
    _, ts = thread_with_customer_mail(h)
    chatter = {
        "type": "message",
        "channel": "C_RANDOM",
        "user": "UALICE",
        "text": "Lunch?",
        "ts": "1800000000.000700",
        "thread_ts": "1800000000.000600",
        "channel_type": "channel",
    }
    assert h.client.event(chatter, event_id="EvCHAT0001").status_code == 200
    assert _inbox_events(h) == []
    # A reply in our thread is stored before the 200 comes back.
    reply = {**chatter, "channel": CHANNEL, "thread_ts": ts, "text": "Hello Carla."}
    assert h.client.event(reply, event_id="EvOURS0001").status_code == 200
    assert _inbox_events(h) == ["EvOURS0001"]
    h.smtp.wait_for_messages(1)
