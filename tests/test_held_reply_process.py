"""kill -9 while a reply waits out its undo window: sent exactly once after the restart."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.fake_slack import FakeSlack
from tests.support.harness import AppProcess, launch, make_email, query_scalar
from tests.support.mail_servers import DovecotServer, SmtpServer
from tests.support.wait import wait_until
from tests.test_app_process import (
    CHANNEL,
    posts_about,
    sent_reactions,
    start_with_mailbox,
)


def send_after(database_url: str, reply_ts: str) -> datetime | None:
    value = query_scalar(
        database_url, "SELECT send_after FROM messages WHERE source_ts = :ts", ts=reply_ts
    )
    if value is None:
        return None
    stamp = datetime.fromisoformat(str(value))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


@pytest.mark.slow
def test_kill_9_inside_the_undo_window_sends_once_after_restart(
    slack_fake: FakeSlack,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    processes: list[AppProcess],
) -> None:
    env, app, account = start_with_mailbox(
        slack_fake, dovecot, smtp_server, tmp_path, processes, REPLY_UNDO_SECONDS="4"
    )
    dovecot.append(account.address, make_email(to=account.address, subject="Hold me"))
    root = wait_until(
        lambda: posts_about(slack_fake, "Hold me"), timeout=20, message="the customer mail"
    )[0]
    wait_until(lambda: app.knows_thread(CHANNEL, root["ts"]), message="the thread recorded")
    reply_ts = "1800000000.000500"
    event = {
        "type": "message",
        "channel": CHANNEL,
        "user": "UALICE",
        "text": "Exactly once, window or not.",
        "ts": reply_ts,
        "thread_ts": root["ts"],
        "channel_type": "channel",
    }
    assert app.client().event(event, event_id="EvHOLD0001").status_code == 200
    wait_until(
        lambda: any(
            "reply_undo" in json.dumps(m.get("blocks"))
            for m in slack_fake.thread(CHANNEL, root["ts"])
        ),
        timeout=20,
        message="the undo notice",
    )
    app.kill()  # inside the window: nothing has left
    assert smtp_server.messages == []
    due = send_after(env["DATABASE_URL"], reply_ts)
    assert due is not None
    # Mailroom stays down until the window has passed.
    wait_until(lambda: datetime.now(UTC) > due, timeout=20, message="the window to pass")

    restarted = launch(processes, env, tmp_path)
    smtp_server.wait_for_messages(1, timeout=30)
    wait_until(lambda: sent_reactions(slack_fake, reply_ts), timeout=20, message="the ✅")
    wait_until(
        lambda: dovecot.message_count(account.address, "Sent") == 1,
        timeout=20,
        message="the reply's copy in Sent",
    )
    # Slack's retry of the event changes nothing: one email.
    assert restarted.client().event(event, event_id="EvHOLD0001", retry_num=1).status_code == 200
    assert len(smtp_server.messages) == 1
    body = smtp_server.messages[0].message.get_body(("plain",)).get_content()
    assert "Exactly once, window or not." in body


@pytest.mark.slow
def test_restart_inside_the_window_still_waits_for_it(
    slack_fake: FakeSlack,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    processes: list[AppProcess],
) -> None:
    env, app, account = start_with_mailbox(
        slack_fake, dovecot, smtp_server, tmp_path, processes, REPLY_UNDO_SECONDS="25"
    )
    dovecot.append(account.address, make_email(to=account.address, subject="Wait for me"))
    root = wait_until(
        lambda: posts_about(slack_fake, "Wait for me"), timeout=20, message="the customer mail"
    )[0]
    wait_until(lambda: app.knows_thread(CHANNEL, root["ts"]), message="the thread recorded")
    reply_ts = "1800000000.000600"
    event = {
        "type": "message",
        "channel": CHANNEL,
        "user": "UALICE",
        "text": "Not before my window ends.",
        "ts": reply_ts,
        "thread_ts": root["ts"],
        "channel_type": "channel",
    }
    assert app.client().event(event, event_id="EvHOLD0002").status_code == 200
    wait_until(
        lambda: send_after(env["DATABASE_URL"], reply_ts), timeout=20, message="reply recorded"
    )
    app.kill()
    due = send_after(env["DATABASE_URL"], reply_ts)
    assert due is not None
    launch(processes, env, tmp_path)
    smtp_server.wait_for_messages(1, timeout=60)
    assert datetime.now(UTC) >= due  # not sent early by the restart
    assert len(smtp_server.messages) == 1
