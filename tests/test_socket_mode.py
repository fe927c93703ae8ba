"""Socket Mode, for real: ``python app.py`` with SLACK_APP_TOKEN set takes a websocket URL from
apps.connections.open and receives a command, an interaction and a message event over it,
acknowledging each envelope once; it reconnects when the socket drops and handles nothing
twice; and a reply acknowledged over the socket survives a kill -9 right after the ack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fake_slack import FakeSlack
from tests.support.harness import (
    AppProcess,
    MailAccount,
    app_env,
    connect_values,
    launch,
    make_email,
    new_mail_account,
)
from tests.support.mail_servers import DovecotServer, SmtpServer
from tests.support.slack_requests import (
    block_action,
    event_callback,
    slash_command,
    view_submission,
)
from tests.support.socket_mode import FakeSocketMode, as_payload, socket_mode  # noqa: F401
from tests.support.wait import wait_until

CHANNEL = "C_SALES"
APP_TOKEN = "xapp-1-A_MAILROOM-1-socketmodetest"

pytestmark = pytest.mark.slow


def request(socket: FakeSocketMode, kind: str, built: tuple[bytes, str], **kw: Any) -> dict:
    """Send one request over the socket; return the app's ack of it."""
    envelope_id = socket.send(kind, as_payload(*built), **kw)
    return socket.wait_for_ack(envelope_id, timeout=15)


def thread_reply(thread_ts: str, ts: str, text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": CHANNEL,
        "user": "UALICE",
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "channel_type": "channel",
    }


def sent_reactions(slack: FakeSlack, ts: str) -> list:
    return [
        c
        for c in slack.calls_to("reactions.add")
        if c.params.get("timestamp") == ts and c.params.get("name") == "white_check_mark"
    ]


def posts_about(slack: FakeSlack, words: str) -> list[dict]:
    return [m for m in slack.messages(CHANNEL) if words in json.dumps(m.get("blocks"))]


def start_connected(
    slack: FakeSlack,
    socket: FakeSocketMode,
    dovecot: DovecotServer,
    smtp: SmtpServer,
    tmp_path: Path,
    processes: list[AppProcess],
    **extra_env: str,
) -> tuple[dict[str, str], AppProcess, MailAccount]:
    """The app in Socket Mode, with a mailbox connected through the modal sent over the socket."""
    env = app_env(
        slack,
        f"sqlite:///{tmp_path / 'mailroom.db'}",
        tmp_path / "data",
        SLACK_APP_TOKEN=APP_TOKEN,
        SYNC_INTERVAL_SECONDS="1",
        **extra_env,
    )
    app = launch(processes, env, tmp_path)
    socket.wait_connected(1)
    account = new_mail_account(dovecot, smtp)
    submission = view_submission(
        "mail_connect",
        connect_values(account, dovecot, smtp),
        "UALICE",
        private_metadata='{"mailbox_id": null}',
    )
    ack = request(socket, "interactive", submission)
    # The modal's answer travels back in the ack, as Slack expects under Socket Mode.
    assert ack["payload"]["response_action"] == "update", ack
    wait_until(
        lambda: httpx.get(app.url + "/healthz", timeout=5).json()["mailboxes"].get("ok") == 1,
        timeout=20,
        message="the mailbox's first sync",
    )
    return env, app, account


