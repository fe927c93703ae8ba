"""Push in the real process (``python app.py``): kill -9 in the middle of a push-triggered
sync loses and doubles nothing; SIGTERM says DONE + LOGOUT on every connection in time."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.fake_slack import FakeSlack
from tests.support.harness import (
    ROOT,
    AppProcess,
    MailAccount,
    app_env,
    connect_values,
    launch,
    make_email,
    new_mail_account,
)
from tests.support.mail_servers import DovecotServer, SmtpServer
from tests.support.wait import wait_until

USERS = ("UALICE", "UBOB", "USALES")


def sync_modes(app: AppProcess) -> dict:
    return httpx.get(app.url + "/healthz", timeout=5).json()["sync_modes"]


def connect(
    app: AppProcess,
    account: MailAccount,
    dovecot: DovecotServer,
    smtp: SmtpServer,
    user: str,
    channel: str,
) -> None:
    answer = app.client().submit_view(
        "mail_connect",
        connect_values(account, dovecot, smtp, channel=channel),
        user,
        private_metadata='{"mailbox_id": null}',
    )
    assert answer.status_code == 200 and answer.json()["response_action"] == "update", answer.text


def posts_about(slack: FakeSlack, channel: str, words: str) -> list[dict]:
    return [m for m in slack.messages(channel) if words in json.dumps(m.get("blocks"))]


def push_env(slack: FakeSlack, tmp_path: Path) -> dict[str, str]:
    return app_env(
        slack,
        f"sqlite:///{tmp_path / 'mailroom.db'}",
        tmp_path / "data",
        SYNC_PUSH="on",
        SYNC_INTERVAL_SECONDS="3600",
    )


def test_kill_9_during_a_push_triggered_sync_loses_and_doubles_nothing(
    slack_fake: FakeSlack,
    push_dovecot: DovecotServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    processes: list[AppProcess],
) -> None:
    env = push_env(slack_fake, tmp_path)
    app = launch(processes, env, tmp_path)
    account = new_mail_account(push_dovecot, smtp_server)
    connect(app, account, push_dovecot, smtp_server, "UALICE", "C_KILL")
    wait_until(lambda: sync_modes(app)["live"] == 1, timeout=20, message="mailbox live")

    stall = slack_fake.stall("chat.postMessage")
    raws = [make_email(to=account.address, subject=f"Pushed {n}") for n in range(3)]
    push_dovecot.append_many(account.address, raws)
    assert stall.wait_for_call(10), "the push never led to a post"
    # Slack took the first post; the app has not heard back; two more mails are fetched or
    # recorded but not posted. Now the worst moment:
    app.kill()
    slack_fake.release_all()

    launch(processes, env, tmp_path)
    push_dovecot.append(account.address, make_email(to=account.address, subject="Pushed later"))
    for subject in ("Pushed 0", "Pushed 1", "Pushed 2", "Pushed later"):
        wait_until(
            lambda subject=subject: posts_about(slack_fake, "C_KILL", subject),
            timeout=20,
            message=f"{subject} posted after the restart",
        )
    for subject in ("Pushed 0", "Pushed 1", "Pushed 2", "Pushed later"):
        assert len(posts_about(slack_fake, "C_KILL", subject)) == 1, subject


def test_sigterm_says_done_and_logout_on_every_push_connection_within_5_seconds(
    slack_fake: FakeSlack,
    push_dovecot: DovecotServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    processes: list[AppProcess],
) -> None:
    app = launch(processes, push_env(slack_fake, tmp_path), tmp_path)
    accounts = [new_mail_account(push_dovecot, smtp_server) for _ in USERS]
    for n, (account, user) in enumerate(zip(accounts, USERS, strict=True)):
        connect(app, account, push_dovecot, smtp_server, user, f"C_TERM{n}")
    wait_until(lambda: sync_modes(app)["live"] == 3, timeout=20, message="three mailboxes live")

    assert app.proc is not None
    started = time.monotonic()
    app.proc.terminate()
    app.proc.wait(10)
    assert time.monotonic() - started < 5.0

    def logged_out(address: str) -> bool:
        lines = [
            line
            for line in push_dovecot.log_text().splitlines()
            if f"imap({address})" in line and "Disconnected" in line
        ]
        # The last session of this user is the push connection: it ended with LOGOUT.
        return bool(lines) and "Logged out" in lines[-1]

    for account in accounts:
        wait_until(
            lambda account=account: logged_out(account.address),
            timeout=5,
            message=f"{account.address} logged out:\n{push_dovecot.log_text()[-3000:]}",
        )


def start_with_file_limit(env: dict[str, str], cwd: Path, soft: int, hard: int) -> AppProcess:
    """``python app.py`` started under RLIMIT_NOFILE (soft, hard), as a service manager sets."""
    app = AppProcess(env, cwd)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    app.proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")],
        cwd=cwd,
        env=app.env,
        stdout=app.log.open("ab"),
        stderr=subprocess.STDOUT,
        preexec_fn=limit,
    )
    wait_until(app._healthy, timeout=30, message=f"app answers /healthz (log {app.log})")
    return app


def test_open_file_limit_is_raised_and_a_too_low_hard_limit_is_reported(
    slack_fake: FakeSlack, tmp_path: Path, processes: list[AppProcess]
) -> None:
    env = push_env(slack_fake, tmp_path)
    # No mailbox yet: the engine needs 256 descriptors for itself.
    raised = start_with_file_limit(env, tmp_path, soft=200, hard=4096)
    processes.append(raised)
    files = httpx.get(raised.url + "/healthz", timeout=5).json()["push"]["open_files"]
    assert files == {"soft": 256, "hard": 4096, "needed": 256, "ok": True}
    raised.stop()

    low = start_with_file_limit(env, tmp_path, soft=150, hard=200)
    processes.append(low)
    push = httpx.get(low.url + "/healthz", timeout=5).json()["push"]
    assert push["open_files"]["ok"] is False and push["open_files"]["soft"] == 200
    assert any("open-file limit" in problem for problem in push["problems"])
    wait_until(
        lambda: "open-file limit (200, hard 200) is too low" in low.log.read_text(),
        message="the log says the limit is too low",
    )
