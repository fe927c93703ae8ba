"""Microsoft admin consent: the approval link, its redirect, and noticing approval later."""

from __future__ import annotations

from datetime import timedelta

from storage.models import Health, utcnow
from tests.bot.signin.flows import add_mail_user, press_sign_in, query_of, sign_in, tenant_row
from tests.support.harness import Harness
from tests.support.identity_fakes import MS_HOST, Browser, IdentityFakes, TenantPolicy
from tests.support.wait import wait_until


def consent_link(h: Harness, user: str = "UADMIN") -> str:
    h.client.command("/mail-consent", "", user)
    shown = wait_until(
        lambda: [e for e in h.slack.ephemerals(user) if "adminconsent" in str(e)],
        message="/mail-consent answer",
    )[-1]
    section = next(
        b for b in shown["blocks"] if "Approval link" in b.get("text", {}).get("text", "")
    )
    return section["text"]["text"].split("<", 1)[1].split("|", 1)[0]


def blocked_sign_in(h: Harness, identity: IdentityFakes, code: int = 90094) -> None:
    identity.microsoft.tenants["tid-contoso"] = TenantPolicy(consented=False, block=code)
    add_mail_user(h, identity.microsoft.person.email)
    assert sign_in(h, identity, "microsoft").page.status_code == 400
    assert tenant_row(h).status == "needed"


