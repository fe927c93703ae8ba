"""The Retry button on the notice of a mail that could not be shown in Slack, through signed
requests: a value that is no mail id, or a mail that is not waiting, gets a sentence and
changes nothing. (A set-aside mail retried end to end: tests/bot/test_sync_isolation.py.)"""

from __future__ import annotations

from sqlmodel import select

from storage.models import Message
from tests.support.ephemerals import answer_to
from tests.support.harness import Harness, make_email

RETRY = "email_ingest_retry"


def test_a_forged_value_is_not_a_mail(harness: Harness) -> None:
    h = harness
    h.connect(user="UALICE")
    assert answer_to(h, RETRY, "12; DROP TABLE") == "That email is not available any more."
    assert answer_to(h, RETRY, "") == "That email is not available any more."


def test_a_mail_that_is_not_waiting_is_not_retried(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE")
    h.sync(mailbox.id)
    h.deliver(account, make_email(to=account.address, subject="Shown fine"))
    assert h.sync(mailbox.id).posted == 1
    with h.ctx.db.session() as session:
        posted = session.exec(select(Message).where(Message.mailbox_id == mailbox.id)).one()
    state = posted.state
    for value in (str(posted.id), "987654"):
        assert answer_to(h, RETRY, value) == "That email is not waiting to be retried any more."
    with h.ctx.db.session() as session:
        assert session.get(Message, posted.id).state == state  # type: ignore[union-attr]
    assert len(h.slack.top_level("C_SALES")) == 1
