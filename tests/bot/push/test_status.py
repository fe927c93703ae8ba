"""What people and operators see about push (bot.push.status): /mail-status, App Home, /healthz."""

from __future__ import annotations

import json

from bot.push import engine_of
from bot.push.watcher import State
from tests.bot.push.dovecot_configs import NO_IDLE_DOVECOT
from tests.bot.push.live import connect_live, posts_with
from tests.support.ephemerals import status_text
from tests.support.harness import Harness, HarnessFactory, make_email
from tests.support.mail_servers import DovecotServer, require_dovecot
from tests.support.wait import wait_until


def test_server_without_idle_is_polled_and_status_says_why(
    harness_with: HarnessFactory,
) -> None:
    require_dovecot()
    with DovecotServer(extra_config=NO_IDLE_DOVECOT) as server:
        h = harness_with(dovecot=server, SYNC_PUSH="on", SYNC_INTERVAL_SECONDS="2")
        account = h.new_account()
        mailbox = h.connect(account, channel="C_POLL")
        engine = engine_of(h.ctx)
        assert engine is not None
        wait_until(
            lambda: (s := engine.state_of(mailbox.id)) and s[0] == State.POLLING,  # type: ignore[arg-type]
            timeout=10,
            message="polling",
        )
        h.deliver(account, make_email(to=account.address, subject="Polled mail"))
        wait_until(lambda: posts_with(h, "C_POLL", "Polled mail"), timeout=10)
        text = status_text(h)
        assert "polling" in text and "does not offer IMAP IDLE" in text
        health = h.client.client.get("/healthz").json()
        assert health["sync_modes"]["polling"] == 1 and health["sync_modes"]["live"] == 0
        h.mailroom.stop()


def test_status_home_and_healthz_say_live(push_app: Harness) -> None:
    h = push_app
    connect_live(h, "C_SEE")
    assert "Sync: *live*" in status_text(h)
    health = h.client.client.get("/healthz").json()
    assert health["sync_modes"]["live"] == 1
    assert health["push"]["enabled"] is True and health["push"]["open_files"]["ok"] is True
    h.client.event({"type": "app_home_opened", "user": "UALICE", "tab": "home"})
    wait_until(
        lambda: "Sync: *live*" in json.dumps(h.slack.home_view("UALICE") or {}),
        timeout=10,
        message="App Home says live",
    )
