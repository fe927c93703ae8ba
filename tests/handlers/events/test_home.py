"""App Home, status and visibility, through signed Slack requests and the real mail servers."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.senders import Senders
from bot.senders.verification import aware
from storage.models import DomainReportRow, Message, SenderVerification
from tests.support.ephemerals import status_text
from tests.support.harness import Harness, HarnessFactory, make_email
from tests.support.home import home_containing, home_text, open_home
from tests.support.ses_server import MotoSes
from tests.support.wait import wait_until


def action_ids(h: Harness, user: str) -> list[tuple[str, str]]:
    view = h.slack.home_view(user)
    assert view is not None
    return [
        (e["action_id"], e.get("value", ""))
        for b in view["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def test_app_home_for_admin_and_sales_and_hidden_mailbox(harness: Harness) -> None:
    h = harness
    h.client.command("/mail-role", "<@USALES> sales", "UADMIN")
    shared = h.connect(user="UADMIN", kind="shared", channel="C_SHARED")
    personal = h.connect(user="USALES", channel="C_SAM")
    domain = shared.address.rpartition("@")[2]
    with h.ctx.db.session() as session:
        session.add(DomainReportRow(team_id="T1", domain=domain, verdict="fail", report_json="{}"))
        session.add(SenderVerification(team_id="T1", identity=shared.address, status="PENDING"))

    admin = open_home(h, "UADMIN")
    assert shared.address in admin and "Shared and marketing mailboxes" in admin
    assert f"*{domain}*: fail" in admin  # the domains' latest DNS verdicts
    assert "Sender verification pending" in admin
    assert ("dkim_check_open", domain) in action_ids(h, "UADMIN")
    assert ("home_toggle_visible", str(shared.id)) in action_ids(h, "UADMIN")

    h.ctx.mailboxes.set_fields(personal.id, send_via="ses")  # needs a verified sender
    sales = open_home(h, "USALES")
    assert shared.address in sales and personal.address in sales
    assert "Not functional:* Sender not verified yet" in sales
    assert "Domains (latest DNS check)" not in sales  # admins only
    # Sales users may use the shared mailbox but not change it.
    assert ("mailbox_toggle_active", str(shared.id)) not in action_ids(h, "USALES")
    assert ("mailbox_toggle_active", str(personal.id)) in action_ids(h, "USALES")

    # The admin hides the shared mailbox from App Home: the sales user's home is refreshed
    # without reopening it, and no picker offers it to them any more.
    h.client.action(
        "home_toggle_visible", str(shared.id), "UADMIN", view=h.slack.home_view("UADMIN")
    )
    wait_until(lambda: shared.address not in home_text(h, "USALES"), message="sales home refreshed")
    assert not h.ctx.mailboxes.get(shared.id).visible
    assert shared.address not in status_text(h, "USALES")
    assert shared.address in status_text(h, "UADMIN")
    admin = home_containing(h, "UADMIN", "hidden (admins only)")
    assert shared.address in admin


def test_inactive_mailbox_refuses_reply_and_sends_nothing(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    h.sync(mailbox.id)
    h.deliver(account, make_email(to=account.address, subject="Pricing"))
    h.sync(mailbox.id)
    root = h.slack.top_level("C_SALES")[0]

    open_home(h, "UALICE")
    h.client.action(
        "mailbox_toggle_active", str(mailbox.id), "UALICE", view=h.slack.home_view("UALICE")
    )
    wait_until(lambda: not h.ctx.mailboxes.get(mailbox.id).active, message="paused")
    home_containing(h, "UALICE", "inactive (sends nothing")
    assert ("mailbox_toggle_active", str(mailbox.id)) in action_ids(h, "UALICE")

    h.reply("C_SALES", root["ts"], "Here is the price.")
    refusal = wait_until(
        lambda: [e for e in h.slack.ephemerals("UALICE") if "inactive" in e["text"]],
        message="refusal",
    )
    assert "nothing was sent" in refusal[0]["text"]
    with h.ctx.db.session() as session:
        assert not session.exec(select(Message).where(Message.direction == "out")).all()
    assert h.smtp.messages == []


@pytest.fixture
def fast_harness(harness_with: HarnessFactory) -> Harness:
    return harness_with(SYNC_INTERVAL_SECONDS="1")


def test_home_refreshes_when_health_changes(fast_harness: Harness) -> None:
    h = fast_harness
    account = h.new_account()
    mailbox = h.connect(account)
    open_home(h, "UALICE")
    home_containing(h, "UALICE", "working")

    # The password changes at the provider: the next scheduled sync fails, and App Home says
    # so by itself, with the reason.
    h.dovecot.add_user(account.address, "changed-elsewhere")
    text = home_containing(h, "UALICE", "Not functional", timeout=15)
    assert mailbox.address in text and ("mailbox_reconnect", str(mailbox.id)) in action_ids(
        h, "UALICE"
    )


def test_home_refreshes_when_a_domain_is_checked_and_a_verification_moves(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    h = senders_harness
    shared = h.connect(user="UADMIN", kind="shared", channel="C_SHARED")
    assert "No domain checked yet" in open_home(h, "UADMIN")

    # /dkim-check stores a report: the admin's home shows the new verdict without reopening.
    h.client.command("/dkim-check", "good.test", "UADMIN")
    home_containing(h, "UADMIN", "*good.test*: pass", timeout=15)

    # /mail-verify on the mailbox: its pending verification shows at once...
    h.client.command("/mail-verify", shared.address, "UADMIN")
    home_containing(h, "UADMIN", f"Sender verification pending for {shared.address}", timeout=15)
    # ...and disappears when SES reports the link clicked.
    senders: Senders = h.ctx.senders
    started = aware(senders.verifications.row("T1", shared.address).started_at)
    ses_endpoint.set_identity_status(shared.address, "SUCCESS")
    senders.follow_due_verifications(now=started + timedelta(minutes=1))
    wait_until(
        lambda: "Sender verification pending" not in home_text(h, "UADMIN"),
        message="the pending verification to leave App Home",
    )


def test_hidden_shared_mailbox_leaves_a_sales_users_listings(harness: Harness) -> None:
    h = harness
    h.client.command("/mail-role", "<@USALES> sales", "UADMIN")
    account = h.new_account()
    shared = h.connect(account, user="UADMIN", kind="shared", channel="C_SHARED")
    h.deliver(account, make_email(sender="carla@customer.test", to=account.address))
    h.sync(shared.id)

    def activity(user: str) -> str:
        before = len(h.slack.ephemerals(user))
        h.client.command("/mail-contact", "carla@customer.test", user)
        return json.dumps(wait_until(lambda: h.slack.ephemerals(user)[before:])[0])

    assert shared.address in activity("USALES") and shared.address in status_text(h, "USALES")
    open_home(h, "UADMIN")
    h.client.action(
        "home_toggle_visible", str(shared.id), "UADMIN", view=h.slack.home_view("UADMIN")
    )
    wait_until(lambda: not h.ctx.mailboxes.get(shared.id).visible, message="hidden")
    assert "No activity" in activity("USALES")
    assert shared.address not in status_text(h, "USALES")
    assert shared.address in activity("UADMIN")  # admins still see it


def test_remove_from_app_home_takes_the_mailbox_off_the_tab(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    assert account.address in open_home(h, "UALICE")
    assert ("mailbox_remove", str(mailbox.id)) in action_ids(h, "UALICE")
    h.client.action("mailbox_remove", str(mailbox.id), "UALICE", view=h.slack.home_view("UALICE"))
    # mailbox_changed republishes the tab of who saw it, now without the mailbox.
    wait_until(
        lambda: account.address not in home_text(h, "UALICE"),
        message="the home without the removed mailbox",
    )
    assert ("mailbox_remove", str(mailbox.id)) not in action_ids(h, "UALICE")
