"""Token lifecycle of running mailboxes: refresh ahead of expiry, rotation, failures sorted."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from storage.models import ConsentTenant, Health, Mailbox, utcnow
from tests.bot.signin.flows import add_mail_user, press_sign_in, sign_in
from tests.support.harness import Harness, make_email
from tests.support.identity_fakes import IdentityFakes, TenantPolicy
from tests.support.wait import wait_until


def connect(h: Harness, identity: IdentityFakes, provider: str) -> Mailbox:
    person = identity.google.person if provider == "google" else identity.microsoft.person
    add_mail_user(h, person.email)
    run = sign_in(h, identity, provider)
    assert run.page.status_code == 200, run.page.text
    mailbox = h.wait_for_mailbox(person.email)
    assert h.sync(mailbox.id).error is None
    return mailbox


def an_hour_later(h: Harness, identity: IdentityFakes, mailbox: Mailbox) -> None:
    """The saved access token has expired (at the provider and in our records)."""
    identity.expire_access_tokens()
    h.ctx.mailboxes.set_fields(mailbox.id, token_expires_at=utcnow() - timedelta(seconds=1))


def messages_with(h: Harness, recipient: str, words: str) -> list[dict]:
    return [m for m in h.slack.messages(recipient) if words in m["text"]]


def test_access_token_is_refreshed_before_it_expires_and_not_otherwise(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    mailbox = connect(h, identity, "google")
    before = identity.google.refreshes()
    h.sync(mailbox.id)
    assert identity.google.refreshes() == before  # an hour left: the saved token is used
    # The provider now hands out short-lived tokens: within the safety margin, refresh first.
    identity.access_lifetime = 120
    h.ctx.mailboxes.tokens.access_token(h.ctx.mailboxes.get(mailbox.id), force_refresh=True)
    identity.expire_access_tokens()  # only a token obtained from here on can log in
    previous = identity.google.refreshes()
    assert h.sync(mailbox.id).error is None
    assert identity.google.refreshes() == previous + 1


def test_microsoft_rotated_refresh_tokens_are_saved_encrypted(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    mailbox = connect(h, identity, "microsoft")
    seen = set()
    for _ in range(3):
        # The fake spends each refresh token once: this works only if every new one was kept.
        h.ctx.mailboxes.tokens.access_token(h.ctx.mailboxes.get(mailbox.id), force_refresh=True)
        current = h.ctx.mailboxes.get(mailbox.id)
        token = h.ctx.mailboxes.secrets(current)["refresh_token"]
        assert token not in seen and token not in (current.secrets or "")
        seen.add(token)
    assert h.sync(mailbox.id).error is None
    latest = h.ctx.mailboxes.secrets(h.ctx.mailboxes.get(mailbox.id))["access_token"]
    assert identity.introspections[-1] == latest  # Dovecot saw the newest token


def test_revoked_google_grant_needs_reconnect_once_and_other_mailboxes_keep_syncing(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    mailbox = connect(h, identity, "google")
    other = h.connect(user="UBOB", channel="C_OTHER")  # an IMAP mailbox on the same Dovecot
    h.sync(other.id)
    identity.google.revoke_all()
    identity.expire_access_tokens()  # revoking a grant kills its access tokens at once

    # IMAP only says "authentication failed"; the next run refreshes and learns why.
    assert "refused the sign-in" in (h.sync(mailbox.id).error or "")
    result = h.sync(mailbox.id)
    assert result.error and "no longer lets Mailroom" in result.error
    failing = h.ctx.mailboxes.get(mailbox.id)
    assert failing.health == Health.RECONNECT_NEEDED
    notices = wait_until(
        lambda: messages_with(h, "UALICE", "no longer lets Mailroom"), message="notice"
    )
    button = notices[0]["blocks"][1]["elements"][0]
    assert button["action_id"] == "mailbox_reconnect" and button["value"] == str(mailbox.id)
    h.sync(mailbox.id)
    h.sync(mailbox.id)
    assert len(messages_with(h, "UALICE", "no longer lets Mailroom")) == 1
    assert not [
        m for m in h.slack.messages("UALICE") if "cannot sync" in m["text"]
    ]  # no generic one

    h.deliver(other_account(h, other), make_email(to=other.address, subject="Still flowing"))
    assert h.sync(other.id).posted == 1

    # The Reconnect button restarts the sign-in; afterwards the mailbox syncs again.
    h.client.action("mailbox_reconnect", str(mailbox.id), "UALICE")
    view = wait_until(
        lambda: (v := h.slack.last_view()) and "Reconnect" in v["title"]["text"] and v,
        message="reconnect modal",
    )
    run = press_sign_in(h, identity, "google", view=view)
    assert run.page.status_code == 200, run.page.text
    assert h.ctx.mailboxes.get(mailbox.id).health == Health.NEW
    assert h.sync(mailbox.id).error is None
    assert h.ctx.mailboxes.get(mailbox.id).health == Health.OK


def other_account(h: Harness, mailbox: Mailbox) -> object:
    return next(a for a in h.accounts if a.address == mailbox.address)


def test_microsoft_revoked_refresh_token_needs_reconnect(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    mailbox = connect(h, identity, "microsoft")
    an_hour_later(h, identity, mailbox)
    identity.microsoft.refresh_error = 50173
    result = h.sync(mailbox.id)
    assert result.error and "AADSTS50173" in result.error
    assert h.ctx.mailboxes.get(mailbox.id).health == Health.RECONNECT_NEEDED
    wait_until(lambda: messages_with(h, "UALICE", "AADSTS50173"), message="owner told")


def test_wrong_client_secret_alerts_the_admins_not_the_owner(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    mailbox = connect(h, identity, "microsoft")
    an_hour_later(h, identity, mailbox)
    identity.microsoft.client_secret = "the-secret-was-rotated"  # ours is now wrong
    for _ in range(4):  # past the failure threshold
        assert h.sync(mailbox.id).error
    alerts = wait_until(lambda: messages_with(h, "UADMIN", "client secret"), message="admin alert")
    assert len(alerts) == 1 and "AADSTS7000215" in alerts[0]["text"]
    assert h.slack.messages("UALICE") and not [
        m
        for m in h.slack.messages("UALICE")
        if "cannot sync" in m["text"] or "client secret" in m["text"]
    ]
    assert h.ctx.mailboxes.get(mailbox.id).health == Health.NEEDS_ATTENTION


def test_consent_withdrawn_while_running_needs_admin_approval(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    mailbox = connect(h, identity, "microsoft")
    an_hour_later(h, identity, mailbox)
    identity.microsoft.tenants["tid-contoso"] = TenantPolicy(consented=False, block=65001)
    result = h.sync(mailbox.id)
    assert result.error and "AADSTS65001" in result.error
    assert h.ctx.mailboxes.get(mailbox.id).health == Health.ADMIN_APPROVAL_NEEDED
    notice = wait_until(lambda: messages_with(h, "UALICE", "AADSTS65001"), message="owner told")[0]
    assert "/tid-contoso/v2.0/adminconsent" in str(notice["blocks"])
    with h.ctx.db.session() as session:
        row = session.exec(select(ConsentTenant)).one()
    assert row.tenant == "tid-contoso" and row.status == "needed"
    h.sync(mailbox.id)
    assert len(messages_with(h, "UALICE", "AADSTS65001")) == 1


def test_send_refreshes_first_and_a_revoked_grant_fails_the_send_in_plain_words(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    mailbox = connect(h, identity, "microsoft")
    h.dovecot.append(mailbox.address, make_email(to=mailbox.address, subject="Order"))
    h.sync(mailbox.id)
    root = h.slack.top_level("C_SALES")[-1]
    identity.microsoft.refresh_error = 70000
    h.reply("C_SALES", root["ts"], "On its way")
    failed = wait_until(
        lambda: [m for m in h.slack.messages("C_SALES") if "AADSTS70000" in str(m)],
        message="send failure shown",
    )
    assert "sign in with Microsoft again" in str(failed[-1])
    assert h.smtp.messages == []
