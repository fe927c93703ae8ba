"""/mail-connect end to end: the real modal submission against Dovecot and aiosmtpd."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support.harness import Harness, HarnessFactory, SilentServer
from tests.support.mail_servers import free_port
from tests.support.wait import wait_until


def assert_sentence(text: str) -> None:
    assert text.rstrip().endswith((".", ")", '"')), text
    assert "Traceback" not in text and "Error(" not in text


def test_good_credentials_save_encrypted_mailbox_join_channel_and_schedule_sync(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    account = h.new_account()
    answer = h.submit_connect(h.connect_values(account))
    assert answer["response_action"] == "update"
    assert account.address in json.dumps(answer["view"])

    mailbox = h.mailbox_by_address(account.address)
    assert mailbox is not None and mailbox.kind == "personal" and mailbox.owner_id == "UALICE"
    assert mailbox.channel_id == "C_SALES" and mailbox.imap_port == h.dovecot.port
    assert h.ctx.mailboxes.secrets(mailbox)["imap_password"] == account.password
    # No file of the database (WAL included) holds the password in the clear.
    db_files = list(tmp_path.glob("mailroom*.db*"))
    assert db_files
    for path in db_files:
        assert account.password.encode() not in path.read_bytes(), path

    joins = h.slack.calls_to("conversations.join")
    assert [c.params["channel"] for c in joins] == ["C_SALES"]
    assert h.ctx.scheduler.has(f"sync:{mailbox.id}")
    # The scheduled first sync runs by itself and marks the mailbox healthy.
    wait_until(lambda: h.ctx.mailboxes.get(mailbox.id).health == "ok", message="first sync")


BAD_INPUTS = [
    # (overrides, field, words in the answer)
    ({"imap_password": "wrong-password"}, "imap_password", "refused the username or password"),
    ({"smtp_password": "wrong-password"}, "smtp_password", "refused the username or password"),
    ({"imap_port": "CLOSED"}, "imap_host", "connection refused"),
    ({"imap_security": "ssl"}, "imap_security", "secure (TLS) connection"),
    ({"imap_host": "10.255.255.1"}, "imap_host", "private network address"),
    ({"smtp_host": "169.254.169.254"}, "smtp_host", "cloud metadata address"),
    ({"address": "not-an-address"}, "address", "full email address"),
    ({"imap_port": "imap"}, "imap_port", "port number"),
    ({"smtp_port": "70000"}, "smtp_port", "between 1 and 65535"),
]


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    BAD_INPUTS,
    ids=[case[1] + ":" + next(iter(case[0].values())) for case in BAD_INPUTS],
)
def test_bad_input_answers_on_the_right_field(
    harness: Harness, overrides: dict, field: str, words: str
) -> None:
    h = harness
    account = h.new_account()
    if overrides.get("imap_port") == "CLOSED":
        overrides = {"imap_port": str(free_port())}
    answer = h.submit_connect(h.connect_values(account, **overrides))
    assert answer["response_action"] == "errors", answer
    assert field in answer["errors"], answer["errors"]
    assert words in answer["errors"][field]
    for message in answer["errors"].values():
        assert_sentence(message)
        assert account.password not in message
    assert h.mailbox_by_address(account.address) is None
    assert not h.slack.calls_to("conversations.join")


def test_second_personal_mailbox_for_the_same_user_is_refused(harness: Harness) -> None:
    h = harness
    first = h.connect(user="UALICE")
    account = h.new_account()
    answer = h.submit_connect(h.connect_values(account), user="UALICE")
    assert answer["response_action"] == "errors"
    assert first.address in answer["errors"]["kind"]
    assert_sentence(answer["errors"]["kind"])
    assert h.mailbox_by_address(account.address) is None
    # Someone else may still connect their own.
    h.connect(user="UBOB")


def test_second_shared_mailbox_is_refused(harness: Harness) -> None:
    h = harness
    h.connect(user="UADMIN", kind="shared")
    account = h.new_account()
    answer = h.submit_connect(h.connect_values(account, kind="shared"), user="UADMIN")
    assert answer["response_action"] == "errors"
    assert "one per workspace" in answer["errors"]["kind"]
    assert h.mailbox_by_address(account.address) is None


def test_non_admin_cannot_choose_shared(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    for kind in ("shared", "marketing"):
        answer = h.submit_connect(h.connect_values(account, kind=kind), user="UBOB")
        assert answer["response_action"] == "errors"
        assert "Only Mailroom admins" in answer["errors"]["kind"]
    assert h.mailbox_by_address(account.address) is None


def test_private_channel_explains_how_to_invite_the_bot(harness: Harness) -> None:
    h = harness
    h.slack.add_channel("G_PRIV", "deals", is_private=True, members=["UALICE"])
    account = h.new_account()
    # Mailroom cannot see who is in it until invited: it says how, and saves nothing.
    answer = h.submit_connect(h.connect_values(account, channel="G_PRIV"))
    assert answer["response_action"] == "errors"
    assert "/invite @Mailroom" in answer["errors"]["channel"]
    assert h.mailbox_by_address(account.address) is None
    h.slack.add_channel("G_PRIV", "deals", is_private=True, is_member=True, members=["UALICE"])
    answer = h.submit_connect(h.connect_values(account, channel="G_PRIV"))
    assert answer["response_action"] == "update"
    assert h.mailbox_by_address(account.address) is not None


@pytest.fixture
def quick_timeout_harness(harness_with: HarnessFactory) -> Harness:
    return harness_with(IMAP_TIMEOUT_SECONDS="4")


def test_slow_server_acks_with_testing_view_then_updates_with_the_outcome(
    quick_timeout_harness: Harness, silent_server: SilentServer
) -> None:
    h = quick_timeout_harness
    h.client.command("/mail-connect", "", "UALICE")
    opened = wait_until(h.slack.last_view, message="connect modal opened")
    account = h.new_account()
    started = time.monotonic()
    answer = h.submit_connect(
        h.connect_values(account, imap_port=str(silent_server.port)),
        view=opened,
        view_id=opened["id"],
    )
    assert time.monotonic() - started < 3.0
    assert answer["response_action"] == "update"
    assert answer["view"]["callback_id"] == "mail_connect_testing"

    update = wait_until(
        lambda: h.slack.calls_to("views.update"),
        timeout=15,
        message="views.update with the test outcome",
    )[0]
    assert update.params["view_id"] == opened["id"]
    shown = json.dumps(update.params["view"])
    assert "did not answer within 4 seconds" in shown
    assert silent_server.accepted  # the test really reached the hanging server
    assert h.mailbox_by_address(account.address) is None


def test_a_slow_slack_during_the_checks_still_gets_its_ack_in_time(harness: Harness) -> None:
    """The submission's own checks ask Slack (may this person use the channel?): when Slack
    hangs there, the ack still comes within the budget, and the outcome follows."""
    h = harness
    h.client.command("/mail-connect", "", "UALICE")
    opened = wait_until(h.slack.last_view, message="connect modal opened")
    account = h.new_account()
    stall = h.slack.stall("conversations.info")
    try:
        started = time.monotonic()
        answer = h.submit_connect(h.connect_values(account), view=opened, view_id=opened["id"])
        assert time.monotonic() - started < 3.0
        assert stall.entered.is_set()  # the check really was waiting on Slack
    finally:
        stall.set()
    assert answer["response_action"] == "update"
    assert answer["view"]["callback_id"] == "mail_connect_testing"
    update = wait_until(
        lambda: h.slack.calls_to("views.update"), timeout=15, message="the outcome"
    )[0]
    assert update.params["view_id"] == opened["id"]
    assert account.address in json.dumps(update.params["view"])
    wait_until(lambda: h.mailbox_by_address(account.address), message="the mailbox saved after all")


def test_slow_outcome_reaches_a_person_who_closed_the_modal(
    quick_timeout_harness: Harness, silent_server: SilentServer
) -> None:
    h = quick_timeout_harness
    account = h.new_account()
    # The modal this submission came from is no longer open: views.update cannot reach it.
    answer = h.submit_connect(
        h.connect_values(account, imap_port=str(silent_server.port)), view_id="V_CLOSED"
    )
    assert answer["response_action"] == "update"
    dm = wait_until(
        lambda: [m for m in h.slack.messages("UALICE") if "connection test" in m["text"]],
        timeout=15,
        message="the outcome as a DM",
    )[0]
    assert account.address in dm["text"] and "did not answer within 4 seconds" in dm["text"]
    assert "/mail-connect" in dm["text"]
    assert h.slack.calls_to("views.update")[0].response["error"] == "not_found"
