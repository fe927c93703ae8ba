"""kill -9 right after a new email's modal was acknowledged: the restarted process sends the
mail, with its file, exactly once."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from storage.models import MessageState
from tests.support.fake_slack import FakeSlack
from tests.support.harness import AppProcess, launch, query_scalar
from tests.support.mail_servers import DovecotServer, SmtpServer
from tests.support.slack_requests import (
    file_input,
    multi_external_select,
    plain_input,
    static_select,
)
from tests.support.wait import wait_until
from tests.test_app_process import (
    CHANNEL,
    start_with_mailbox,
)


def open_compose(app: AppProcess, slack: FakeSlack, user: str) -> dict:
    """The compose modal /mail-send opened in the running process."""
    opened = len(slack.calls_to("views.open"))
    assert app.client().command("/mail-send", "", user, channel_id=CHANNEL).status_code == 200
    wait_until(lambda: len(slack.calls_to("views.open")) > opened, timeout=20, message="the modal")
    view = slack.last_view()
    assert view is not None and view["callback_id"] == "mail_compose", view
    return view


def from_choices(view: dict) -> list[str]:
    block = next(b for b in view["blocks"] if b.get("block_id") == "from")
    return [o["value"] for o in block["element"]["options"]]


def message_state(database_url: str, source_ts: str) -> str | None:
    value = query_scalar(
        database_url, "SELECT state FROM messages WHERE source_ts = :ts", ts=source_ts
    )
    return None if value is None else str(value)


@pytest.mark.slow
def test_kill_9_right_after_the_compose_ack_sends_the_mail_and_its_file_once(
    slack_fake: FakeSlack,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    processes: list[AppProcess],
) -> None:
    """Slack has its 200 for the modal (and never asks again) when the process dies: the
    mail and its file were recorded before the ack, nothing after it ran. The restarted
    process sends it, once, with the file."""
    env, app, account = start_with_mailbox(
        slack_fake,
        dovecot,
        smtp_server,
        tmp_path,
        processes,
        MAILROOM_TEST_PAUSE_AT="compose_after_ack",
    )
    data = f"the price list {uuid.uuid4().hex}".encode()
    uploaded = slack_fake.add_file("prices.txt", data, mimetype="text/plain", user="UALICE")
    view = open_compose(app, slack_fake, "UALICE")
    [mailbox_id] = from_choices(view)
    fields = {
        "from": static_select(mailbox_id),
        "subject": plain_input("Our price list"),
        "body": plain_input("Hello Carla,\n\nthe prices are attached."),
    }
    values = {key: {"value": value} for key, value in fields.items()}
    values["to"] = {"mail_contacts": multi_external_select(["carla@customer.example.com"])}
    values["cc"] = {"mail_contacts": multi_external_select([])}
    values["files"] = {"files": file_input([uploaded])}
    answer = app.client().submit_view("mail_compose", values, "UALICE", view=view)
    assert answer.status_code == 200 and not answer.content, answer.text
    wait_until(
        lambda: "test pause at compose_after_ack" in app.log.read_text(),
        timeout=20,
        message="the app held right after the modal's ack",
    )
    app.kill()
    assert smtp_server.messages == []
    source_ts = f"compose:{view['id']}"
    assert message_state(env["DATABASE_URL"], source_ts) == MessageState.PENDING_SEND

    restart_env = {k: v for k, v in env.items() if k != "MAILROOM_TEST_PAUSE_AT"}
    launch(processes, restart_env, tmp_path)
    mail = smtp_server.wait_for_messages(1, timeout=30)[0]
    assert mail.recipients == ["carla@customer.example.com"]
    assert mail.message["Subject"] == "Our price list"
    assert mail.message["From"].addresses[0].addr_spec == account.address
    assert [
        (a.get_filename(), a.get_content().encode()) for a in mail.message.iter_attachments()
    ] == [("prices.txt", data)]
    wait_until(
        lambda: message_state(env["DATABASE_URL"], source_ts) == MessageState.SENT,
        timeout=20,
        message="the mail marked sent",
    )
    wait_until(
        lambda: dovecot.message_count(account.address, "Sent") == 1,
        timeout=20,
        message="the mail's copy in Sent",
    )
    # The conversation's first post, which the killed process never made, is made now, once,
    # and the thread knows it (the customer's answer joins it).
    roots = wait_until(
        lambda: conversation_roots(slack_fake),
        timeout=20,
        message="the new conversation's first post",
    )
    assert "Our price list" in json.dumps(roots[0])
    wait_until(
        lambda: thread_of(env["DATABASE_URL"], source_ts) == roots[0]["ts"],
        timeout=20,
        message="the conversation's thread recorded",
    )
    # Done, and it stays done: no second copy leaves in the seconds that follow.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert len(smtp_server.messages) == 1
        assert len(conversation_roots(slack_fake)) == 1
        time.sleep(0.05)
    assert dovecot.message_count(account.address, "Sent") == 1


def conversation_roots(slack: FakeSlack) -> list[dict]:
    """Mailroom's first posts of conversations written in the compose modal."""
    return [
        m
        for m in slack.top_level(CHANNEL)
        if (m.get("metadata") or {}).get("event_type") == "mailroom_compose"
    ]


def thread_of(database_url: str, source_ts: str) -> str | None:
    found = query_scalar(
        database_url,
        "SELECT c.thread_ts FROM conversations c JOIN messages m"
        " ON m.conversation_id = c.id WHERE m.source_ts = :ts",
        ts=source_ts,
    )
    return None if found is None else str(found)
