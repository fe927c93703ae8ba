"""Push sync (bot.push.engine) through IMAP IDLE against a real Dovecot: latency, reconnects,
isolation between mailboxes, and a clean goodbye at shutdown."""

from __future__ import annotations

import json
import random
import time
import uuid

import pytest

from bot.push import engine_of
from bot.push.watcher import State
from tests.bot.push.dovecot_configs import PUSH_DOVECOT
from tests.bot.push.live import (
    connect_live,
    posts_with,
    seconds_until_posted,
    wait_live,
)
from tests.bot.push.mute_proxy import MuteProxy
from tests.support.ephemerals import status_text
from tests.support.harness import Harness, HarnessFactory, MailAccount, mailbox_row, make_email
from tests.support.imap_counter import CommandCounter
from tests.support.mail_servers import DovecotServer, require_dovecot
from tests.support.wait import wait_until

USERS = ("UALICE", "UBOB", "USALES", "UADMIN")  # one personal mailbox each


# --- Push -------------------------------------------------------------------------------------


def test_mail_appended_to_an_idle_mailbox_is_pushed_to_slack(
    push_app: Harness,
) -> None:
    h = push_app
    account, _ = connect_live(h, "C_PUSH")
    subject = f"Pushed {uuid.uuid4().hex[:6]}"
    logins_before = _logins(h, account)
    h.deliver(account, make_email(to=account.address, subject=subject))
    # SYNC_INTERVAL is an hour: only the push can post it (latency is measured in bench/).
    wait_until(lambda: posts_with(h, "C_PUSH", subject), timeout=10.0, message="pushed mail")
    # One persistent connection did it: no new login for the mail (SYNC_INTERVAL is an hour).
    # (The one new login is the test's own APPEND.)
    assert _logins(h, account) == logins_before + 1


def test_a_pushed_mail_costs_done_search_fetch_and_no_status(push_app: Harness) -> None:
    """Between the server's EXISTS and the post: DONE, UID SEARCH, UID FETCH. No STATUS
    (the IDLE view is current) and no SELECT: each round trip is latency on a far server."""
    h = push_app
    counter = CommandCounter(h.dovecot.port)
    try:
        account, _ = connect_live(h, "C_PUSH", imap_port=str(counter.port))
        wait_until(
            lambda: any(b" IDLE" in line.upper() for line in counter.commands),
            message="the connection idles",
        )
        counter.take(settle=False)
        subject = f"Counted {uuid.uuid4().hex[:6]}"
        h.deliver(account, make_email(to=account.address, subject=subject))
        wait_until(lambda: posts_with(h, "C_PUSH", subject), message="pushed mail")
        verbs = [line.split(b" ", 2)[1].upper() for line in counter.take(settle=False)]
        # A re-IDLE that began before the mail came (the engine renews its IDLE) is not part
        # of the mail's cost: count from the first command after it to the next IDLE.
        start = next((i for i, verb in enumerate(verbs) if verb != b"IDLE"), len(verbs))
        rest = verbs[start:]
        until_post = rest[: rest.index(b"IDLE")] if b"IDLE" in rest else rest
        assert until_post == [b"UID", b"UID"], verbs  # UID SEARCH, UID FETCH
    finally:
        counter.close()


def _logins(h: Harness, account: MailAccount) -> int:
    return h.dovecot.log_text().count(f"Login: user=<{account.address}>")


def test_server_drops_the_connection_reconnect_catches_up_exactly_once(
    harness_with: HarnessFactory, push_dovecot: DovecotServer, database_url: str
) -> None:
    h = harness_with(
        database_url=database_url,
        dovecot=push_dovecot,
        SYNC_PUSH="on",
        SYNC_INTERVAL_SECONDS="3600",
    )
    account, mailbox_id = connect_live(h, "C_DROP")
    h.deliver(account, make_email(to=account.address, subject="Before the drop"))
    wait_until(lambda: posts_with(h, "C_DROP", "Before the drop"), timeout=30)
    h.dovecot.kick(account.address)
    for n in range(3):
        h.deliver(account, make_email(to=account.address, subject=f"While away {n}"))
    for n in range(3):
        wait_until(lambda n=n: posts_with(h, "C_DROP", f"While away {n}"), timeout=15)
    wait_live(h, mailbox_id)
    h.deliver(account, make_email(to=account.address, subject="After the return"))
    seconds_until_posted(h, "C_DROP", "After the return", timeout=30)
    for subject in ("Before the drop", "While away 0", "While away 1", "While away 2"):
        assert len(posts_with(h, "C_DROP", subject)) == 1, subject
    assert h.dovecot.log_text().count(f"Login: user=<{account.address}>") >= 2


