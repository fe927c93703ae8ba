"""Campaign blocks (confirmation, progress, list, import report, App Home), as plain dicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

from bot.blocks.campaigns import (
    CANCEL,
    CONFIRM_DOMAIN,
    DISCARD,
    HOME_BLOCK_BUDGET,
    HOME_NEW,
    PAUSE,
    RESUME,
    SCHEDULE,
    SCHEDULE_AT,
    SEND,
    campaign_list,
    confirmation,
    home_section,
    import_report_text,
    progress_bar,
    progress_message,
)
from storage.models import Campaign, CampaignState, RecipientState
from tests.support.block_kit import action_ids

HOSTILE = "<!channel> <@U1> <https://evil|bank>"


def campaign(**fields: object) -> Campaign:
    base: dict[str, object] = {
        "id": 5,
        "team_id": "T1",
        "mailbox_id": 1,
        "audience_id": 1,
        "template_id": 1,
        "name": "Spring sale",
        "domain": "acme.test",
        "domain_verdict": "pass",
        "total": 10,
    }
    base.update(fields)
    return Campaign(**base)  # type: ignore[arg-type]


def assert_inert(*rendered: object) -> None:
    shown = json.dumps(rendered)
    for raw in ("<!channel>", "<@U1>", "<https://evil"):
        assert raw not in shown


def test_a_passing_domain_offers_send_schedule_and_discard() -> None:
    text, blocks = confirmation(
        campaign(name=HOSTILE), "ventas@acme.test", 1200, 3, "100 a day", ["SPF pass"]
    )
    assert text.startswith("Campaign *&lt;!channel&gt; &lt;@U1&gt;")
    assert "*1,200* recipients after suppression (3 suppressed)." in text
    assert action_ids(blocks) == [SEND, SCHEDULE_AT, SCHEDULE, DISCARD]
    assert all(e.get("value", "5") == "5" for e in blocks[-1]["elements"])
    assert_inert(text, blocks)


def test_a_failing_domain_needs_an_admin_until_one_confirmed_it() -> None:
    failing = campaign(domain_verdict="fail")
    text, blocks = confirmation(failing, "v@acme.test", 1, 0, "none", [], warning=HOSTILE)
    assert "*1* recipient after suppression" in text
    assert action_ids(blocks) == [CONFIRM_DOMAIN, DISCARD]
    assert any("`/dkim-check acme.test`" in b.get("text", {}).get("text", "") for b in blocks)
    assert_inert(blocks)
    confirmed = campaign(domain_verdict="unknown", domain_confirmed_by="UADMIN")
    assert SEND in action_ids(confirmation(confirmed, "v@acme.test", 1, 0, "", [])[1])


def test_progress_while_sending_and_when_finished() -> None:
    counts: dict[str, int] = {
        RecipientState.SENT: 4,
        RecipientState.FAILED: 1,
        RecipientState.QUEUED: 5,
    }
    sending = campaign(state=CampaignState.SENDING, note="Waiting for the daily cap")
    text, blocks = progress_message(
        sending, "v@acme.test", counts, 2, eta_seconds=600, uncertain=[HOSTILE], failed=[]
    )
    assert text.startswith(":outbox_tray: Sending: campaign Spring sale from v@acme.test — 4 sent")
    summary = blocks[0]["text"]["text"]
    assert "`██████████░░░░░░░░░░ 50%`" in summary
    assert "about 10 min left" in summary and "_Waiting for the daily cap_" in summary
    assert blocks[1]["text"]["text"].startswith("*Uncertain*")
    assert action_ids(blocks) == [PAUSE, CANCEL]
    assert_inert(blocks)

    done = campaign(state=CampaignState.DONE, note="stale note")
    counts = {RecipientState.SENT.value: 9, RecipientState.FAILED.value: 1}
    text, blocks = progress_message(
        done, "v@acme.test", counts, 0, eta_seconds=0, uncertain=[], failed=[("x@y.test", "550")]
    )
    summary = blocks[0]["text"]["text"]
    assert "100%" in summary and "left" not in summary and "stale note" not in summary
    assert blocks[1]["text"]["text"] == "*Failed*: x@y.test (550)"
    assert action_ids(blocks) == []
    paused = campaign(state=CampaignState.PAUSED)
    _, blocks = progress_message(paused, "v", {}, 0, eta_seconds=0, uncertain=[], failed=[])
    assert action_ids(blocks) == [RESUME, CANCEL]


def test_progress_bar_edges() -> None:
    assert progress_bar(0, 0).endswith(" 100%")
    assert progress_bar(1, 3) == "██████" + "░" * 14 + " 33%"


def test_campaign_list_states_and_times() -> None:
    assert campaign_list([]) == ("No campaigns yet. Start one with `/mail-campaign`.", [])
    started = campaign(
        id=1, name=HOSTILE, state=CampaignState.SENDING, started_at=datetime(2024, 5, 1, 9, 30)
    )
    scheduled = campaign(
        id=2, state=CampaignState.SCHEDULED, scheduled_at=datetime(2024, 6, 1, tzinfo=UTC)
    )
    started_counts: dict[str, int] = {RecipientState.SENT: 3, RecipientState.UNCERTAIN: 1}
    text, blocks = campaign_list([(started, started_counts), (scheduled, {})])
    lines = text.splitlines()
    assert lines[0] == "Campaigns:"
    assert lines[1].endswith("— sending, 3/10 sent, 1 uncertain (started 2024-05-01 09:30 UTC)")
    assert lines[2].startswith("• #2 *Spring sale* — scheduled, 0/10 sent (starts <!date^")
    assert_inert(blocks)


def test_import_report_lists_skipped_rows_and_cuts_long_lists() -> None:
    report = SimpleNamespace(
        audience=HOSTILE,
        added=1500,
        updated=2,
        fields=["first_name", "<b>"],
        invalid=[(n, f"bad{n}", "no @") for n in range(25)] + [(99, "", "empty")],
        duplicates=[(3, "a@x.test")],
        suppressed=[(4, "<@U1>@x.test")],
    )
    text = import_report_text(report)
    lines = text.splitlines()
    assert (
        lines[0]
        == "Audience *&lt;!channel&gt; &lt;@U1&gt; &lt;https://evil|bank&gt;*: added 1,500, updated 2."
    )
    assert lines[1] == "Merge fields: `{first_name}`, `{&lt;b&gt;}`."
    assert lines[2] == "Skipped 28:"
    assert lines[3] == "• line 0: invalid address bad0 — no @"
    assert "• … and 6 more invalid addresses" in lines
    assert "• line 3: duplicate a@x.test" in lines
    assert "• line 4: suppressed &lt;@U1&gt;@x.test (unsubscribed or bounced)" in lines
    assert_inert(text)


def test_home_section_stays_within_its_block_budget() -> None:
    empty = home_section([])
    assert action_ids(empty)[0] == HOME_NEW
    assert "`/mail-audience`" in empty[-1]["elements"][0]["text"]
    rows: list[tuple[Campaign, dict[str, int]]] = [
        (campaign(id=i, name=f"<!here> {i}"), {RecipientState.SENT: i}) for i in range(9)
    ]
    blocks = home_section(rows)
    assert len(blocks) == 2 + 5 <= HOME_BLOCK_BUDGET
    assert blocks[2]["elements"][0]["text"] == "#0 *&lt;!here&gt; 0* — draft, 0/10 sent"
