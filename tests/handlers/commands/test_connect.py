"""/mail-connect says which sign-in providers are not configured instead of a dead button."""

from __future__ import annotations

from tests.support.harness import Harness
from tests.support.wait import wait_until


def test_unconfigured_providers_are_named_not_shown_as_buttons(harness: Harness) -> None:
    h = harness  # no GOOGLE_* / MICROSOFT_* settings
    response = h.client.command("/mail-connect", "", "UALICE")
    assert response.status_code == 200
    view = wait_until(lambda: h.slack.last_view(), message="connect modal opened")
    rendered = str(view["blocks"])
    assert "Google and Microsoft sign-in is not configured" in rendered
    assert not any(b.get("block_id") == "sign_in" for b in view["blocks"])
    assert any(b.get("block_id") == "imap_host" for b in view["blocks"])
