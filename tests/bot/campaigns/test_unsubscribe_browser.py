"""The unsubscribe page in a real headless Chromium: it renders under its strict CSP, shows
the escaped address and a button, and loading it (as a link scanner would) unsubscribes
nobody."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator

import pytest
import uvicorn
from sqlmodel import select

from bot.campaigns.unsubscribe import make_token
from storage.models import Campaign, CampaignRecipient, Suppression
from tests.support.harness import Harness
from tests.support.mail_servers import free_port
from tests.support.wait import wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def served(harness: Harness) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(harness.mailroom.web, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, message="the web app listening")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_the_get_page_renders_in_chromium_and_unsubscribes_nobody(
    harness: Harness, served: str, tmp_path: object
) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is required under CI=true (apt-get install -y chromium).")
        pytest.skip("Chromium is not installed")
    h = harness
    mailbox = h.connect(h.new_account(), user="UADMIN", kind="marketing")
    with h.ctx.db.session() as session:
        from storage.models import Audience, CampaignTemplate

        audience = Audience(team_id="T1", name="a")
        template = CampaignTemplate(team_id="T1", name="t", subject="s", body="b")
        session.add(audience)
        session.add(template)
        session.flush()
        campaign = Campaign(
            team_id="T1",
            mailbox_id=mailbox.id,
            audience_id=audience.id,
            template_id=template.id,
            state="done",
        )
        session.add(campaign)
        session.flush()
        row = CampaignRecipient(
            campaign_id=campaign.id, address="o'hara+<b>x</b>@customer.example.com"
        )
        session.add(row)
        session.flush()
        token = make_token(h.ctx, campaign.id, row.id, row.address)
    profile = tmp_path / "chromium"  # type: ignore[operator]
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            f"{served}/unsubscribe/{token}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert '<form method="post"' in dom and "<button" in dom and ">Unsubscribe</button>" in dom
    assert "o'hara+&lt;b&gt;x&lt;/b&gt;@customer.example.com" in dom
    assert "<b>x</b>" not in dom
    with h.ctx.db.session() as session:
        assert session.exec(select(Suppression)).all() == []
