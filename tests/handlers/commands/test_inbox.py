"""/mail-inbox: the open threads for a person, oldest first, with links; App Home shows the
same counts."""

from __future__ import annotations

import json

from tests.support.harness import Harness, make_email
from tests.support.inbox import click, inbox_answer, shows
from tests.support.slack_requests import app_home_opened
from tests.support.threads import CHANNEL, open_thread
from tests.support.wait import wait_until


def test_mail_inbox_lists_mine_and_unassigned_oldest_first_with_links(harness: Harness) -> None:
    h = harness
    h.client.command("/mail-role", "<@USALES|sales> sales", "UADMIN")
    account, mailbox_id, first_ts = open_thread(
        h, user="UADMIN", kind="shared", subject="First customer"
    )
    for subject in ("Second customer", "Third customer"):
        h.deliver(account, make_email(to=account.address, subject=subject))
        assert h.sync(mailbox_id).posted == 1
    roots = {m["text"].split(": ", 1)[-1]: m["ts"] for m in h.slack.top_level(CHANNEL)}
    second_ts, third_ts = roots["Second customer"], roots["Third customer"]
    click(h, "triage_assign_me", "UADMIN", second_ts)  # someone else's: not listed for USALES
    shows(h, second_ts, "<@UADMIN>")
    click(h, "triage_assign_me", "USALES", third_ts)
    shows(h, third_ts, "<@USALES>")

    answer = inbox_answer(h, "USALES")
    text = json.dumps(answer["blocks"])
    assert "1 assigned to you, 1 unassigned" in answer["text"]
    assert "First customer" in text and "Third customer" in text
    assert "Second customer" not in text
    assert text.index("First customer") < text.index("Third customer")  # oldest first
    assert f"/archives/{CHANNEL}/p{first_ts.replace('.', '')}" in text

    # Bob (no role) sees nothing of the shared mailbox.
    assert "Nothing is waiting" in inbox_answer(h, "UBOB")["text"]

    # A thread marked Done leaves the list; App Home shows the same counts.
    click(h, "triage_done", "USALES", first_ts)
    shows(h, first_ts, "Done")
    assert "1 assigned to you, 0 unassigned" in inbox_answer(h, "USALES")["text"]
    before = len(h.slack.calls_to("views.publish"))
    h.client.event(app_home_opened("USALES"))
    wait_until(lambda: len(h.slack.calls_to("views.publish")) > before, message="home")
    home = json.dumps(h.slack.home_view("USALES")["blocks"])
    assert "1 assigned to you, 0 unassigned" in home
