"""The buttons on email posts and reply notices (handlers.actions.email), through signed
requests: a value Mailroom did not make opens nothing and sends nothing, with a sentence.
(Who may read a stored mail: tests/bot/test_email_access.py; Try again after a failed send:
tests/bot/test_replies.py.)"""

from __future__ import annotations

from tests.support.ephemerals import answer_to
from tests.support.harness import Harness


def test_show_full_email_with_a_forged_reference_opens_nothing(harness: Harness) -> None:
    h = harness
    h.connect(user="UALICE")
    for forged in ("1", "1.deadbeef", ""):
        assert "not available" in answer_to(h, "email_show_full", forged)
    assert not h.slack.calls_to("views.open")


def test_try_again_with_a_value_that_is_no_waiting_reply_sends_nothing(harness: Harness) -> None:
    h = harness
    h.connect(user="UALICE")
    assert answer_to(h, "reply_retry", "x1") == "That reply is no longer available."
    assert answer_to(h, "reply_retry", "987654") == (
        "That reply is no longer waiting to be retried."
    )
    assert h.smtp.messages == []
