"""People and their roles: the stored person behind a first request."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from storage.models import Role
from tests.support.harness import SIGNING_SECRET, Harness
from tests.support.slack_requests import SlackClientForTests
from tests.support.wait import wait_until


def test_two_first_commands_at_once_from_a_new_person_both_answer(
    harness_any_db: Harness,
) -> None:
    """Both requests find no stored user and ask Slack who it is at the same moment (users.info
    held until both are waiting); both then store the person: neither may fail."""
    h = harness_any_db
    h.slack.add_user("UNEWBIE", name="newbie", real_name="Nina Newbie", email="nina@example.com")
    held = h.slack.stall("users.info")
    answers: list[int] = []

    def command() -> None:
        client = SlackClientForTests(TestClient(h.mailroom.web), SIGNING_SECRET, fake_slack=h.slack)
        answers.append(client.command("/mail-status", "", "UNEWBIE").status_code)

    workers = [threading.Thread(target=command) for _ in range(2)]
    for worker in workers:
        worker.start()
    wait_until(lambda: held.held >= 2, timeout=20, message="both requests asking users.info")
    held.release()
    for worker in workers:
        worker.join(30)
    assert answers == [200, 200]
    told = wait_until(
        lambda: len(h.slack.ephemerals("UNEWBIE")) >= 2 and h.slack.ephemerals("UNEWBIE"),
        message="both answers",
    )
    assert all("Something went wrong" not in e["text"] for e in told), told
    user = h.ctx.roles.user("UNEWBIE")
    assert (user.name, user.email, user.role) == ("Nina Newbie", "nina@example.com", Role.NONE)
