"""The team inbox modals' submissions: what the compose modal answers when its files are not
the person's to send."""

from __future__ import annotations

from sqlmodel import select

from storage.models import Conversation, Message
from tests.support.harness import Harness
from tests.support.inbox import compose_values, open_compose, submit
from tests.support.threads import CHANNEL


def test_a_file_somebody_else_uploaded_is_refused_and_nothing_is_sent(harness: Harness) -> None:
    h = harness
    mailbox = h.connect(user="UALICE", kind="personal", channel=CHANNEL)
    mine = h.slack.add_file("mine.txt", b"mine", mimetype="text/plain", user="UALICE")
    theirs = h.slack.add_file("payroll.csv", b"name,salary\n", user="UBOB")
    view = open_compose(h, "UALICE")
    values = compose_values(mailbox.id, ["carla@customer.example.com"], files=[mine, theirs])
    errors = submit(h, view, "UALICE", values)["errors"]
    assert list(errors) == ["files"]
    assert "payroll.csv was not uploaded by you" in errors["files"]
    # An id that Slack does not know is refused too.
    forged = compose_values(mailbox.id, ["carla@customer.example.com"], files=[{"id": "FNOPE"}])
    assert "no longer in Slack" in submit(h, view, "UALICE", forged)["errors"]["files"]
    # Refused before anything was recorded: with no outbound row there is nothing any worker
    # could send later (the answer above came after the check, so no wait is needed).
    with h.ctx.db.session() as session:
        assert session.exec(select(Message).where(Message.direction == "out")).all() == []
        assert session.exec(select(Conversation)).all() == []
    assert h.smtp.messages == []
    assert h.slack.calls_to("files-pri") == []
