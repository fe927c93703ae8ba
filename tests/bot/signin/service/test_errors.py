"""Sign-in failures: the page and Slack say what happened in plain words; nothing half-saved."""

from __future__ import annotations

import pytest
from sqlmodel import select

from storage.models import ConsentTenant, Mailbox
from tests.bot.signin.flows import (
    add_mail_user,
    channel_picker,
    click_sign_in,
    dm_texts,
    find_button,
    mailbox_count,
    modal_values,
    open_connect,
    pick_channel,
    press_sign_in,
    sign_in,
    sign_in_button,
)
from tests.support.harness import Harness
from tests.support.identity_fakes import MS_HOST, IdentityFakes, Person, TenantPolicy
from tests.support.wait import wait_until


def test_google_mail_permission_unticked_is_explained_and_nothing_is_saved(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    identity.google.untick_mail = True
    run = sign_in(h, identity, "google")
    assert run.page.status_code == 400
    assert "Read, compose, send" in run.page.text and "tick" in run.page.text
    assert mailbox_count(h) == 0
    wait_until(lambda: any("Read, compose, send" in t for t in dm_texts(h)), message="Slack told")


def test_google_cancel_is_reported_in_plain_words(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    identity.google.deny = "access_denied"
    run = sign_in(h, identity, "google")
    assert "was cancelled" in run.page.text and mailbox_count(h) == 0
    wait_until(lambda: any("was cancelled" in t for t in dm_texts(h)), message="Slack told")


def _consent_failure(h: Harness, identity: IdentityFakes, code: int) -> str:
    identity.microsoft.tenants["tid-contoso"] = TenantPolicy(consented=False, block=code)
    run = sign_in(h, identity, "microsoft")
    assert run.page.status_code == 400
    assert mailbox_count(h) == 0
    return run.page.text


def test_microsoft_65001_needs_admin_approval_with_a_link_for_it(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    page = _consent_failure(h, identity, 65001)
    assert "AADSTS65001" in page and "/mail-consent" in page
    with h.ctx.db.session() as session:
        row = session.exec(select(ConsentTenant)).one()
    # The failed sign-in did not say which tenant: organizations, never common.
    assert (
        row.tenant == "organizations" and row.status == "needed" and row.waiting_users == "UALICE"
    )
    notice = wait_until(
        lambda: [t for t in dm_texts(h) if "Send this to your IT admin" in t],
        message="consent notice",
    )[0]
    assert f"{MS_HOST}/organizations/v2.0/adminconsent?" in notice
    assert "/common/" not in notice


def test_microsoft_90094_user_consent_blocked(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    page = _consent_failure(h, identity, 90094)
    assert "AADSTS90094" in page and "approve" in page
    with h.ctx.db.session() as session:
        assert session.exec(select(ConsentTenant)).one().last_error == "AADSTS90094"


def test_microsoft_65004_declined_consent(signin_harness: Harness, identity: IdentityFakes) -> None:
    h = signin_harness
    page = _consent_failure(h, identity, 65004)
    assert "AADSTS65004" in page and "declined" in page


def test_shared_mailbox_sign_in_stays_admin_only_on_the_callback(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    # Alice's modal only offers "personal", but the callback must not trust that.
    run = sign_in(h, identity, "google", user="UALICE", kind="shared")
    assert run.page.status_code == 400 and "Only Mailroom admins" in run.page.text
    assert mailbox_count(h) == 0
    add_mail_user(h, identity.google.person.email)
    run = sign_in(h, identity, "google", user="UADMIN", kind="shared")
    assert run.page.status_code == 200, run.page.text
    mailbox = wait_until(
        lambda: h.mailbox_by_address(identity.google.person.email), message="saved"
    )
    assert mailbox.kind == "shared" and mailbox.sender_name == ""


def test_without_a_channel_the_mailbox_waits_for_one_then_syncs(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    add_mail_user(h, identity.google.person.email)
    run = sign_in(h, identity, "google", channel=None)
    assert run.page.status_code == 200 and "choose the channel" in run.page.text
    mailbox = h.mailbox_by_address(identity.google.person.email)
    assert mailbox is not None and not mailbox.active and mailbox.channel_id is None
    assert not h.ctx.scheduler.has(f"sync:{mailbox.id}")
    response = pick_channel(h, channel_picker(h), "C_SUPPORT")
    assert response.status_code == 200
    done = wait_until(
        lambda: (m := h.ctx.mailboxes.get(mailbox.id)) and m.active and m, message="active"
    )
    assert done.channel_id == "C_SUPPORT"
    wait_until(lambda: h.ctx.scheduler.has(f"sync:{mailbox.id}"), message="sync scheduled")
    assert h.sync(mailbox.id).error is None


def test_a_picked_channel_does_not_bypass_the_activation_guards(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    # A feature that forbids activation (as SES does for an unverified sender).
    h.ctx.activation_guards.append(lambda mailbox: "its sender address is not verified yet.")
    add_mail_user(h, identity.google.person.email)
    sign_in(h, identity, "google", channel=None)
    mailbox = h.mailbox_by_address(identity.google.person.email)
    pick_channel(h, channel_picker(h), "C_SUPPORT")
    wait_until(
        lambda: [m for m in h.slack.ephemerals("UALICE") if "stays inactive" in str(m)],
        message="explanation that the mailbox stays inactive",
    )
    saved = h.ctx.mailboxes.get(mailbox.id)
    assert saved.channel_id == "C_SUPPORT" and not saved.active
    assert not h.ctx.scheduler.has(f"sync:{mailbox.id}")


def test_a_second_personal_mailbox_is_refused(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    ana = identity.google.person.email
    add_mail_user(h, ana)
    assert sign_in(h, identity, "google").page.status_code == 200
    identity.google.person = Person("other." + ana)
    run = sign_in(h, identity, "google")
    assert run.page.status_code == 400 and "already have a personal mailbox" in run.page.text
    assert [m.address for m in h.ctx.mailboxes.all()] == [ana]
    # Signing in again with the same account reconnects it instead.
    identity.google.person = Person(ana)
    assert sign_in(h, identity, "google").page.status_code == 200
    assert mailbox_count(h) == 1


def test_reconnect_refuses_another_account(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    ana = identity.google.person.email
    add_mail_user(h, ana)
    sign_in(h, identity, "google")
    mailbox = h.mailbox_by_address(ana)
    h.client.action("mailbox_reconnect", str(mailbox.id), "UALICE")
    view = wait_until(
        lambda: (v := h.slack.last_view()) and "Reconnect" in v["title"]["text"] and v,
        message="reconnect modal",
    )
    assert find_button(view, "microsoft") is None  # only the mailbox's own provider
    identity.google.person = Person("intruder@gmail.test")
    run = press_sign_in(h, identity, "google", view=view)
    assert run.page.status_code == 400 and f"sign in as {ana}" in run.page.text
    assert h.ctx.mailboxes.get(mailbox.id).address == ana


def test_unconfigured_provider_has_no_button_and_admins_see_why(
    make_signin_harness, identity: IdentityFakes
) -> None:
    h = make_signin_harness(GOOGLE_CLIENT_ID="")
    view = open_connect(h)
    assert find_button(view, "google") is None and find_button(view, "microsoft") is not None
    start = h.client.client.get("/oauth/google/start?state=x", follow_redirects=False)
    assert start.status_code == 400 and "not configured" in start.text
    add_mail_user(h, identity.microsoft.person.email)
    assert press_sign_in(h, identity, "microsoft", view=view).page.status_code == 200
    h.client.command("/mail-status", "", "UADMIN")
    note = wait_until(lambda: h.slack.ephemerals("UADMIN"), message="status")[-1]
    assert "Google sign-in is not configured" in str(note) and "GOOGLE_CLIENT_ID" in str(note)


def test_mailbox_rows_are_untouched_by_failed_sign_ins(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    identity.microsoft.client_secret = "rotated-by-someone"
    run = sign_in(h, identity, "microsoft")
    assert run.page.status_code == 400 and "client secret" in run.page.text
    with h.ctx.db.session() as session:
        assert session.exec(select(Mailbox)).first() is None
    # The admins hear about our configuration fault; it is not the person's to fix.
    alert = wait_until(
        lambda: [m for m in h.slack.messages("UADMIN") if "client secret" in m["text"]],
        message="admin alert",
    )
    assert "MICROSOFT_CLIENT_SECRET" in alert[0]["text"]


def test_microsoft_mail_permission_missing_is_explained_and_nothing_is_saved(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    # Signed in, but the token answer lacks SMTP.Send (e.g. an admin approved only IMAP).
    identity.microsoft.granted_scopes = ("https://outlook.office.com/IMAP.AccessAsUser.All",)
    run = sign_in(h, identity, "microsoft")
    assert run.page.status_code == 400
    assert "mail permissions" in run.page.text and "SMTP.Send" in run.page.text
    assert mailbox_count(h) == 0
    wait_until(
        lambda: any("mail permissions" in t and "SMTP.Send" in t for t in dm_texts(h)),
        message="Slack told",
    )


@pytest.mark.parametrize("code", [90095, 50105, 700016, 53003])
def test_other_microsoft_consent_problems_at_sign_in_need_admin_approval(
    signin_harness: Harness, identity: IdentityFakes, code: int
) -> None:
    h = signin_harness
    page = _consent_failure(h, identity, code)
    assert f"AADSTS{code}" in page and "/mail-consent" in page
    with h.ctx.db.session() as session:
        row = session.exec(select(ConsentTenant)).one()
    assert (row.status, row.last_error) == ("needed", f"AADSTS{code}")
    wait_until(
        lambda: [t for t in dm_texts(h) if f"AADSTS{code}" in t and "/v2.0/adminconsent?" in t],
        message="consent notice in Slack",
    )


def test_a_single_tenant_server_signs_in_and_asks_consent_in_its_tenant(
    make_signin_harness, identity: IdentityFakes
) -> None:
    h = make_signin_harness(MICROSOFT_TENANT="tid-contoso")
    identity.microsoft.tenants["tid-contoso"] = TenantPolicy(consented=False, block=65001)
    run = sign_in(h, identity, "microsoft")
    authorize = next(hop.url for hop in run.browser.hops if "/oauth2/v2.0/authorize" in hop.url)
    assert authorize.startswith(f"{MS_HOST}/tid-contoso/oauth2/v2.0/authorize")
    assert run.page.status_code == 400
    with h.ctx.db.session() as session:
        assert session.exec(select(ConsentTenant)).one().tenant == "tid-contoso"
    notice = wait_until(
        lambda: [t for t in dm_texts(h) if "Send this to your IT admin" in t], message="notice"
    )[0]
    assert f"{MS_HOST}/tid-contoso/v2.0/adminconsent?" in notice


def test_marketing_mailbox_sign_in_stays_admin_only_on_the_callback(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    run = sign_in(h, identity, "microsoft", user="UALICE", kind="marketing")
    assert run.page.status_code == 400 and "Only Mailroom admins" in run.page.text
    assert mailbox_count(h) == 0
    wait_until(lambda: any("Only Mailroom admins" in t for t in dm_texts(h)), message="Slack told")


def test_a_click_by_someone_else_does_not_change_the_sign_in(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    add_mail_user(h, identity.google.person.email)
    view = open_connect(h, "UADMIN")
    button = sign_in_button(view, "google")
    for user, values in (
        ("UADMIN", modal_values("personal", "C_SALES", "0")),
        # Bob replays the admin's button with his own choices: the state is bound to the admin.
        ("UBOB", modal_values("shared", "C_BOB", "30")),
    ):
        click_sign_in(h, view, button, user, values)
    run = press_sign_in(h, identity, "google", view=view, user="UADMIN", click=False)
    assert run.page.status_code == 200, run.page.text
    mailbox = h.wait_for_mailbox(identity.google.person.email)
    assert (mailbox.kind, mailbox.owner_id, mailbox.channel_id) == ("personal", "UADMIN", "C_SALES")
