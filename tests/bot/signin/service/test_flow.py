"""Sign-in end to end: /mail-connect → provider → callback → mailbox → XOAUTH2 sync and send."""

from __future__ import annotations

from tests.bot.signin.flows import add_mail_user, query_of, sign_in
from tests.support.harness import Harness, make_email
from tests.support.identity_fakes import GOOGLE_MAIL, IdentityFakes
from tests.support.wait import wait_until


def test_google_sign_in_connects_syncs_over_xoauth2_and_replies_over_smtp(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    ana = identity.google.person.email
    add_mail_user(h, ana)

    run = sign_in(h, identity, "google")

    # The button led to our /start, which sent the browser to Google with PKCE and offline access.
    assert run.url.startswith("http://testserver/oauth/google/start?state=")
    assert run.browser.hops[0].status == 302
    asked = identity.google.authorize_requests[-1]
    assert asked["code_challenge_method"] == "S256" and asked["code_challenge"]
    assert asked["access_type"] == "offline" and asked["prompt"] == "consent"
    assert asked["state"] == run.state and GOOGLE_MAIL in asked["scope"].split()
    assert run.browser.hops[-1].url.startswith("http://testserver/oauth/google/callback")
    assert run.page.status_code == 200 and "Connected" in run.page.text
    assert "go back to slack" in run.page.text.lower()

    mailbox = h.wait_for_mailbox(ana)
    assert (
        mailbox.provider == "google" and mailbox.kind == "personal" and mailbox.owner_id == "UALICE"
    )
    assert mailbox.channel_id == "C_SALES" and mailbox.active
    assert mailbox.imap_port == h.dovecot.port and mailbox.sender_name == "Ana Gómez"
    saved = h.ctx.mailboxes.secrets(mailbox)
    assert saved["refresh_token"].startswith("grt-")
    assert "grt-" not in (mailbox.secrets or "")  # encrypted at rest
    confirm = wait_until(
        lambda: [m for m in h.slack.messages("UALICE") if "is connected" in m["text"]],
        message="confirmation DM",
    )
    assert ana in confirm[0]["text"]

    # A real XOAUTH2 login to Dovecot, which asks the fake to introspect the token.
    h.sync(mailbox.id)
    assert saved["access_token"] in identity.introspections
    h.dovecot.append(ana, make_email(to=ana, subject="Pricing?", body="How much is it?"))
    result = h.sync(mailbox.id)
    assert result.error is None and result.posted == 1, result
    root = h.slack.top_level("C_SALES")[-1]
    assert "Pricing?" in str(root["blocks"])

    # A thread reply goes out over SMTP XOAUTH2, with a token refreshed just before sending.
    refreshes = identity.google.refreshes()
    h.reply("C_SALES", root["ts"], "It is 50 EUR.")
    sent = h.smtp.wait_for_messages(1)[0]
    assert "50 EUR" in sent.message.get_body(("plain",)).get_content()
    assert identity.google.refreshes() == refreshes + 1
    wait_until(lambda: h.slack.calls_to("reactions.add"), message="sent reaction")


def test_microsoft_sign_in_reads_the_id_token_and_never_asks_for_prompt_consent(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    bo = identity.microsoft.person.email
    add_mail_user(h, bo)
    run = sign_in(h, identity, "microsoft")
    assert run.page.status_code == 200, run.page.text
    # The browser went to the real authority host (rewritten to the fake like DNS would).
    authorize = next(hop.url for hop in run.browser.hops if "/oauth2/v2.0/authorize" in hop.url)
    assert authorize.startswith(
        "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize"
    )
    asked = query_of(authorize)
    assert "prompt" not in asked and asked["code_challenge_method"] == "S256"
    assert asked["response_mode"] == "form_post"  # the code arrives in a POST body
    assert run.browser.hops[-1].url == "http://testserver/oauth/microsoft/callback"
    assert "https://outlook.office.com/IMAP.AccessAsUser.All" in asked["scope"]
    mailbox = h.wait_for_mailbox(bo)
    assert mailbox.provider == "microsoft" and mailbox.ms_tenant == "tid-contoso"
    h.sync(mailbox.id)
    h.dovecot.append(bo, make_email(to=bo, subject="Hola"))
    assert h.sync(mailbox.id).posted == 1


def test_sign_in_and_state_use_on_every_database(
    make_signin_harness, database_url: str, identity: IdentityFakes
) -> None:
    h = make_signin_harness(database_url=database_url)
    add_mail_user(h, identity.microsoft.person.email)
    run = sign_in(h, identity, "microsoft")
    assert run.page.status_code == 200, run.page.text
    replay = h.client.client.post(
        "/oauth/microsoft/callback", data={"state": run.state, "code": "x"}
    )
    assert replay.status_code == 400 and "already used" in replay.text
    mailbox = h.wait_for_mailbox(identity.microsoft.person.email)
    assert h.sync(mailbox.id).error is None