def test_server_restart_every_mailbox_reconnects_and_nothing_is_doubled(
    harness_with: HarnessFactory,
) -> None:
    require_dovecot()
    with DovecotServer(extra_config=PUSH_DOVECOT) as server:
        h = harness_with(dovecot=server, SYNC_PUSH="on", SYNC_INTERVAL_SECONDS="3600")
        boxes = [connect_live(h, f"C_RS{n}", user=USERS[n]) for n in range(3)]
        server.restart()
        for n, (account, _) in enumerate(boxes):
            h.deliver(account, make_email(to=account.address, subject=f"After restart {n}"))
        for n, (_, mailbox_id) in enumerate(boxes):
            wait_until(lambda n=n: posts_with(h, f"C_RS{n}", f"After restart {n}"), timeout=20)
            wait_live(h, mailbox_id)
        for n in range(3):
            assert len(posts_with(h, f"C_RS{n}", f"After restart {n}")) == 1
        h.mailroom.stop()


def test_reconnects_back_off_while_the_server_is_down(harness_with: HarnessFactory) -> None:
    require_dovecot()
    server = DovecotServer(extra_config=PUSH_DOVECOT).start()
    try:
        h = harness_with(dovecot=server, SYNC_PUSH="on", SYNC_INTERVAL_SECONDS="3600")
        account, mailbox_id = connect_live(h, "C_DOWN")
        process = server._process
        assert process is not None
        process.terminate()
        process.wait(10)
        engine = engine_of(h.ctx)
        assert engine is not None
        # Failed attempts pile up with growing waits, and count into the mailbox's health.
        found = wait_until(
            lambda: (s := engine.state_of(mailbox_id)) and s[1].backoff.failures >= 4 and s,
            timeout=40,
            message="four failed reconnects",
        )
        assert found[0] == State.RECONNECTING
        mailbox = h.ctx.mailboxes.get(mailbox_id)
        assert mailbox is not None and mailbox.consecutive_failures >= 2
        status = status_text(h)
        assert "reconnecting" in status and "backing off" in status
        server.restart()
        h.deliver(account, make_email(to=account.address, subject="Back again"))
        wait_until(lambda: posts_with(h, "C_DOWN", "Back again"), timeout=40)
        wait_live(h, mailbox_id, timeout=10)
        assert h.ctx.mailboxes.get(mailbox_id).consecutive_failures == 0  # type: ignore[union-attr]
        # The owner heard once that it failed (SYNC_FAILURE_THRESHOLD=3), once that it is back.
        dms = [m["text"] for m in h.slack.messages("UALICE")]
        assert sum("Mailroom cannot sync" in t for t in dms) == 1, dms
        wait_until(
            lambda: sum("is syncing again" in m["text"] for m in h.slack.messages("UALICE")) == 1,
            message="one recovery notice",
        )
        h.mailroom.stop()
    finally:
        server.stop()


def test_push_waits_for_a_sync_lease_held_elsewhere_then_catches_up(push_app: Harness) -> None:
    """The poll path (another process, or a poll in flight) and push never sync at once."""
    h = push_app
    account, mailbox_id = connect_live(h, "C_LEASE")
    assert h.ctx.sync._acquire(mailbox_id)  # as a poll of this mailbox would hold it
    h.deliver(account, make_email(to=account.address, subject="Behind the lease"))
    engine = engine_of(h.ctx)
    assert engine is not None
    wait_until(
        lambda: (s := engine.state_of(mailbox_id)) and s[1].retry_at is not None,
        timeout=30,
        message="push found the lease taken",
    )
    assert not posts_with(h, "C_LEASE", "Behind the lease")
    h.ctx.sync._release(mailbox_id)
    wait_until(lambda: posts_with(h, "C_LEASE", "Behind the lease"), timeout=30)
    assert len(posts_with(h, "C_LEASE", "Behind the lease")) == 1


