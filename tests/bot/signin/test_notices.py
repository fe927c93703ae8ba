"""Who hears about sign-in trouble (bot.signin.notices): the admins' channel, else
MAILROOM_ADMINS, else the workspace's known admins; a refused client secret alerts each of
them once; a message Slack refuses never turns into an error."""

from __future__ import annotations

from bot.signin import notices
from storage.models import Role
from tests.support.harness import HarnessFactory


def test_the_admins_channel_wins_then_the_configured_admins_then_the_known_ones(
    harness_with: HarnessFactory,
) -> None:
    channel = harness_with(MAILROOM_ADMIN_CHANNEL="C_ADMINS", MAILROOM_ADMINS="UZED")
    assert notices.admin_recipients(channel.ctx, "T1") == ["C_ADMINS"]
    # (Each app reads the environment the one before it set: both settings are given.)
    configured = harness_with(MAILROOM_ADMIN_CHANNEL="", MAILROOM_ADMINS="UZED,UADMIN,UZED")
    assert notices.admin_recipients(configured.ctx, "T1") == ["UADMIN", "UZED"]

    known = harness_with(MAILROOM_ADMIN_CHANNEL="", MAILROOM_ADMINS="")
    assert notices.admin_recipients(known.ctx, "T1") == []
    known.ctx.roles.user("UADMIN", "T1")  # a Slack workspace admin
    known.ctx.roles.user("UBOB", "T1")
    known.ctx.roles.grant("UALICE", Role.ADMIN, "T1")
    known.ctx.roles.grant("USALES", Role.ADMIN, "T2")  # another workspace's admin
    assert notices.admin_recipients(known.ctx, "T1") == ["UADMIN", "UALICE"]
    assert notices.admin_recipients(known.ctx, "") == ["UADMIN", "UALICE", "USALES"]


def test_a_refused_client_secret_alerts_each_admin_once(harness_with: HarnessFactory) -> None:
    h = harness_with(MAILROOM_ADMINS="UADMIN,UALICE", GOOGLE_CLIENT_SECRET="first-secret")
    for _ in range(3):  # pollers, retries, other processes
        notices.config_fault(h.ctx, "google", "invalid_client", address="ana@good.test")
    for dm_channel in ("DUADMIN", "DUALICE"):
        [alert] = h.slack.messages(dm_channel)
        assert "Google refused Mailroom's client secret" in alert["text"]
        assert "ana@good.test" in alert["text"] and "GOOGLE_CLIENT_SECRET" in alert["text"]


def test_a_message_slack_refuses_is_logged_not_raised(harness_with: HarnessFactory) -> None:
    h = harness_with()
    h.slack.reject("chat.postMessage", lambda params: True, error="user_not_found")
    assert notices.send_once(h.ctx, "signin-test:1", "UGONE", "Hello") is False
    notices.dm(h.ctx, "UGONE", "Hello")
    h.slack.stop_rejecting()
    # Not sent, so the key is free: the next attempt goes out.
    assert notices.send_once(h.ctx, "signin-test:1", "UBOB", "Hello") is True
    assert [m["text"] for m in h.slack.messages("DUBOB")] == ["Hello"]
