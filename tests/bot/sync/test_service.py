"""The sync loop (bot/sync/service.py) through real Dovecot into the fake Slack:
incremental and cheap polls, read-only, backfill, a UIDVALIDITY change, one run at a
time per mailbox, and a hanging mailbox that delays no other."""

from __future__ import annotations

import json
import threading
from email.utils import formatdate

import pytest
from sqlmodel import select

from storage.models import FolderState
from tests.bot.sync.helpers import CHANNEL, email_posts, rendered
from tests.support.harness import Harness, HarnessFactory, SilentServer, make_email
from tests.support.imap_counter import CommandCounter
from tests.support.wait import wait_until

# --- Incremental and cheap ------------------------------------------------------------------------


@pytest.fixture
def manual(harness_with: HarnessFactory) -> Harness:
    """The app with its scheduler off: only the test's own h.sync() calls run."""
    return harness_with(MAILROOM_SCHEDULER="off")


def test_sync_is_incremental_by_uid(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    for n in range(2):
        h.deliver(account, make_email(to=account.address, subject=f"First batch {n}"))
    assert h.sync(mailbox.id).new == 2
    h.deliver(account, make_email(to=account.address, subject="Second batch"))
    result = h.sync(mailbox.id)
    assert (result.new, result.posted) == (1, 1)
    assert h.sync(mailbox.id).new == 0
    subjects = [m for m in email_posts(h) if "batch" in rendered(m)]
    assert len(subjects) == 3
    with h.ctx.db.session() as session:
        state = session.exec(
            select(FolderState).where(
                FolderState.mailbox_id == mailbox.id, FolderState.folder == "INBOX"
            )
        ).one()
    assert state.last_uid == 3


def test_poll_without_new_mail_costs_the_same_for_5_or_300_messages(manual: Harness) -> None:
    h = manual
    counter = CommandCounter(h.dovecot.port)
    try:
        costs = {}
        for size, user in ((5, "UALICE"), (300, "UBOB")):
            account = h.new_account()
            h.dovecot.append_many(
                account.address,
                [make_email(to=account.address, subject=f"old {n}") for n in range(size)],
            )
            mailbox = h.connect(account, user=user, imap_port=str(counter.port))
            h.sync(mailbox.id)  # the first run settles the cursor at "now"
            counter.take()
            result = h.sync(mailbox.id)
            assert (result.new, result.error) == (0, None)
            costs[size] = [line.split(b" ")[1].upper() for line in counter.take()]
        assert costs[5] == costs[300], costs
        # LOGIN, CAPABILITY/ENABLE, one STATUS per folder, LOGOUT: no SEARCH, SELECT or FETCH.
        assert len(costs[300]) <= 8, costs[300]
        assert not {b"FETCH", b"SEARCH", b"SELECT", b"EXAMINE", b"UID"} & set(costs[300])
    finally:
        counter.close()


def test_sync_never_marks_mail_as_read(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    for n in range(3):
        h.deliver(account, make_email(to=account.address, subject=f"Unread {n}"))
    assert h.sync(mailbox.id).posted == 3
    flags = h.dovecot.flags(account.address)
    assert len(flags) == 3
    assert all("\\Seen" not in f for f in flags.values()), flags


@pytest.mark.parametrize(("backfill", "expected"), [("0", 0), ("1", 2), ("7", 2)])
def test_backfill_brings_in_existing_mail_only_when_asked(
    harness: Harness, backfill: str, expected: int
) -> None:
    h = harness
    account = h.new_account()
    for n in range(2):
        h.deliver(account, make_email(to=account.address, subject=f"Before connecting {n}"))
    mailbox = h.connect(account, backfill=backfill)
    h.sync(mailbox.id)
    assert len([m for m in email_posts(h) if "Before connecting" in rendered(m)]) == expected
    h.deliver(account, make_email(to=account.address, subject="After connecting"))
    h.sync(mailbox.id)
    assert len([m for m in email_posts(h) if "After connecting" in rendered(m)]) == 1


# --- UIDVALIDITY ----------------------------------------------------------------------------------


def test_uidvalidity_change_rescans_without_reposting(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    no_id = (
        b"From: Nobody <nobody@customer.test>\r\nTo: "
        + account.address.encode()
        + b"\r\nSubject: No id here\r\nDate: "
        + formatdate().encode()
        + b"\r\n\r\nThis mail has no Message-ID.\r\n"
    )
    h.deliver(account, make_email(to=account.address, subject="Before renumbering"))
    h.deliver(account, no_id)
    assert h.sync(mailbox.id).posted == 2
    new_validity = h.dovecot.set_uidvalidity_changed(account.address)
    h.deliver(account, make_email(to=account.address, subject="After renumbering"))
    result = h.sync(mailbox.id)
    assert (result.posted, result.error) == (1, None)
    texts = [rendered(m) for m in email_posts(h)]
    assert sum("Before renumbering" in t for t in texts) == 1
    assert sum("No id here" in t for t in texts) == 1
    assert sum("After renumbering" in t for t in texts) == 1
    with h.ctx.db.session() as session:
        state = session.exec(
            select(FolderState).where(
                FolderState.mailbox_id == mailbox.id, FolderState.folder == "INBOX"
            )
        ).one()
    assert state.uidvalidity == new_validity


# --- One run at a time, no mailbox waits on another -----------------------------------------------


def test_racing_syncs_of_one_mailbox_post_each_mail_once(harness_any_db: Harness) -> None:
    h = harness_any_db
    account = h.new_account()
    mailbox = h.connect(account)
    h.dovecot.append_many(
        account.address, [make_email(to=account.address, subject=f"Race {n}") for n in range(5)]
    )
    results = []
    workers = [
        threading.Thread(target=lambda: results.append(h.ctx.sync.run(mailbox.id)))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    h.sync(mailbox.id)
    assert sum(r.posted for r in results) <= 5
    posts = [json.dumps(m.get("blocks")) for m in h.slack.top_level(CHANNEL)]
    for n in range(5):
        assert sum(f"Race {n}" in p for p in posts) == 1, n


@pytest.fixture
def fast_polling(harness_with: HarnessFactory) -> Harness:
    return harness_with(SYNC_INTERVAL_SECONDS="1", IMAP_TIMEOUT_SECONDS="5")


def test_a_hanging_mailbox_does_not_delay_a_healthy_one(
    fast_polling: Harness, silent_server: SilentServer
) -> None:
    h = fast_polling
    silent = silent_server
    healthy_account = h.new_account()
    healthy = h.connect(healthy_account, user="UALICE", channel="C_OK")
    broken = h.connect(user="UBOB", channel="C_BROKEN")
    h.ctx.mailboxes.set_fields(broken.id, imap_port=silent.port)
    wait_until(lambda: silent.accepted, message="the broken mailbox's sync hangs")

    for n in range(2):
        h.deliver(
            healthy_account, make_email(to=healthy_account.address, subject=f"Still flowing {n}")
        )
        # One poll interval plus a sync: well inside the 5 seconds the broken one hangs for.
        wait_until(
            lambda n=n: any(f"Still flowing {n}" in rendered(m) for m in email_posts(h, "C_OK")),
            timeout=3,
            message=f"mail {n} in the healthy mailbox's channel",
        )
    wait_until(
        lambda: h.ctx.mailboxes.get(broken.id).consecutive_failures >= 1,
        timeout=10,
        message="the broken mailbox's failure recorded",
    )
    assert h.ctx.mailboxes.get(healthy.id).health == "ok"
    assert "did not answer" in h.ctx.mailboxes.get(broken.id).last_error
