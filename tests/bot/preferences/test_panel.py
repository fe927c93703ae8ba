"""bot.preferences.panel: why a mailbox does not work, what App Home lists for each person,
and the App Home refresh when a mailbox changes; which mailbox a command is about
(bot.roles.choose_mailbox, offered by the panel's pickers)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.preferences.panel import (
    HealthWatcher,
    home_panel,
    pending_of,
    problems_of,
)
from bot.roles import choose_mailbox
from providers.errors import UserError
from storage.models import (
    ConsentTenant,
    DomainReportRow,
    Health,
    Mailbox,
    Role,
    SenderVerification,
    utcnow,
)
from tests.support.harness import Harness

TEAM = "T1"


def add(h: Harness, *rows: object) -> None:
    with h.ctx.db.session() as session:
        for row in rows:
            session.add(row)


def mailbox(h: Harness, address: str, kind: str = "shared", **fields: object) -> Mailbox:
    values: dict[str, object] = {"team_id": TEAM, "kind": kind, "owner_id": "UADMIN"}
    values.update(fields, address=address)
    row = Mailbox(**values)  # type: ignore[arg-type]
    add(h, row)
    found = h.mailbox_by_address(address)
    assert found is not None
    return found


def test_problems_and_pending_steps_say_why_a_mailbox_does_not_work(harness: Harness) -> None:
    h = harness
    fine = mailbox(h, "fine@acme.test", health=Health.OK)
    assert problems_of(h.ctx, fine) == [] and pending_of(h.ctx, fine) == []
    expired = mailbox(h, "expired@acme.test", health=Health.RECONNECT_NEEDED)
    assert problems_of(h.ctx, expired) == ["Sign-in expired or revoked: press Reconnect."]
    failing = mailbox(h, "failing@acme.test", health=Health.NEEDS_ATTENTION, last_error="boom")
    assert problems_of(h.ctx, failing) == ["Failed login or sync: boom"]

    ses = mailbox(h, "ses@acme.test", send_via="ses", ms_tenant="contoso.test")
    assert problems_of(h.ctx, ses)[0].startswith("Sender not verified yet: replies go out")
    add(
        h,
        SenderVerification(team_id=TEAM, identity="SES@acme.test", status="PENDING"),
        ConsentTenant(team_id=TEAM, tenant="contoso.test", status="needed"),
    )
    assert pending_of(h.ctx, ses) == [
        "Sender verification pending for SES@acme.test: click the link in the mail from "
        "no-reply-aws@amazon.com.",
        "Microsoft admin consent needed for contoso.test.",
    ]
    with h.ctx.db.session() as session:
        verification = session.get(SenderVerification, 1)
        assert verification is not None
        verification.status = "FAILED"
        session.add(verification)
    assert problems_of(h.ctx, ses) == [
        "Sender not verified (failed): start again with `/mail-verify`."
    ]
    assert pending_of(h.ctx, ses) == ["Microsoft admin consent needed for contoso.test."]


def test_app_home_lists_what_each_person_may_see(harness: Harness) -> None:
    h = harness
    h.ctx.roles.grant("USALES", Role.SALES, TEAM)
    mailbox(h, "alice@acme.test", "personal", owner_id="UALICE")
    mailbox(h, "bob@acme.test", "personal", owner_id="UBOB")
    mailbox(h, "shared@acme.test")
    mailbox(h, "hidden@acme.test", visible=False)
    mailbox(h, "news@acme.test", "marketing")
    old, new = utcnow() - timedelta(days=1), utcnow()
    add(
        h,
        DomainReportRow(
            team_id=TEAM, domain="acme.test", verdict="fail", report_json="{}", created_at=old
        ),
        DomainReportRow(
            team_id=TEAM, domain="acme.test", verdict="pass", report_json="{}", created_at=new
        ),
        DomainReportRow(team_id="T2", domain="other.test", verdict="fail", report_json="{}"),
    )

    def listed(user: str) -> tuple[list[str], list[str], list[str]]:
        panel = home_panel(h.ctx, user, TEAM)
        return (
            [p.mailbox.address for p in panel.own],
            [p.mailbox.address for p in panel.workspace],
            [f"{v.domain} {v.verdict}" for v in panel.verdicts],
        )

    assert listed("UALICE") == (["alice@acme.test"], [], [])
    assert listed("USALES") == ([], ["shared@acme.test"], [])
    assert listed("UADMIN") == (
        [],
        ["shared@acme.test", "hidden@acme.test", "news@acme.test"],
        ["acme.test pass"],
    )
    own = home_panel(h.ctx, "UALICE", TEAM).own[0]
    assert own.can_manage and own.contacts == 0 and not own.footer_set


def test_a_command_is_about_the_named_mailbox_the_channel_or_the_only_one(
    harness: Harness,
) -> None:
    h = harness
    a = mailbox(h, "a@acme.test", channel_id="C_A")
    b = mailbox(h, "b@acme.test", channel_id="C_B")
    assert (
        choose_mailbox(h.ctx.roles, h.ctx.mailboxes, "UADMIN", TEAM, address="B@ACME.test").id
        == b.id
    )
    assert choose_mailbox(h.ctx.roles, h.ctx.mailboxes, "UADMIN", TEAM, channel_id="C_A").id == a.id
    with pytest.raises(UserError) as caught:
        choose_mailbox(h.ctx.roles, h.ctx.mailboxes, "UADMIN", TEAM, channel_id="C_ELSEWHERE")
    assert caught.value.message == (
        "Say which mailbox: run the command in the mailbox's channel, or add "
        "`mailbox:<address>`. Yours: a@acme.test, b@acme.test."
    )
    with pytest.raises(UserError) as caught:
        choose_mailbox(
            h.ctx.roles, h.ctx.mailboxes, "UADMIN", TEAM, address="z@acme.test", manage=True
        )
    assert caught.value.message.startswith("z@acme.test is not a mailbox you can manage here.")
    mine = mailbox(h, "bob@acme.test", "personal", owner_id="UBOB")
    assert (
        choose_mailbox(h.ctx.roles, h.ctx.mailboxes, "UBOB", TEAM).id == mine.id
    )  # the only one Bob may use
    with pytest.raises(UserError) as caught:
        choose_mailbox(h.ctx.roles, h.ctx.mailboxes, "UALICE", TEAM)
    assert caught.value.message.startswith("There is no mailbox you can use yet.")


def test_app_home_is_published_again_only_for_mailboxes_that_changed(harness: Harness) -> None:
    h = harness
    box = mailbox(h, "alice@acme.test", "personal", owner_id="UALICE", health=Health.OK)
    mailbox(h, "bob@acme.test", "personal", owner_id="UBOB", health=Health.OK)
    watcher = HealthWatcher(h.ctx)
    assert watcher.check() == []  # the first look only remembers
    assert watcher.check() == []
    with h.ctx.db.session() as session:
        row = session.get(Mailbox, box.id)
        assert row is not None
        row.health = Health.NEEDS_ATTENTION
        session.add(row)
    h.slack.clear()
    assert watcher.check() == [box.id]
    published = [c.params.get("user_id") for c in h.slack.calls_to("views.publish")]
    assert published == ["UALICE"]
    assert watcher.check() == []
