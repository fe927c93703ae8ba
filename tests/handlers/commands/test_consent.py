"""/mail-consent: per tenant status, waiting people, approval link, IT steps, Check again."""

from __future__ import annotations

from sqlmodel import select

from storage.models import OAuthState
from tests.support.harness import Harness
from tests.support.identity_fakes import MS_HOST, IdentityFakes
from tests.support.wait import wait_until


def answer(h: Harness, user: str = "UALICE") -> dict:
    h.client.command("/mail-consent", "", user)
    return wait_until(lambda: h.slack.ephemerals(user), message="/mail-consent answer")[-1]


def test_nothing_waiting_offers_an_organizations_link_never_common(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    shown = answer(signin_harness, "UADMIN")
    assert "No Microsoft 365 organisation is waiting" in shown["text"]
    assert f"{MS_HOST}/organizations/v2.0/adminconsent?" in str(shown["blocks"])
    assert "/common/" not in str(shown["blocks"])


def test_not_configured_says_so(make_signin_harness, identity: IdentityFakes) -> None:
    h = make_signin_harness(MICROSOFT_CLIENT_SECRET="")
    shown = answer(h)
    assert "not configured" in shown["text"] and "MICROSOFT_CLIENT_ID" in shown["text"]


def test_a_waiting_tenant_shows_everything_it_needs(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    consent = h.ctx.signin.consent
    row = consent.record_waiting("T1", "tid-fabrikam", user_id="UBOB", code="AADSTS90094")
    shown = answer(h, "UADMIN")
    text = str(shown["blocks"])
    assert "tid-fabrikam" in text and "approval needed" in text and "<@UBOB>" in text
    assert "AADSTS90094" in text
    assert f"{MS_HOST}/tid-fabrikam/v2.0/adminconsent?client_id=" in text
    assert "redirect_uri=http%3A%2F%2Ftestserver%2Foauth%2Fmicrosoft%2Fadminconsent" in text
    assert "entra.microsoft.com" in text and "Enterprise applications" in text  # the IT steps
    assert "Message to forward to IT" in text and "IMAP.AccessAsUser.All" in text
    buttons = [e for b in shown["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert {"action_id": "consent_check", "value": str(row.id)}.items() <= buttons[0].items()
    assert len(shown["blocks"]) <= 50


def test_check_again_refuses_another_workspaces_tenant(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    row = h.ctx.signin.consent.record_waiting("T_OTHER", "tid-x", user_id="UBOB")
    h.client.action("consent_check", str(row.id), "UALICE")
    refused = wait_until(lambda: h.slack.ephemerals("UALICE"), message="answer")[-1]
    assert "no longer listed" in refused["text"]
    assert identity.microsoft.token_requests == []


def test_the_approval_link_is_for_mailroom_admins_only(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    shown = answer(h, "UALICE")
    assert "No Microsoft 365 organisation is waiting" in shown["text"]
    assert "adminconsent" not in str(shown["blocks"])
    h.ctx.signin.consent.record_waiting("T1", "tid-fabrikam", user_id="UBOB")
    h.client.command("/mail-consent", "", "UALICE")
    # Wait for the answer that lists the organisation (on a loaded machine the first
    # answer may still be arriving).
    shown = wait_until(
        lambda: [m for m in h.slack.ephemerals("UALICE") if "tid-fabrikam" in str(m["blocks"])],
        message="the answer listing the waiting organisation",
    )[-1]
    text = str(shown["blocks"])
    assert "tid-fabrikam" in text and "approval needed" in text
    assert "adminconsent" not in text and "Only Mailroom admins get the approval link" in text
    # No approval state was handed out to her either.
    with h.ctx.db.session() as session:
        assert not session.exec(select(OAuthState)).all()
