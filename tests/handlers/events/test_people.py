"""user_change: a person's profile changed, so their next answer is in their new language."""

from __future__ import annotations

from tests.support.contacts import USAGE_EN, USAGE_ES, contact_usage
from tests.support.harness import Harness
from tests.support.wait import wait_until


def test_user_change_makes_the_next_answer_use_the_new_language(harness: Harness) -> None:
    h = harness
    assert contact_usage(h, "UBOB").startswith(USAGE_EN)
    h.slack.set_locale("UBOB", "es-ES")
    # Cached until Slack says the profile changed.
    assert contact_usage(h, "UBOB").startswith(USAGE_EN)
    response = h.client.event(
        {
            "type": "user_change",
            "user": {"id": "UBOB", "team_id": "T_MAILROOM", "name": "ubob", "locale": "es-ES"},
            "event_ts": "1700000000.000100",
        }
    )
    assert response.status_code == 200, response.text
    wait_until(lambda: h.ctx.languages.of("UBOB") == "es", message="UBOB's language forgotten")
    assert contact_usage(h, "UBOB").startswith(USAGE_ES)
