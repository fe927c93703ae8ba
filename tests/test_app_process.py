"""The real process: ``python app.py`` serving HTTP, refusing forged requests, and surviving
kill -9 in the middle of a sync and in the middle of a send without losing or doubling mail."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.support.fake_slack import FakeSlack
from tests.support.harness import (
    BOT_TOKEN,
    SIGNING_SECRET,
    AppProcess,
    MailAccount,
    app_env,
    connect_values,
    launch,
    make_email,
    new_mail_account,
)
from tests.support.mail_servers import DovecotServer, SmtpServer
from tests.support.slack_requests import event_callback, plain_input
from tests.support.wait import wait_until

CHANNEL = "C_SALES"


def healthz(app: AppProcess) -> dict:
    return httpx.get(app.url + "/healthz", timeout=5).json()


def connect(
    app: AppProcess, account: MailAccount, dovecot: DovecotServer, smtp: SmtpServer
) -> None:
    answer = app.client().submit_view(
        "mail_connect",
        connect_values(account, dovecot, smtp),
        "UALICE",
        private_metadata='{"mailbox_id": null}',
    )
    assert answer.status_code == 200 and answer.json()["response_action"] == "update", answer.text
    wait_until(
        lambda: healthz(app)["mailboxes"].get("ok") == 1,
        timeout=20,
        message="the mailbox's first sync",
    )


def posts_about(slack: FakeSlack, words: str) -> list[dict]:
    return [m for m in slack.messages(CHANNEL) if words in json.dumps(m.get("blocks"))]


def test_real_server_health_and_signature_checks(
    slack_fake: FakeSlack, tmp_path: Path, processes: list[AppProcess]
) -> None:
    env = app_env(slack_fake, f"sqlite:///{tmp_path / 'mailroom.db'}", tmp_path / "data")
    app = launch(processes, env, tmp_path)
    health = healthz(app)
    assert health["ok"] and health["database"] and health["scheduler"]

    body, content_type = event_callback(
        {"type": "app_home_opened", "user": "UALICE", "tab": "home"}
    )
    client = app.client()
    assert client.post(body, content_type, signed=False).status_code == 401
    stale = client.post(body, content_type, timestamp=int(time.time()) - 6 * 60)
    assert stale.status_code == 401
    forged = client.post(body, content_type, headers={"X-Slack-Signature": "v0=" + "0" * 64})
    assert forged.status_code == 401
    assert not slack_fake.calls_to("views.publish")
    assert client.post(body, content_type).status_code == 200
    # Nothing signed wrongly reached a listener: only the good request published Home.
    wait_until(lambda: slack_fake.calls_to("views.publish"), message="the good request handled")
    assert len(slack_fake.calls_to("views.publish")) == 1

    # A forged modal submission carries a mailbox password; Bolt logs the body of a request
    # whose signature fails. The log must hold neither that password nor our own secrets.
    password = "pw-never-logged-7f3a"
    forged_modal = client.submit_view(
        "mail_connect", {"imap_password": plain_input(password)}, "UALICE", signed=False
    )
    assert forged_modal.status_code == 401
    wait_until(
        lambda: "Invalid request signature" in app.log.read_text(),
        message="the rejected request logged",
    )
    log_text = app.log.read_text()
    for secret in (password, BOT_TOKEN, SIGNING_SECRET):
        assert secret not in log_text, secret


def test_start_without_slack_settings_names_what_is_missing(tmp_path: Path) -> None:
    env = {
        "SLACK_BOT_TOKEN": "",
        "SLACK_SIGNING_SECRET": "",
        "MAILROOM_DATA_DIR": str(tmp_path / "data"),
    }
    app = AppProcess(env, tmp_path)
    app.start(wait=False)
    assert app.proc is not None
    assert app.proc.wait(30) == 2
    output = app.log.read_text()
    assert "Mailroom cannot start" in output
    assert "SLACK_BOT_TOKEN is not set" in output and "SLACK_SIGNING_SECRET is not set" in output
    assert "Traceback" not in output


def start_with_mailbox(
    slack: FakeSlack,
    dovecot: DovecotServer,
    smtp: SmtpServer,
    tmp_path: Path,
    processes: list[AppProcess],
    **extra_env: str,
) -> tuple[dict[str, str], AppProcess, MailAccount]:
    """`python app.py` polling every second, with one mailbox connected through Slack."""
    env = app_env(
        slack,
        f"sqlite:///{tmp_path / 'mailroom.db'}",
        tmp_path / "data",
        SYNC_INTERVAL_SECONDS="1",
        **extra_env,
    )
    app = launch(processes, env, tmp_path)
    account = new_mail_account(dovecot, smtp)
    connect(app, account, dovecot, smtp)
    return env, app, account


def test_kill_9_mid_sync_posts_the_mail_exactly_once(
    slack_fake: FakeSlack,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    processes: list[AppProcess],
) -> None:
    env, app, account = start_with_mailbox(slack_fake, dovecot, smtp_server, tmp_path, processes)

    stall = slack_fake.stall("chat.postMessage")
    dovecot.append(account.address, make_email(to=account.address, subject="Caught mid-post"))
    assert stall.wait_for_call(20), "the app never posted the mail"
    # Slack has accepted the post; the app has not heard back, so it never recorded it.
    app.kill()
    slack_fake.release_all()
    assert len(posts_about(slack_fake, "Caught mid-post")) == 1

    launch(processes, env, tmp_path)
    for n in range(2):
        dovecot.append(account.address, make_email(to=account.address, subject=f"Later mail {n}"))
    for n in range(2):
        wait_until(
            lambda n=n: posts_about(slack_fake, f"Later mail {n}"),
            timeout=20,
            message=f"later mail {n} posted after the restart",
        )
    assert len(posts_about(slack_fake, "Caught mid-post")) == 1
    assert len(posts_about(slack_fake, "Later mail 0")) == 1
    assert len(posts_about(slack_fake, "Later mail 1")) == 1


def test_kill_9_mid_send_delivers_the_reply_exactly_once(
    slack_fake: FakeSlack,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    processes: list[AppProcess],
) -> None:
    env, app, account = start_with_mailbox(slack_fake, dovecot, smtp_server, tmp_path, processes)
    dovecot.append(account.address, make_email(to=account.address, subject="Please answer"))
    root = wait_until(
        lambda: posts_about(slack_fake, "Please answer"),
        timeout=20,
        message="the customer mail posted",
    )[0]

    smtp_server.hold()
    reply_ts = "1800000000.000300"
    event = {
        "type": "message",
        "channel": CHANNEL,
        "user": "UALICE",
        "text": "Answer once.",
        "ts": reply_ts,
        "thread_ts": root["ts"],
        "channel_type": "channel",
    }
    assert app.client().event(event, event_id="EvKILL0001").status_code == 200
    smtp_server.wait_until_held(20)
    app.kill()
    smtp_server.release()

    launch(processes, env, tmp_path)
    smtp_server.wait_for_messages(1, timeout=20)
    wait_until(
        lambda: [
            c
            for c in slack_fake.calls_to("reactions.add")
            if c.params.get("timestamp") == reply_ts and c.params.get("name") == "white_check_mark"
        ],
        timeout=20,
        message="the sent reaction after the restart",
    )
    # Slack retries an event it never saw acknowledged: still one email.
    processes[-1].client().event(event, event_id="EvKILL0001", retry_num=1)
    wait_until(
        lambda: dovecot.message_count(account.address, "Sent") == 1,
        timeout=20,
        message="the reply's copy in Sent",
    )
    assert len(smtp_server.messages) == 1
    assert "Answer once." in smtp_server.messages[0].message.get_body(("plain",)).get_content()


def sent_reactions(slack: FakeSlack, ts: str) -> list:
    return [
        c
        for c in slack.calls_to("reactions.add")
        if c.params.get("timestamp") == ts and c.params.get("name") == "white_check_mark"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("pause_at", ["after_ack", "after_record"])
def test_kill_9_right_after_the_ack_still_sends_the_reply_once(
    pause_at: str,
    slack_fake: FakeSlack,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    processes: list[AppProcess],
) -> None:
    """Slack has its 200 (and will never retry) when the process dies: right after the ack,
    before anything else ran ("after_ack"), or once the reply is recorded but not yet sent
    ("after_record"). The restarted process sends it, once, and marks it ✅."""
    env, app, account = start_with_mailbox(
        slack_fake, dovecot, smtp_server, tmp_path, processes, MAILROOM_TEST_PAUSE_AT=pause_at
    )
    dovecot.append(account.address, make_email(to=account.address, subject="Answer me"))
    root = wait_until(
        lambda: posts_about(slack_fake, "Answer me"), timeout=20, message="the customer mail"
    )[0]
    wait_until(lambda: app.knows_thread(CHANNEL, root["ts"]), message="the thread recorded")
    reply_ts = "1800000000.000400"
    event = {
        "type": "message",
        "channel": CHANNEL,
        "user": "UALICE",
        "text": "Never lost.",
        "ts": reply_ts,
        "thread_ts": root["ts"],
        "channel_type": "channel",
    }
    assert app.client().event(event, event_id="EvACK0001").status_code == 200
    wait_until(
        lambda: f"test pause at {pause_at}" in app.log.read_text(),
        timeout=20,
        message=f"the app held at {pause_at}",
    )
    app.kill()
    assert smtp_server.messages == []

    restart_env = {k: v for k, v in env.items() if k != "MAILROOM_TEST_PAUSE_AT"}
    restarted = launch(processes, restart_env, tmp_path)
    smtp_server.wait_for_messages(1, timeout=30)
    wait_until(
        lambda: sent_reactions(slack_fake, reply_ts), timeout=20, message="the ✅ after restart"
    )
    wait_until(
        lambda: dovecot.message_count(account.address, "Sent") == 1,
        timeout=20,
        message="the reply's copy in Sent",
    )
    # Slack's retry of the same event, and the same message under another event id, are
    # acknowledged and recognised: still one email, one ✅.
    client = restarted.client()
    assert client.event(event, event_id="EvACK0001", retry_num=1).status_code == 200
    assert client.event(event, event_id="EvACK0002").status_code == 200
    assert len(smtp_server.messages) == 1
    assert "Never lost." in smtp_server.messages[0].message.get_body(("plain",)).get_content()
    assert len(sent_reactions(slack_fake, reply_ts)) == 1


def test_healthz_is_503_when_the_database_goes_away(
    slack_fake: FakeSlack, tmp_path: Path, processes: list[AppProcess]
) -> None:
    from sqlalchemy import create_engine, text

    from tests.support.harness import fresh_postgres_database, postgres_url

    base = postgres_url()
    if not base:
        pytest.skip("needs MAILROOM_TEST_DATABASE_URL (PostgreSQL)")
    databases = fresh_postgres_database(base)
    url = next(databases)
    try:
        app = launch(processes, app_env(slack_fake, url, tmp_path / "data"), tmp_path)
        assert httpx.get(app.url + "/healthz", timeout=5).status_code == 200
        admin = create_engine(
            "postgresql+psycopg://" + base.split("://", 1)[1], isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
        admin.dispose()
        answer = httpx.get(app.url + "/healthz", timeout=10)
        assert answer.status_code == 503
        assert answer.json()["database"] is False
    finally:
        databases.close()


def test_app_refuses_to_start_when_settings_are_invalid(tmp_path: Path) -> None:
    env = {
        "SLACK_BOT_TOKEN": "not-a-bot-token",
        "SLACK_SIGNING_SECRET": "x",
        "MAILROOM_SECRET_KEY": "short",
        "MAILROOM_DATA_DIR": str(tmp_path / "data"),
    }
    app = AppProcess(env, tmp_path)
    app.start(wait=False)
    assert app.proc is not None and app.proc.wait(30) == 2
    output = app.log.read_text()
    lines = [line for line in output.splitlines() if line.startswith("  - ")]
    assert len(lines) == 2, output
    assert any("xoxb-" in line for line in lines) and any("Fernet" in line for line in lines)


def test_unreachable_database_at_start_is_one_clear_line(tmp_path: Path) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "s",
        "MAILROOM_DATA_DIR": str(tmp_path / "data"),
        # A closed port, and a password that must not be printed.
        "DATABASE_URL": "postgresql://postgres:hunter2@127.0.0.1:1/nowhere",
        "MAILROOM_SECRET_KEY": "kV6x1a6mX7f2wWnq9Yc7dY1i6l7m9v0hQ2bE6sT3uJ8=",
    }
    app = AppProcess(env, tmp_path)
    app.start(wait=False)
    assert app.proc is not None
    assert app.proc.wait(30) == 3
    output = app.log.read_text()
    assert (
        "the database at postgresql://postgres:***@127.0.0.1:1/nowhere is not reachable" in output
    )
    assert "hunter2" not in output and "Traceback" not in output