def test_admin_consent_granted_tells_waiting_users_and_sign_in_then_works(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    blocked_sign_in(h, identity)
    link = consent_link(h)
    assert link.startswith(f"{MS_HOST}/organizations/v2.0/adminconsent?")
    query = query_of(link)
    assert query["redirect_uri"] == "http://testserver/oauth/microsoft/adminconsent"
    assert query["scope"].split() == [
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send",
    ]

    page = Browser(h.client.client, identity).get(link)  # the IT admin opens it and accepts
    assert page.status_code == 200 and "approved" in page.text
    row = tenant_row(h)
    assert row.status == "granted" and row.waiting_users == ""
    told = wait_until(
        lambda: [m for m in h.slack.messages("UALICE") if "approved Mailroom" in m["text"]],
        message="waiting user told",
    )
    finish = told[-1]["blocks"][1]["elements"][0]
    assert finish["action_id"] == "signin_resume"

    h.client.action("signin_resume", finish["value"], "UALICE")
    view = wait_until(
        lambda: (v := h.slack.last_view()) and "approved" in str(v["blocks"]) and v,
        message="sign-in modal",
    )
    run = press_sign_in(h, identity, "microsoft", view=view)
    assert run.page.status_code == 200, run.page.text
    assert h.mailbox_by_address(identity.microsoft.person.email) is not None


def test_admin_consent_refused_checks_error_before_admin_consent(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    blocked_sign_in(h, identity)
    identity.microsoft.admin_decision = "decline"
    page = Browser(h.client.client, identity).get(consent_link(h))
    # Microsoft sent admin_consent=True together with the error: the error wins.
    assert page.status_code == 400 and "declined" in page.text and "AADSTS65004" in page.text
    row = tenant_row(h)
    assert row.status == "declined" and row.waiting_users == "UALICE"
    assert not [m for m in h.slack.messages("UALICE") if "approved Mailroom" in m["text"]]


def test_admin_consent_redirect_needs_a_valid_state(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    blocked_sign_in(h, identity)
    forged = h.client.client.get(
        "/oauth/microsoft/adminconsent?admin_consent=True&tenant=tid-x&state=forged"
    )
    assert forged.status_code == 400 and "not valid" in forged.text
    assert tenant_row(h).status == "needed"
    # A real link works once, not twice.
    link = consent_link(h)
    assert Browser(h.client.client, identity).get(link).status_code == 200
    again = Browser(h.client.client, identity).get(link)
    assert again.status_code == 400 and "already used" in again.text


def _waiting_mailbox(h: Harness, identity: IdentityFakes) -> int:
    add_mail_user(h, identity.microsoft.person.email)
    assert sign_in(h, identity, "microsoft").page.status_code == 200
    mailbox = h.wait_for_mailbox(identity.microsoft.person.email)
    h.sync(mailbox.id)
    identity.expire_access_tokens()
    h.ctx.mailboxes.set_fields(mailbox.id, token_expires_at=utcnow() - timedelta(seconds=1))
    identity.microsoft.tenants["tid-contoso"] = TenantPolicy(consented=False, block=65001)
    h.sync(mailbox.id)
    assert h.ctx.mailboxes.get(mailbox.id).health == Health.ADMIN_APPROVAL_NEEDED
    return mailbox.id


def test_check_again_asks_microsoft_afresh_each_time(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    mailbox_id = _waiting_mailbox(h, identity)
    row = tenant_row(h)
    h.client.action("consent_check", str(row.id), "UADMIN")
    wait_until(
        lambda: any(
            "does not report an approval" in e["text"] for e in h.slack.ephemerals("UADMIN")
        ),
        message="first check answered",
    )
    assert tenant_row(h).status == "needed" and tenant_row(h).checked_at is not None
    # The admin approves in Entra; an immediate second check (within MSAL's 60-second cache
    # of identical refusals) must see it.
    identity.microsoft.tenants["tid-contoso"].consented = True
    h.client.action("consent_check", str(row.id), "UADMIN")
    wait_until(
        lambda: any("is approved" in e["text"] for e in h.slack.ephemerals("UADMIN")),
        message="second check answered",
    )
    assert tenant_row(h).status == "granted"
    wait_until(
        lambda: h.ctx.mailboxes.get(mailbox_id).health == Health.OK, message="mailbox syncs again"
    )


def test_waiting_tenants_are_rechecked_on_a_schedule(
    make_signin_harness, identity: IdentityFakes
) -> None:
    h = make_signin_harness(MICROSOFT_CONSENT_RECHECK_SECONDS="1")
    assert h.ctx.scheduler.has("consent-recheck")
    mailbox_id = _waiting_mailbox(h, identity)
    # Only the re-check may notice the approval here (not the mailbox's own hourly sync).
    h.ctx.scheduler.unschedule_sync(mailbox_id)
    identity.microsoft.tenants["tid-contoso"].consented = True  # approved outside Mailroom
    wait_until(
        lambda: tenant_row(h).status == "granted", timeout=15, message="re-check saw the approval"
    )
    wait_until(
        lambda: h.ctx.mailboxes.get(mailbox_id).health == Health.OK, message="mailbox syncs again"
    )
    told = wait_until(
        lambda: [m for m in h.slack.messages("UALICE") if "approved Mailroom" in m["text"]],
        message="owner told",
    )
    assert len(told) == 1


def test_app_only_probe_decides_for_a_tenant_without_mailboxes(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    consent = h.ctx.signin.consent
    row = consent.record_waiting("T_TEST", "tid-fabrikam", user_id="UBOB", code="AADSTS90094")
    identity.microsoft.tenants["tid-fabrikam"] = TenantPolicy(consented=False)
    assert consent.check(row.id) == "needed"
    identity.microsoft.tenants["tid-fabrikam"].consented = True
    assert consent.check(row.id) == "granted"
    probes = [
        r for r in identity.microsoft.token_requests if r.get("grant_type") == "client_credentials"
    ]
    assert [r["tenant"] for r in probes] == ["tid-fabrikam", "tid-fabrikam"]


def test_mail_consent_lists_waiting_mailboxes_and_a_declined_tenant(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    _waiting_mailbox(h, identity)
    address = identity.microsoft.person.email
    # Anyone sees the status; only Mailroom admins get the approval link.
    h.client.command("/mail-consent", "", "UALICE")
    shown = wait_until(lambda: h.slack.ephemerals("UALICE"), message="/mail-consent")[-1]
    text = str(shown["blocks"])
    assert "Microsoft 365 tenant tid-contoso" in text and "approval needed" in text
    assert f"Waiting: {address}" in text
    assert "adminconsent" not in text and "Only Mailroom admins get the approval link here" in text
    h.client.command("/mail-consent", "", "UADMIN")
    shown = wait_until(lambda: h.slack.ephemerals("UADMIN"), message="/mail-consent")[-1]
    assert f"{MS_HOST}/tid-contoso/v2.0/adminconsent?" in str(shown["blocks"])
    # The tenant's admin refuses: /mail-consent then says so, and still offers the link.
    identity.microsoft.admin_decision = "decline"
    page = Browser(h.client.client, identity).get(consent_link(h, "UADMIN"))
    assert page.status_code == 400
    h.client.command("/mail-consent", "", "UADMIN")
    shown = wait_until(
        lambda: [e for e in h.slack.ephemerals("UADMIN") if "declined" in str(e["blocks"])],
        message="/mail-consent after the refusal",
    )[-1]
    text = str(shown["blocks"])
    assert "declined by an admin" in text and f"Waiting: {address}" in text
    assert "AADSTS65004" in text and "/tid-contoso/v2.0/adminconsent?" in text
