"""Telling a person something once (bot.notify): one message per key however many callers
reach it, on SQLite and PostgreSQL; a post that failed leaves the key free for a retry."""

from __future__ import annotations

import threading

import pytest
from slack_sdk.errors import SlackApiError
from sqlmodel import select

from bot.notify import Notifier
from bot.slack_client import Slack, make_web_client
from storage.db import Database
from storage.models import Notification
from tests.support.fake_slack import FakeSlack


@pytest.fixture
def notifier(database_url: str, slack_fake: FakeSlack) -> Notifier:
    db = Database(database_url)
    db.migrate()
    return Notifier(db, Slack(make_web_client("xoxb-test", slack_fake.base_url, max_retries=0)))


def test_a_key_is_sent_once_to_a_person_or_a_channel(
    notifier: Notifier, slack_fake: FakeSlack
) -> None:
    assert not notifier.was_sent("sync-failing:1")
    assert notifier.once("sync-failing:1", "UALICE", "Your mailbox stopped syncing.")
    assert not notifier.once("sync-failing:1", "UALICE", "Your mailbox stopped syncing.")
    assert notifier.was_sent("sync-failing:1")
    assert notifier.once("consent:T1", "C_ADMINS", "Approval needed.")
    assert [m["text"] for m in slack_fake.messages("DUALICE")] == ["Your mailbox stopped syncing."]
    assert [m["text"] for m in slack_fake.messages("C_ADMINS")] == ["Approval needed."]
    with notifier.db.session() as session:
        rows = session.exec(select(Notification)).all()
    assert {row.key for row in rows} == {"sync-failing:1", "consent:T1"}
    assert all(row.sent_at is not None for row in rows)


def test_callers_racing_on_one_key_send_one_message(
    notifier: Notifier, slack_fake: FakeSlack
) -> None:
    start = threading.Barrier(4)
    results: list[bool] = []

    def call() -> None:
        start.wait(10)
        results.append(notifier.once("token-revoked:7", "UBOB", "Sign in again."))

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False, False, False, True]
    assert len(slack_fake.messages("DUBOB")) == 1


def test_a_failed_post_frees_the_key_for_the_next_attempt(
    notifier: Notifier, slack_fake: FakeSlack
) -> None:
    slack_fake.reject("chat.postMessage", lambda params: True, error="channel_not_found")
    with pytest.raises(SlackApiError):
        notifier.once("sync-failing:2", "C_GONE", "Stopped.")
    assert not notifier.was_sent("sync-failing:2")
    slack_fake.stop_rejecting()
    assert notifier.once("sync-failing:2", "C_GONE", "Stopped.")
    assert [m["text"] for m in slack_fake.messages("C_GONE")] == ["Stopped."]
