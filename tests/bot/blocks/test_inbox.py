"""Team inbox blocks (thread state and buttons, modals, /mail-inbox, saved replies), as plain
dicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

from bot.blocks.inbox import (
    CONTACTS_ACTION,
    assigned_note,
    compose_modal,
    composed_root_blocks,
    status_note,
    template_list_blocks,
    template_reply_modal,
    triage_blocks,
    waiting_list_blocks,
    when_modal,
    without_triage,
)
from bot.inbox.waiting import WaitingThread
from locales import speaking
from storage.models import Conversation, Mailbox, ReplyTemplate, ThreadStatus
from tests.support.block_kit import action_ids

HOSTILE = "<!channel> <@U999> <https://evil|https://bank>"


def test_triage_blocks_in_spanish() -> None:
    with speaking("es"):
        triage = triage_blocks(ThreadStatus.OPEN, "U123")
    state = triage[0]["elements"][0]["text"]
    assert (
        state
        == ":large_orange_circle: *Abierta*: el cliente espera una respuesta · Asignada a <@U123>"
    )
    labels = [e["text"]["text"] for e in triage[1]["elements"]]
    assert labels[:2] == ["Asignármela", "Asignar…"]
    assert action_ids(triage)[:2] == ["triage_assign_me", "triage_assign"]


def test_triage_buttons_follow_the_status() -> None:
    open_ = triage_blocks(ThreadStatus.OPEN, None)
    assert open_[0]["elements"][0]["text"].endswith("· Unassigned")
    assert action_ids(open_) == [
        "triage_assign_me",
        "triage_assign",
        "triage_done",
        "triage_snooze",
        "template_reply_open",
    ]
    until = datetime(2024, 5, 6, 7, 8, tzinfo=UTC)
    snoozed = triage_blocks(ThreadStatus.SNOOZED, "U1", until)
    assert snoozed[0]["elements"][0]["text"].startswith(
        f":zzz: *Snoozed* until <!date^{int(until.timestamp())}^"
    )
    assert "triage_reopen" in action_ids(snoozed) and "triage_done" not in action_ids(snoozed)
    assert "triage_reopen" in action_ids(triage_blocks(ThreadStatus.DONE, "U1"))


def test_without_triage_keeps_only_the_mail_blocks() -> None:
    mail = [{"type": "section", "text": {"type": "mrkdwn", "text": "mail"}}]
    assert without_triage(mail + triage_blocks(ThreadStatus.WAITING, "U1")) == mail


def test_notes_name_who_did_what() -> None:
    assert assigned_note("U1", "U1") == ":raising_hand: <@U1> took this conversation."
    assert assigned_note("U1", "U2") == (":point_right: <@U1> assigned this conversation to <@U2>.")
    assert status_note(None, ThreadStatus.DONE) == (
        ":white_check_mark: Mailroom marked this conversation done."
    )
    assert status_note("U1", ThreadStatus.OPEN).endswith("<@U1> reopened this conversation.")


def test_when_modal_starts_today_in_the_persons_zone_and_survives_a_bad_zone() -> None:
    view = when_modal("triage_snooze", "Snooze", "42", "Not/AZone", submit="Snooze")
    assert view["callback_id"] == "triage_snooze" and view["private_metadata"] == "42"
    day, clock = view["blocks"]
    assert day["element"]["initial_date"] == datetime.now(UTC).date().isoformat()
    assert clock["element"]["initial_time"] == "09:00"
    assert clock["hint"]["text"] == "In your time zone (Not/AZone)."


def test_waiting_list_escapes_mail_text_and_counts_mine_and_unassigned() -> None:
    mailbox = Mailbox(id=1, team_id="T", kind="shared", owner_id="U", address="ventas@acme.test")
    since = datetime(2024, 1, 1, tzinfo=UTC)
    items = [
        WaitingThread(
            Conversation(
                id=i,
                mailbox_id=1,
                channel_id="C1",
                subject=HOSTILE if i == 0 else f"Pedido {i}",
                customer_address="ana@cliente.test",
                assignee_id="UME" if i % 2 == 0 else None,
            ),
            mailbox,
            since,
            link=f"https://slack.test/p{i}" if i == 0 else "",
        )
        for i in range(23)
    ]
    text, blocks = waiting_list_blocks(items, "UME")
    assert text == ":inbox_tray: 12 assigned to you, 11 unassigned — oldest first."
    shown = json.dumps(blocks, ensure_ascii=False)
    assert "<!channel>" not in shown and "<@U999>" not in shown
    first = blocks[1]["text"]["text"].splitlines()[0]
    assert first.startswith("• <https://slack.test/p0|&lt;!channel&gt; &lt;@U999&gt;")
    assert "ana@cliente.test · ventas@acme.test · you · waiting since" in first
    assert "Pedido 1 — ana@cliente.test · ventas@acme.test · unassigned" in shown
    assert len(blocks) == 1 + 4 + 1  # heading, 20 lines five by five, "and 3 more"
    assert blocks[-1]["elements"][0]["text"] == "…and 3 more."
    text, _ = waiting_list_blocks([], "UME")
    assert text.startswith(":tada: Nothing is waiting")


def test_composed_root_escapes_the_persons_text_and_carries_the_triage() -> None:
    text, blocks = composed_root_blocks(
        "UA",
        "ventas@acme.test",
        ["<!here>@x.test"],
        ["cc@x.test"],
        HOSTILE,
        HOSTILE,
        "UA",
        files=["<@U1>.pdf"],
    )
    shown = json.dumps(blocks) + text
    for raw in ("<!here>", "<!channel>", "<@U999>", "<https://evil", "<@U1>"):
        assert raw not in shown
    assert blocks[0]["text"]["text"].startswith(
        ":outbox_tray: <@UA> wrote from ventas@acme.test to &lt;!here&gt;@x.test (Cc cc@x.test)"
    )
    assert blocks[2]["elements"][0]["text"] == ":paperclip: &lt;@U1&gt;.pdf"
    assert "triage_done" in action_ids(blocks)
    assert blocks[-2]["elements"][0]["text"].startswith(":large_blue_circle: *Waiting*")


def test_compose_modal_asks_contacts_for_to_and_cc() -> None:
    view = compose_modal([("ventas@acme.test", "1"), ("soporte@acme.test", "2")], max_files=3)
    assert view["callback_id"] == "mail_compose"
    by_id = {b["block_id"]: b for b in view["blocks"]}
    assert set(by_id) == {"from", "to", "cc", "subject", "body", "files"}
    assert by_id["to"]["element"]["action_id"] == CONTACTS_ACTION
    assert by_id["cc"]["optional"] is True and by_id["to"].get("optional") is not True
    assert by_id["files"]["element"]["max_files"] == 3


def test_template_reply_modal_preselects_the_chosen_template() -> None:
    view = template_reply_modal(7, [("Thanks", "1"), ("Refund", "2")], "2", "Hello {name}")
    assert json.loads(view["private_metadata"]) == {"conversation": 7, "template": "2"}
    picker = view["blocks"][0]["elements"][0]
    assert picker["action_id"] == "template_pick"
    assert picker["initial_option"]["value"] == "2"
    # A new block per template, so Slack does not keep the text of the previous one.
    assert view["blocks"][1]["block_id"] == "body_2"
    assert view["blocks"][1]["element"]["initial_value"] == "Hello {name}"


def test_template_list_names_the_scope_and_escapes() -> None:
    rows = [
        ReplyTemplate(team_id="T", mailbox_id=None, name="<!here>", body="Hi <@U1>\nmore"),
        SimpleNamespace(mailbox_id=1, name="Refund", body=""),
    ]
    text, blocks = template_list_blocks(rows, {1: "ventas@acme.test"})
    assert text == ":memo: 2 saved replies."
    lines = blocks[1]["text"]["text"].splitlines()
    assert lines == [
        "• *&lt;!here&gt;* (workspace): Hi &lt;@U1&gt;",
        "• *Refund* (ventas@acme.test): ",
    ]
    text, _ = template_list_blocks([], {})
    assert text.startswith("No saved replies yet.")
