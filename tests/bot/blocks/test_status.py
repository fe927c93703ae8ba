"""/mail-status blocks, as plain dicts."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.blocks.status import mailbox_status_blocks, status_message
from storage.models import Health, Mailbox


def mailbox(**fields: object) -> Mailbox:
    base = {
        "id": 4,
        "team_id": "T1",
        "kind": "shared",
        "owner_id": "UADMIN",
        "address": "sales@example.com",
        "channel_id": "C_SALES",
        "health": Health.OK,
        "messages_synced": 12,
        "last_success_at": datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
    }
    base.update(fields)
    return Mailbox(**base)  # type: ignore[arg-type]


def buttons(blocks: list[dict]) -> list[tuple[str, str]]:
    return [
        (e["text"]["text"], e["value"])
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"  # (the language menu sits beside them)
    ]


def test_status_shows_the_fields_and_manager_buttons() -> None:
    blocks = mailbox_status_blocks(mailbox(last_error="Login <failed>"), can_manage=True)
    text = blocks[0]["text"]["text"]
    for expected in (
        "*sales@example.com*",
        "shared",
        "working",
        "<#C_SALES>",
        "active",
        "visible",
        "messages synced: 12",
        "2024-05-01 09:30 UTC",
        "Last error: Login &lt;failed&gt;",
    ):
        assert expected in text, expected
    assert buttons(blocks) == [
        ("Sync now", "4"),
        ("Pause", "4"),
        ("Reconnect", "4"),
        ("Remove", "4"),
    ]


def test_remove_asks_first_naming_the_escaped_address() -> None:
    blocks = mailbox_status_blocks(mailbox(address="<!here>@example.com"), can_manage=True)
    remove = next(e for e in blocks[1]["elements"] if e.get("action_id") == "mailbox_remove")
    confirm = remove["confirm"]
    assert confirm["style"] == "danger" and confirm["confirm"]["text"] == "Remove"
    assert "Remove &lt;!here&gt;@example.com?" in confirm["text"]["text"]
    assert "Its threads stay in Slack." in confirm["text"]["text"]
    assert "<!here>" not in str(blocks)


def test_viewer_gets_sync_now_only_and_inactive_offers_activate() -> None:
    assert buttons(mailbox_status_blocks(mailbox(), can_manage=False)) == [("Sync now", "4")]
    paused = mailbox_status_blocks(
        mailbox(active=False, health=Health.NEEDS_ATTENTION), can_manage=True
    )
    assert ("Activate", "4") in buttons(paused)
    text = paused[0]["text"]["text"]
    assert "inactive" in text and "needs attention" in text


def test_status_message_empty_and_many() -> None:
    text, blocks = status_message([])
    assert "/mail-connect" in text and len(blocks) == 1
    many = [(mailbox(id=i, address=f"m{i}@example.com"), True, []) for i in range(30)]
    _, blocks = status_message(many, ["Domain example.com: DKIM ok"])
    assert len(blocks) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")


def test_status_footer_shows_without_mailboxes() -> None:
    text, blocks = status_message([], ["*example.com*: DNS verdict pass"])
    assert "No mailboxes yet" in text
    assert any(b["type"] == "context" and "example.com" in str(b) for b in blocks)
