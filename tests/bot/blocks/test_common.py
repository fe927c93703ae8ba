"""bot.blocks.common: the small Block Kit pieces every builder uses, as plain dicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.blocks.common import (
    SECTION_LIMIT,
    channel_link,
    context,
    human_size,
    modal,
    plain,
    section,
    select_input,
    slack_date,
    text_input,
)
from locales import speaking


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("C0123ABC", "<#C0123ABC>"),
        ("G0123ABC", "<#G0123ABC>"),
        (None, "none"),
        ("", "none"),
        ("C1> <!channel", "`C1&gt; &lt;!channel`"),
        ("U123", "`U123`"),
        ("C1`x", "`C1'x`"),
    ],
)
def test_a_channel_id_is_a_link_only_when_well_formed(stored: str | None, shown: str) -> None:
    assert channel_link(stored) == shown


def test_texts_are_cut_to_slacks_limits() -> None:
    assert len(plain("x" * 500)["text"]) == 150
    long = section("a" * (SECTION_LIMIT + 10))["text"]["text"]
    assert len(long) == SECTION_LIMIT and long.endswith("…")
    block = context("one", "", *[str(i) for i in range(20)])
    assert [e["text"] for e in block["elements"]][:2] == ["one", "0"]
    assert len(block["elements"]) == 10  # Slack's limit; empty texts dropped first


def test_a_modal_translates_its_default_buttons_when_built() -> None:
    with speaking("es"):
        view = modal("A title much longer than Slack allows", [], callback_id="cb")
    assert (view["submit"]["text"], view["close"]["text"]) == ("Guardar", "Cancelar")
    assert view["title"]["text"] == "A title much longer than"  # 24 characters
    english = modal("T", [section("b")] * 120, callback_id="cb", submit=None)
    assert "submit" not in english and english["close"]["text"] == "Cancel"
    assert len(english["blocks"]) == 100


def test_inputs_read_back_under_the_value_action_id() -> None:
    block = text_input("subject", "Subject", initial="Hi", optional=True, hint="h")
    assert block["block_id"] == "subject" and block["optional"] is True
    assert block["element"] == {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": False,
        "initial_value": "Hi",
    }
    chosen = select_input(
        "kind",
        "Kind",
        [("Shared", "shared"), ("Personal", "personal")],
        initial="personal",
        dispatch=True,
    )
    assert chosen["element"]["initial_option"]["value"] == "personal"
    assert chosen["dispatch_action"] is True
    assert "initial_option" not in select_input("k", "K", [("A", "a")], initial="zzz")["element"]


def test_human_sizes() -> None:
    assert [human_size(n) for n in (0, 1023, 1024, 5 * 1024 * 1024, 3 * 1024**4)] == [
        "0 B",
        "1023 B",
        "1.0 KB",
        "5.0 MB",
        "3072.0 GB",
    ]


def test_a_date_reads_a_naive_time_as_utc_and_falls_back_to_utc() -> None:
    naive = datetime(2024, 1, 2, 3, 4)
    aware = datetime(2024, 1, 2, 5, 4, tzinfo=timezone(timedelta(hours=2)))
    stamp = int(datetime(2024, 1, 2, 3, 4, tzinfo=UTC).timestamp())
    for value in (naive, aware):
        # The same moment, and a fallback that says it in UTC (not 05:04 labelled UTC).
        assert slack_date(value) == (
            f"<!date^{stamp}^{{date_short_pretty}} at {{time}}|2024-01-02 03:04 UTC>"
        )
    assert slack_date(aware, words=False) == (
        f"<!date^{stamp}^{{date_short_pretty}} {{time}}|2024-01-02 03:04 UTC>"
    )
