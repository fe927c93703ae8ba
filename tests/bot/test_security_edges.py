"""Security rules at the edges: hosts re-checked at connect time, remote words escaped in
error answers, and secrets kept out of log lines."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from bot.logs import RedactingFilter, redact
from handlers.common import user_facing
from providers.errors import UserError
from tests.support.harness import Harness, HarnessFactory, make_email
from tests.support.wait import wait_until

CHANNEL = "C_SALES"
# One key for both apps below, so the second can open the secrets the first sealed.
SECRET_KEY = "kV6x1a6mX7f2wWnq9Yc7dY1i6l7m9v0hQ2bE6sT3uJ8="


# --- SSRF: a host allowed when saved is checked again before every connection --------------


def test_host_no_longer_allowed_is_refused_at_sync_and_send_time(
    harness_with: HarnessFactory, tmp_path: Path
) -> None:
    """The modal checked the host once; DNS (or the operator's allow list) can change later.

    The same database is opened by a second app whose allow list no longer holds 127.0.0.1:
    its sync and its send must refuse to connect, saying why, instead of reaching inside.
    """
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = harness_with(database_url=url, MAILROOM_SECRET_KEY=SECRET_KEY, MAILROOM_SCHEDULER="off")
    account = first.new_account()
    mailbox = first.connect(account)
    first.sync(mailbox.id)  # the first sync starts from now (no backfill asked)
    first.deliver(account, make_email(to=account.address, subject="Before the change"))
    assert first.sync(mailbox.id).posted == 1
    thread_ts = first.slack.top_level(CHANNEL)[-1]["ts"]

    second = harness_with(
        database_url=url,
        MAILROOM_SECRET_KEY=SECRET_KEY,
        MAILROOM_SCHEDULER="off",
        MAILROOM_ALLOWED_PRIVATE_HOSTS="",
    )
    second.deliver(account, make_email(to=account.address, subject="After the change"))
    result = second.sync(mailbox.id)
    assert result.error is not None and "loopback" in result.error, result.error
    assert "MAILROOM_ALLOWED_PRIVATE_HOSTS" in result.error
    stored = second.ctx.mailboxes.get(mailbox.id)
    assert stored.health == "needs_attention" and "loopback" in (stored.last_error or "")
    assert not [m for m in second.slack.messages(CHANNEL) if "After the change" in json.dumps(m)]

    second.reply(CHANNEL, thread_ts, "This must not leave through 127.0.0.1.")
    notice = wait_until(
        lambda: next(
            (m for m in second.slack.thread(CHANNEL, thread_ts) if "not sent" in m["text"]),
            None,
        ),
        message="the refusal in the thread",
    )
    assert "loopback" in json.dumps(notice["blocks"])
    assert not second.smtp.messages


# --- Remote words in an error answer are escaped --------------------------------------------


def test_user_facing_error_answer_escapes_remote_words(harness: Harness) -> None:
    h = harness

    @user_facing(h.ctx)
    def listener(body: dict) -> None:
        raise UserError('The IMAP server said: "NO <!channel> <https://evil|https://bank>"')

    listener(body={"user_id": "UALICE", "channel_id": CHANNEL})
    answer = wait_until(
        lambda: next((e for e in h.slack.ephemerals("UALICE") if "IMAP" in e["text"]), None),
        message="the error answer",
    )
    assert "<!channel>" not in answer["text"] and "<https://evil" not in answer["text"]
    assert "&lt;!channel&gt;" in answer["text"]


def test_hostile_smtp_answer_is_escaped_in_the_failure_notice(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    h.deliver(account, make_email(to=account.address, subject="Question"))
    assert h.sync(mailbox.id).posted == 1
    ts = h.slack.top_level(CHANNEL)[-1]["ts"]
    h.smtp.fail_next(550, "5.7.1 <!channel> rejected, see <https://evil|https://bank>")
    h.reply(CHANNEL, ts, "Our offer.")
    notice = wait_until(
        lambda: next((m for m in h.slack.thread(CHANNEL, ts) if "not sent" in m["text"]), None),
        message="the failure notice",
    )
    rendered = json.dumps({"text": notice["text"], "blocks": notice["blocks"]})
    assert "rejected" in rendered
    assert "<!channel>" not in rendered and "<https://evil" not in rendered


# --- Logs hold no secret --------------------------------------------------------------------


def test_redact_hides_tokens_passwords_and_request_bodies() -> None:
    line = (
        "call failed token=xoxb-123-456-abc app xapp-1-A1-xyz Authorization: Bearer ya29.tok "
        'password="hunter2" AUTHENTICATE PLAIN AGh1bnRlcjI= body: payload=%7B%22pw%22%3A1%7D'
    )
    cleaned = redact(line)
    for secret in ("xoxb-123", "xapp-1", "ya29.tok", "hunter2", "AGh1bnRlcjI=", "payload="):
        assert secret not in cleaned, secret
    assert "call failed" in cleaned


def test_redacting_filter_cleans_arguments_and_tracebacks() -> None:
    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "login as %s failed: %s", ("ana", "secret=s3cr3t"), None
    )
    try:
        raise RuntimeError("refresh failed for Bearer abc.def.ghi")
    except RuntimeError as exc:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    assert RedactingFilter().filter(record)
    assert "s3cr3t" not in record.getMessage() and "ana" in record.getMessage()
    assert record.exc_info is None and "abc.def.ghi" not in (record.exc_text or "")
    assert "RuntimeError" in (record.exc_text or "")
