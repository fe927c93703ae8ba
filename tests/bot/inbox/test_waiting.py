"""What is waiting for an answer (bot/inbox/waiting.py): a person's open threads, assigned to
them or to nobody, the customer waiting longest first, with links; the counts App Home shows.
What /mail-inbox answers is in tests/handlers/commands/test_inbox.py."""

from __future__ import annotations

from bot.inbox import waiting
from tests.support.harness import Harness, make_email
from tests.support.inbox import click, shows
from tests.support.slack_requests import TEAM_ID
from tests.support.threads import CHANNEL, open_thread


def test_waiting_for_lists_mine_and_unassigned_open_threads_oldest_first(
    harness: Harness,
) -> None:
    h = harness
    h.client.command("/mail-role", "<@USALES|sales> sales", "UADMIN")
    account, mailbox_id, first_ts = open_thread(
        h, user="UADMIN", kind="shared", subject="First customer"
    )
    for subject in ("Second customer", "Third customer", "Fourth customer"):
        h.deliver(account, make_email(to=account.address, subject=subject))
        assert h.sync(mailbox_id).posted == 1
    roots = {m["text"].split(": ", 1)[-1]: m["ts"] for m in h.slack.top_level(CHANNEL)}
    click(h, "triage_assign_me", "UADMIN", roots["Second customer"])  # someone else's
    shows(h, roots["Second customer"], "<@UADMIN>")
    click(h, "triage_assign_me", "USALES", roots["Third customer"])
    shows(h, roots["Third customer"], "<@USALES>")
    click(h, "triage_done", "USALES", roots["Fourth customer"])  # not open
    shows(h, roots["Fourth customer"], "Done")

    found = waiting.waiting_for(h.ctx, "USALES", TEAM_ID)
    assert [w.conversation.thread_ts for w in found] == [first_ts, roots["Third customer"]]
    assert all(w.mailbox.id == mailbox_id for w in found)
    assert found[0].since <= found[1].since  # the customer waiting longest first
    assert all(f"/archives/{CHANNEL}/p" in w.link for w in found)
    assert waiting.counts(h.ctx, "USALES", TEAM_ID) == (1, 1)
    assert [m.id for m in waiting.visible_mailboxes(h.ctx, "USALES", TEAM_ID)] == [mailbox_id]

    # Someone with no role sees nothing of the shared mailbox.
    assert waiting.waiting_for(h.ctx, "UBOB", TEAM_ID) == []
    assert waiting.counts(h.ctx, "UBOB", TEAM_ID) == (0, 0)


def test_our_answer_ends_the_wait_and_the_customers_next_mail_starts_it_again(
    harness: Harness,
) -> None:
    h = harness
    account, mailbox_id, ts = open_thread(h, user="UALICE", message_id="<w-1@customer.test>")
    conversation = waiting.waiting_for(h.ctx, "UALICE", TEAM_ID)[0].conversation
    first_wait = waiting.waiting_since(h.ctx, conversation.id)
    assert first_wait is not None

    h.reply(CHANNEL, ts, "Here is our answer.")
    h.smtp.wait_for_messages(1)
    shows(h, ts, "Waiting")
    assert waiting.waiting_for(h.ctx, "UALICE", TEAM_ID) == []  # waiting on the customer now

    h.deliver(
        account,
        make_email(
            to=account.address,
            subject="Re: Question about pricing",
            in_reply_to="<w-1@customer.test>",
            references="<w-1@customer.test>",
        ),
    )
    assert h.sync(mailbox_id).posted == 1
    shows(h, ts, "Open")
    again = waiting.waiting_since(h.ctx, conversation.id)
    assert again is not None and again >= first_wait
    assert [w.conversation.id for w in waiting.waiting_for(h.ctx, "UALICE", TEAM_ID)] == [
        conversation.id
    ]