def test_backstop_check_catches_a_mail_the_server_never_pushed(
    harness_with: HarnessFactory, push_dovecot: DovecotServer
) -> None:
    proxy = MuteProxy(push_dovecot.port)
    try:
        h = harness_with(
            dovecot=push_dovecot,
            SYNC_PUSH="on",
            SYNC_INTERVAL_SECONDS="3600",
            SYNC_PUSH_BACKSTOP_SECONDS="10",
        )
        account = h.new_account()
        mailbox = h.connect(account, channel="C_MISS", imap_port=str(proxy.port))
        wait_live(h, mailbox.id)  # type: ignore[arg-type]
        proxy.mute = True
        h.deliver(account, make_email(to=account.address, subject="Never pushed"))
        wait_until(lambda: proxy.dropped, timeout=5, message="the push was swallowed")
        started = time.monotonic()
        wait_until(lambda: posts_with(h, "C_MISS", "Never pushed"), timeout=15)
        assert time.monotonic() - started > 1.0  # it did not come by push
        assert len(posts_with(h, "C_MISS", "Never pushed")) == 1
    finally:
        proxy.close()


def test_reconnect_with_new_settings_is_tried_at_once_not_after_the_backoff(
    push_app: Harness,
) -> None:
    h = push_app
    old_server = MuteProxy(h.dovecot.port)  # the address the mailbox was set up with
    account = h.new_account()
    mailbox = h.connect(account, channel="C_MOVED", imap_port=str(old_server.port))
    mailbox_id: int = mailbox.id  # type: ignore[assignment]
    wait_live(h, mailbox_id)
    engine = engine_of(h.ctx)
    assert engine is not None
    old_server.close()  # that address stops answering: connection refused from now on

    def waiting_long() -> bool:
        found = engine.state_of(mailbox_id)
        if found is None or found[0] != State.RECONNECTING or found[1].retry_at is None:
            return False
        return found[1].retry_at - time.monotonic() > 5

    wait_until(waiting_long, timeout=90, message="a reconnect wait longer than 5 s")
    # The owner presses Reconnect and enters the server's new address.
    answer = h.client.submit_view(
        "mail_connect",
        h.connect_values(account, channel="C_MOVED"),
        "UALICE",
        private_metadata=json.dumps({"mailbox_id": mailbox_id}),
    )
    assert answer.status_code == 200 and answer.json()["response_action"] == "update"
    wait_live(h, mailbox_id, timeout=30)


def test_pausing_a_mailbox_closes_its_push_connection(push_app: Harness) -> None:
    h = push_app
    account, mailbox_id = connect_live(h, "C_PAUSE")
    engine = engine_of(h.ctx)
    assert engine is not None
    h.ctx.mailboxes.set_fields(mailbox_id, active=False)
    engine.mailbox_changed(mailbox_id)
    wait_until(
        lambda: (
            f"imap({account.address})" in h.dovecot.log_text()
            and "Logged out" in _session_lines(h, account.address)
        ),
        timeout=10,
        message="the push session logged out",
    )
    h.deliver(account, make_email(to=account.address, subject="While paused"))
    assert engine.state_of(mailbox_id) is None
    assert not posts_with(h, "C_PAUSE", "While paused")


def _session_lines(h: Harness, address: str) -> str:
    return "\n".join(
        line for line in h.dovecot.log_text().splitlines() if f"imap({address})" in line
    )


# --- Isolation and scale ---------------------------------------------------------------------


def test_long_sync_on_one_mailbox_never_delays_another_mailboxs_push(
    harness_with: HarnessFactory, push_dovecot: DovecotServer
) -> None:
    h = harness_with(
        dovecot=push_dovecot,
        SYNC_PUSH="on",
        SYNC_INTERVAL_SECONDS="3600",
        SYNC_PUSH_WORKERS="4",
    )
    # Three mailboxes with a backfill each: posts into one channel are paced to about one a
    # second, so each first sync holds a worker for ~40 s (and backfill may use only half
    # of the workers).
    for n in range(3):
        account = h.new_account()
        push_dovecot.append_many(
            account.address,
            [make_email(to=account.address, subject=f"Old {n}-{i}") for i in range(40)],
        )
        answer = h.client.submit_view(
            "mail_connect",
            h.connect_values(account, channel=f"C_BACK{n}", backfill="1"),
            USERS[n + 1],
            private_metadata='{"mailbox_id": null}',
        )
        assert answer.status_code == 200

    def backfilling() -> int:
        return sum(0 < len(posts_with(h, f"C_BACK{n}", "Old")) < 40 for n in range(3))

    wait_until(lambda: backfilling() >= 2, timeout=20, message="two backfills running")
    account, _ = connect_live(h, "C_FAST")
    h.deliver(account, make_email(to=account.address, subject="Not behind the backfill"))
    # Ahead of the backfills (how fast is bench/bench_push.py's business, not a test's).
    seconds_until_posted(h, "C_FAST", "Not behind the backfill", timeout=30)
    assert backfilling() >= 1, "the backfills were still running meanwhile"
    # A backfilling mailbox shows its progress.
    statuses = [status_text(h, user) for user in USERS[1:]]
    assert any("bringing in existing mail" in text and "so far" in text for text in statuses)