def test_command_interaction_and_event_round_trip_and_survive_a_dropped_socket(
    slack_fake: FakeSlack,
    socket_mode: FakeSocketMode,  # noqa: F811
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    processes: list[AppProcess],
) -> None:
    socket = socket_mode
    _, app, account = start_connected(slack_fake, socket, dovecot, smtp_server, tmp_path, processes)
    assert [c.headers["authorization"] for c in slack_fake.calls_to("apps.connections.open")] == [
        f"Bearer {APP_TOKEN}"
    ]

    # A slash command: acknowledged, answered with the person's mailboxes and their buttons.
    request(socket, "slash_commands", slash_command("/mail-status", "", "UALICE", CHANNEL))
    status = wait_until(lambda: slack_fake.ephemerals("UALICE"), message="the status answer")[0]
    buttons = {
        e["action_id"]: e["value"]
        for b in status["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"  # (the language menu sits beside them)
    }
    assert account.address in json.dumps(status["blocks"])

    # An interaction: the status message's Sync now button brings new mail in.
    dovecot.append(account.address, make_email(to=account.address, subject="Over the socket"))
    click = block_action(
        "mailbox_sync_now", buttons["mailbox_sync_now"], "UALICE", channel_id=CHANNEL
    )
    request(socket, "interactive", click)
    wait_until(
        lambda: [e for e in slack_fake.ephemerals("UALICE") if "Syncing" in e["text"]],
        message="the Sync now answer",
    )
    root = wait_until(
        lambda: posts_about(slack_fake, "Over the socket"), timeout=20, message="the mail"
    )[0]
    wait_until(lambda: app.knows_thread(CHANNEL, root["ts"]), message="the thread recorded")

    # A message event: the reply in the thread goes out as an email.
    reply = thread_reply(root["ts"], "1800000000.000500", "Answered over the socket.")
    event_body = event_callback(reply, "EvSOCKET0001")
    request(socket, "events_api", event_body)
    smtp_server.wait_for_messages(1, timeout=20)
    wait_until(lambda: sent_reactions(slack_fake, reply["ts"]), timeout=20, message="the ✅")

    # Slack asks for a refresh, then the network drops the socket: both times the app asks
    # for a new URL and reconnects by itself.
    socket.refresh()
    socket.wait_connected(2, timeout=20)
    socket.drop()
    socket.wait_connected(3, timeout=45)
    assert len(slack_fake.calls_to("apps.connections.open")) == 3
    # Slack redelivers the event it may not have seen acknowledged; the app acks it again
    # and sends nothing more. A new command works over the new connection.
    request(socket, "events_api", event_body, retry_attempt=1, retry_reason="timeout")
    request(socket, "slash_commands", slash_command("/mail-status", "", "UALICE", CHANNEL))
    wait_until(
        lambda: len([e for e in slack_fake.ephemerals("UALICE") if e.get("blocks")]) >= 2,
        message="the second status answer",
    )

    # Every envelope was acknowledged exactly once, and each request had its effect once.
    assert all(len(socket.acks_for(envelope_id)) == 1 for envelope_id in socket.sent)
    assert len(smtp_server.messages) == 1
    assert (
        "Answered over the socket."
        in smtp_server.messages[0].message.get_body(("plain",)).get_content()
    )
    assert len(sent_reactions(slack_fake, reply["ts"])) == 1
    assert len(posts_about(slack_fake, "Over the socket")) == 1
    assert len([e for e in slack_fake.ephemerals("UALICE") if "Syncing" in e["text"]]) == 1
    assert len([e for e in slack_fake.ephemerals("UALICE") if e.get("blocks")]) == 2
    assert "Traceback" not in app.log.read_text()


def test_a_reply_acknowledged_over_the_socket_survives_kill_9_right_after_the_ack(
    slack_fake: FakeSlack,
    socket_mode: FakeSocketMode,  # noqa: F811
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    processes: list[AppProcess],
) -> None:
    socket = socket_mode
    env, app, account = start_connected(
        slack_fake,
        socket,
        dovecot,
        smtp_server,
        tmp_path,
        processes,
        MAILROOM_TEST_PAUSE_AT="after_ack",
    )
    dovecot.append(account.address, make_email(to=account.address, subject="Socket kill"))
    root = wait_until(
        lambda: posts_about(slack_fake, "Socket kill"), timeout=20, message="the mail"
    )[0]
    wait_until(lambda: app.knows_thread(CHANNEL, root["ts"]), message="the thread recorded")
    reply = thread_reply(root["ts"], "1800000000.000600", "Stored before the ack.")
    event_body = event_callback(reply, "EvSOCKET0002")
    request(socket, "events_api", event_body)
    wait_until(
        lambda: "test pause at after_ack" in app.log.read_text(),
        timeout=20,
        message="the app held right after the ack",
    )
    app.kill()
    assert smtp_server.messages == []

    restart_env = {k: v for k, v in env.items() if k != "MAILROOM_TEST_PAUSE_AT"}
    launch(processes, restart_env, tmp_path)
    socket.wait_connected(2, timeout=20)
    smtp_server.wait_for_messages(1, timeout=30)
    wait_until(lambda: sent_reactions(slack_fake, reply["ts"]), timeout=20, message="the ✅")
    # Slack's redelivery after the restart is acknowledged and recognised.
    request(socket, "events_api", event_body, retry_attempt=1, retry_reason="timeout")
    wait_until(
        lambda: dovecot.message_count(account.address, "Sent") == 1,
        timeout=20,
        message="the reply's copy in Sent",
    )
    assert len(smtp_server.messages) == 1
    assert len(sent_reactions(slack_fake, reply["ts"])) == 1


def test_socket_mode_connects_once_slack_answers_after_a_failed_start(
    slack_fake: FakeSlack,
    socket_mode: FakeSocketMode,  # noqa: F811
    tmp_path: Path,
    processes: list[AppProcess],
) -> None:
    """Slack cannot hand out a URL when the app starts: the app keeps trying, then connects."""
    socket = socket_mode
    slack_fake.socket_mode = None  # apps.connections.open fails for now
    env = app_env(
        slack_fake,
        f"sqlite:///{tmp_path / 'mailroom.db'}",
        tmp_path / "data",
        SLACK_APP_TOKEN=APP_TOKEN,
    )
    app = launch(processes, env, tmp_path)
    wait_until(
        lambda: len(slack_fake.calls_to("apps.connections.open")) >= 2,
        timeout=20,
        message="a second attempt after the first failed",
    )
    assert not socket.connections
    slack_fake.socket_mode = socket
    socket.wait_connected(1, timeout=30)
    request(socket, "slash_commands", slash_command("/mail-status", "", "UALICE", CHANNEL))
    wait_until(lambda: slack_fake.ephemerals("UALICE"), message="the status answer")
    assert "Socket Mode could not connect" in app.log.read_text()
