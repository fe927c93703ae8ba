"""Issue 9, items 1, 12 and 14 (item 11: tests/handlers/actions/test_signin.py): each test
replays the attack an outside review made on the sign-in flow, through signed Slack
requests, the browser and the fake identity providers."""

from __future__ import annotations

import json

from tests.bot.signin.flows import (
    add_mail_user,
    dm_texts,
    find_button,
    open_connect,
    press_sign_in,
    sign_in,
    sign_in_button,
    tenant_row,
)
from tests.support.harness import Harness
from tests.support.identity_fakes import IdentityFakes, TenantPolicy
from tests.support.wait import wait_until

# --- Item 1: a sign-in link is bound to the person who opens it --------------------------------


def test_a_forwarded_sign_in_link_cannot_connect_a_colleagues_mailbox(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    victim = identity.google.person.email
    add_mail_user(h, victim)
    h.slack.set_email("UALICE", victim)  # Alice's own Google account
    # Bob (no role) presses "Sign in with Google" and sends the link to Alice, who opens it.
    run = sign_in(h, identity, "google", user="UBOB", own=False)
    assert run.page.status_code == 400
    assert "personal mailbox must be your own" in run.page.text
    assert h.mailbox_by_address(victim) is None  # nothing saved as Bob's mailbox
    refusal = wait_until(
        lambda: [t for t in dm_texts(h, "UBOB") if "personal mailbox must be your own" in t],
        message="Bob told why",
    )[0]
    assert "ubob@example.com" in refusal and victim in refusal


def test_pressing_the_button_again_gets_a_fresh_link(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    add_mail_user(h, identity.google.person.email)
    view = open_connect(h)
    # The first press spends its link (here the sign-in even finishes).
    first = press_sign_in(h, identity, "google", view=view)
    assert first.page.status_code == 200
    renewed = wait_until(
        lambda: (
            (v := h.slack.view(view["id"]))
            and (b := find_button(v, "google"))
            and b["value"] != first.state
            and v
        ),
        message="the modal's buttons renewed",
    )
    assert renewed["callback_id"] == view["callback_id"]
    fresh = find_button(renewed, "google")
    start = h.client.client.get(
        fresh["url"].removeprefix("http://testserver"), follow_redirects=False
    )
    assert start.status_code == 302


def test_the_owner_of_a_signed_in_address_is_told_who_connected_it(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    colleague = identity.google.person.email
    add_mail_user(h, colleague)
    h.slack.set_email("UALICE", colleague)
    # An admin connects Alice's address as the shared mailbox, with a link Alice opened.
    run = sign_in(h, identity, "google", user="UADMIN", kind="shared", own=False)
    assert run.page.status_code == 200, run.page.text
    mailbox = h.wait_for_mailbox(colleague)
    assert mailbox.kind == "shared" and mailbox.owner_id == "UADMIN"
    told = wait_until(
        lambda: [t for t in dm_texts(h, "UALICE") if "was connected to Mailroom" in t],
        message="the address's owner told",
    )[0]
    assert colleague in told and "<@UADMIN>" in told and "<#C_SALES>" in told
    assert [t for t in dm_texts(h, "UADMIN") if "is connected" in t]  # the starter too


# --- Item 12: Microsoft admin consent is confirmed with Microsoft ------------------------------


def _blocked(h: Harness, identity: IdentityFakes) -> None:
    identity.microsoft.tenants["tid-contoso"] = TenantPolicy(consented=False, block=90094)
    add_mail_user(h, identity.microsoft.person.email)
    assert sign_in(h, identity, "microsoft").page.status_code == 400


def test_a_forged_admin_consent_redirect_is_not_taken_as_approval(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    _blocked(h, identity)
    consent = h.ctx.signin.consent
    row = tenant_row(h)  # the failed sign-in did not name its tenant: "organizations"
    link = consent.link(row.team_id, row.tenant, "UALICE")
    state = link.split("state=", 1)[1].split("&", 1)[0]
    # Nobody approved anything in Microsoft: the redirect is typed by hand.
    page = h.client.client.get(
        f"/oauth/microsoft/adminconsent?admin_consent=True&tenant=tid-contoso&state={state}"
    )
    assert page.status_code == 400 and "does not report Mailroom as approved" in page.text
    assert tenant_row(h).status == "needed"
    assert not [t for t in dm_texts(h, "UALICE") if "approved Mailroom" in t]
    # Microsoft was asked, with an app-only token request in that tenant.
    probes = [
        r for r in identity.microsoft.token_requests if r.get("grant_type") == "client_credentials"
    ]
    assert [r["tenant"] for r in probes] == ["tid-contoso"]


def test_a_forged_invalid_client_on_the_callback_raises_no_secret_alert(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    view = open_connect(h)
    button = sign_in_button(view, "microsoft")
    start = h.client.client.get(
        button["url"].removeprefix("http://testserver"), follow_redirects=False
    )
    assert start.status_code == 302
    page = h.client.client.post(
        "/oauth/microsoft/callback",
        data={
            "state": button["value"],
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided.",
        },
    )
    assert page.status_code == 400
    wait_until(lambda: h.slack.messages("UALICE"), message="Alice told the sign-in failed")
    assert not [t for t in dm_texts(h, "UADMIN") if "client secret" in t.lower()]


def test_a_real_refusal_of_the_secret_by_the_token_endpoint_still_alerts(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    identity.microsoft.client_secret = "rotated-by-someone"
    add_mail_user(h, identity.microsoft.person.email)
    assert sign_in(h, identity, "microsoft").page.status_code == 400
    wait_until(
        lambda: [t for t in dm_texts(h, "UADMIN") if "AADSTS7000215" in t],
        message="admins alerted",
    )


# --- Item 14: Microsoft identity is tid + oid, never an unverified email claim ------------------


def test_an_unverified_email_claim_is_not_the_signed_in_address(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    person = identity.microsoft.person
    # The account's admin typed someone else's address into its (mutable) email attribute.
    person.claims = {"email": "ceo@contoso.test"}
    h.slack.set_email("UALICE", "ceo@contoso.test")
    add_mail_user(h, person.email)
    run = press_sign_in(h, identity, "microsoft", view=open_connect(h), own=False)
    assert run.page.status_code == 400 and "personal mailbox must be your own" in run.page.text
    assert h.mailbox_by_address("ceo@contoso.test") is None
    assert h.mailbox_by_address(person.email) is None


def test_account_email_uses_the_email_claim_only_when_microsoft_verified_it() -> None:
    from providers.microsoft import account_email

    upn = {"preferred_username": "Bo@Contoso.test"}
    assert account_email(upn | {"email": "ceo@contoso.test"}) == "bo@contoso.test"
    assert account_email(upn | {"email": "ceo@contoso.test", "xms_edov": False}) == (
        "bo@contoso.test"
    )
    assert account_email(upn | {"email": "Bo.Alias@contoso.test", "xms_edov": True}) == (
        "bo.alias@contoso.test"
    )


def test_a_reconnect_by_another_microsoft_account_with_the_same_address_is_refused(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    person = identity.microsoft.person
    add_mail_user(h, person.email)
    assert sign_in(h, identity, "microsoft").page.status_code == 200
    mailbox = h.wait_for_mailbox(person.email)
    assert (mailbox.ms_tenant, mailbox.ms_object_id) == ("tid-contoso", "oid-" + person.email)
    saved = h.ctx.mailboxes.secrets(mailbox)
    # Another account (a new object with the same sign-in name) reconnects the mailbox.
    person.claims = {"oid": "oid-impostor"}
    h.client.action("mailbox_reconnect", str(mailbox.id), "UALICE")
    view = wait_until(
        lambda: (v := h.slack.last_view()) and "Sign in again" in json.dumps(v) and v,
        message="reconnect modal",
    )
    run = press_sign_in(h, identity, "microsoft", view=view)
    assert run.page.status_code == 400
    assert "not the one" in run.page.text and "was connected with" in run.page.text
    after = h.ctx.mailboxes.get(mailbox.id)
    assert after.ms_object_id == "oid-" + person.email
    assert h.ctx.mailboxes.secrets(after)["refresh_token"] == saved["refresh_token"]
    # The real account still reconnects.
    person.claims = {}
    h.client.action("mailbox_reconnect", str(mailbox.id), "UALICE")
    view = wait_until(
        lambda: (v := h.slack.last_view()) and v.get("id") != view.get("id") and v,
        message="second reconnect modal",
    )
    assert press_sign_in(h, identity, "microsoft", view=view).page.status_code == 200


def test_an_admin_reconnecting_someones_mailbox_by_sign_in_is_told_to_the_owner(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    ana = identity.google.person.email
    add_mail_user(h, ana)
    assert sign_in(h, identity, "google").page.status_code == 200
    mailbox = h.wait_for_mailbox(ana)
    h.client.action("mailbox_reconnect", str(mailbox.id), "UADMIN")
    view = wait_until(
        lambda: (v := h.slack.last_view()) and "Sign in again" in json.dumps(v) and v,
        message="reconnect modal",
    )
    # The admin's own Slack email is not Ana's: a reconnect keeps the connected address,
    # so it is not refused for that.
    run = press_sign_in(h, identity, "google", view=view, user="UADMIN", own=False)
    assert run.page.status_code == 200, run.page.text
    told = wait_until(
        lambda: [t for t in dm_texts(h, "UALICE") if "reconnected your mailbox" in t],
        message="owner told",
    )[0]
    assert "<@UADMIN>" in told and ana in told