@pytest.mark.slow
def test_200_live_mailboxes_mail_on_20_random_ones_arrives_within_3_seconds(
    harness_with: HarnessFactory, push_dovecot: DovecotServer
) -> None:
    h2 = harness_with(dovecot=push_dovecot, SYNC_PUSH="on", SYNC_INTERVAL_SECONDS="3600")
    accounts = [h2.new_account() for _ in range(200)]
    ids = [_insert_mailbox(h2, account, f"C_M{n}") for n, account in enumerate(accounts)]
    engine = engine_of(h2.ctx)
    assert engine is not None
    for mailbox_id in ids:
        engine.watch(mailbox_id)  # what start-up (or an ownership layer) does
    wait_until(lambda: engine.counts()["live"] == 200, timeout=90, message="200 mailboxes live")
    chosen = random.Random(3).sample(range(200), 20)
    started = time.monotonic()
    for n in chosen:
        h2.deliver(accounts[n], make_email(to=accounts[n].address, subject=f"Scale {n}"))
    for n in chosen:
        wait_until(
            lambda n=n: posts_with(h2, f"C_M{n}", f"Scale {n}"),
            timeout=max(0.1, 10.0 - (time.monotonic() - started)) + 0.5,
            message=f"mail on mailbox {ids[n]}",
        )


def _insert_mailbox(h: Harness, account: MailAccount, channel: str) -> int:
    """A mailbox row as the connect modal saves it (faster than 200 modal submissions)."""
    secrets = h.ctx.mailboxes.seal({"imap_password": account.password})
    mailbox = mailbox_row(account, h.dovecot, h.smtp, secrets=secrets, channel=channel)
    with h.ctx.db.session() as session:
        session.add(mailbox)
        session.flush()
        return mailbox.id  # type: ignore[return-value]


def test_stop_says_done_and_logout_on_every_connection(push_app: Harness) -> None:
    h = push_app
    accounts = [connect_live(h, f"C_BYE{n}", user=USERS[n])[0] for n in range(3)]
    started = time.monotonic()
    h.mailroom.stop()
    assert time.monotonic() - started < 5.0
    for account in accounts:
        wait_until(
            lambda account=account: (
                "Logged out" in _session_lines(h, account.address).splitlines()[-1]
            ),
            timeout=5,
            message=f"{account.address} logged out:\n{_session_lines(h, account.address)}",
        )


def test_sent_folder_is_checked_right_after_a_reply_goes_out(push_app: Harness) -> None:
    from sqlmodel import select

    from storage.models import FolderState

    h = push_app
    account, mailbox_id = connect_live(h, "C_REPLY")
    h.deliver(account, make_email(to=account.address, subject="Please reply"))
    root = wait_until(lambda: posts_with(h, "C_REPLY", "Please reply"), timeout=30)[0]

    def sent_cursor() -> int:
        with h.ctx.db.session() as session:
            state = session.exec(
                select(FolderState).where(
                    FolderState.mailbox_id == mailbox_id, FolderState.role == "sent"
                )
            ).first()
            return state.last_uid if state else -1

    before = sent_cursor()
    assert h.reply("C_REPLY", root["ts"], "Here is the answer.").status_code == 200
    h.smtp.wait_for_messages(1, timeout=10)
    # The copy Mailroom appends to Sent is seen over the live connection at once, not at the
    # next interval (an hour here).
    wait_until(lambda: sent_cursor() > max(before, 0), timeout=5, message="Sent synced")
