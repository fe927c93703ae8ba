"""Token lifecycle of running mailboxes: refresh ahead of expiry, rotation, failures sorted."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlmodel import select

from bot.signin.tokens import ProviderTokens
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


RECONNECT_CODES = [70000, 700082, 50173]
CONSENT_CODES = [65001, 90094, 90095, 65004, 50105, 700016, 53003]
CONFIG_CODES = [7000215, 7000222]


@pytest.mark.parametrize("code", RECONNECT_CODES + CONSENT_CODES + CONFIG_CODES)
def test_every_listed_microsoft_refusal_lands_with_whoever_can_fix_it(
    signin_harness: Harness, identity: IdentityFakes, code: int
) -> None:
    h = signin_harness
    mailbox = connect(h, identity, "microsoft")
    an_hour_later(h, identity, mailbox)
    identity.microsoft.refresh_error = code
    for _ in range(4):  # past the failure threshold: still one notice each
        result = h.sync(mailbox.id)
        assert result.error and f"AADSTS{code}" in result.error
    health = h.ctx.mailboxes.get(mailbox.id).health
    owner = messages_with(h, "UALICE", f"AADSTS{code}")
    if code in CONFIG_CODES:
        assert health == Health.NEEDS_ATTENTION
        alerts = wait_until(
            lambda: messages_with(h, "UADMIN", "client secret"), message="admin alert"
        )
        assert len(alerts) == 1 and f"AADSTS{code}" in alerts[0]["text"]
        assert "MICROSOFT_CLIENT_SECRET" in alerts[0]["text"]
        # Not the owner's to fix: no notice of any kind about this mailbox's failure.
        assert owner == [] and not messages_with(h, "UALICE", "cannot sync")
        return
    wait_until(lambda: messages_with(h, "UALICE", f"AADSTS{code}"), message="owner told")
    owner = messages_with(h, "UALICE", f"AADSTS{code}")
    assert len(owner) == 1, owner
    assert not messages_with(h, "UADMIN", f"AADSTS{code}")
    if code in RECONNECT_CODES:
        assert health == Health.RECONNECT_NEEDED
        button = owner[0]["blocks"][1]["elements"][0]
        assert button["action_id"] == "mailbox_reconnect" and button["value"] == str(mailbox.id)
        # The button restarts the Microsoft sign-in, in the mailbox's own tenant.
        identity.microsoft.refresh_error = None
        h.client.action(button["action_id"], button["value"], "UALICE")
        view = wait_until(
            lambda: (v := h.slack.last_view()) and "Reconnect" in v["title"]["text"] and v,
            message="reconnect modal",
        )
        run = press_sign_in(h, identity, "microsoft", view=view)
        assert run.page.status_code == 200, run.page.text
        assert any("/tid-contoso/oauth2/v2.0/authorize" in hop.url for hop in run.browser.hops)
        assert h.sync(mailbox.id).error is None
        assert h.ctx.mailboxes.get(mailbox.id).health == Health.OK
    else:
        assert health == Health.ADMIN_APPROVAL_NEEDED
        assert "/tid-contoso/v2.0/adminconsent?" in str(owner[0]["blocks"])
        with h.ctx.db.session() as session:
            row = session.exec(select(ConsentTenant)).one()
        assert (row.tenant, row.status, row.last_error) == (
            "tid-contoso",
            "needed",
            f"AADSTS{code}",
        )


def database_dump(h: Harness) -> bytes:
    """Every stored byte: each table's rows as text, and for SQLite the files themselves."""
    url = h.ctx.db.url
    chunks: list[bytes] = []
    with h.ctx.db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                chunks.append(repr(tuple(row)).encode())
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        for name in (path, path.with_name(path.name + "-wal")):
            if name.exists():
                chunks.append(name.read_bytes())
    return b"\n".join(chunks)


def test_no_token_is_stored_in_clear(
    make_signin_harness, database_url: str, identity: IdentityFakes
) -> None:
    h = make_signin_harness(database_url=database_url)
    for provider, user in (("google", "UALICE"), ("microsoft", "UBOB")):
        person = identity.google.person if provider == "google" else identity.microsoft.person
        add_mail_user(h, person.email)
        assert sign_in(h, identity, provider, user=user).page.status_code == 200
        mailbox = h.wait_for_mailbox(person.email)
        assert h.sync(mailbox.id).error is None  # a real XOAUTH2 login with the stored token
        # A refresh (rotated by Microsoft) writes new tokens too.
        h.ctx.mailboxes.tokens.access_token(h.ctx.mailboxes.get(mailbox.id), force_refresh=True)
    issued = (
        list(identity.token_owners)
        + list(identity.google.refresh_tokens)
        + list(identity.microsoft.refresh_tokens)
    )
    assert len(issued) >= 6
    dump = database_dump(h)
    assert b"bo." in dump and b"ana." in dump  # the dump does hold the mailboxes
    leaked = [token for token in issued if token.encode() in dump]
    assert leaked == []


def test_two_processes_refreshing_at_once_spend_the_refresh_token_once(
    make_signin_harness, postgres_database: str, identity: IdentityFakes
) -> None:
    # Several processes share a database only on PostgreSQL.
    h = make_signin_harness(database_url=postgres_database)
    mailbox = connect(h, identity, "microsoft")
    an_hour_later(h, identity, mailbox)
    # Two processes: each has its own in-process locks, they share only the database.
    processes = [h.ctx.mailboxes.tokens, ProviderTokens(h.ctx, lambda mailbox, failure: None)]
    identity.microsoft.refresh_latency = 0.5  # both see the expired token before either is done
    before = identity.microsoft.refreshes()
    results: dict[int, object] = {}

    def run(n: int) -> None:
        try:
            results[n] = processes[n].access_token(h.ctx.mailboxes.get(mailbox.id))
        except Exception as exc:
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    # Microsoft rotates refresh tokens: a second refresh with the old one would be refused
    # (AADSTS70000) and wrongly ask the owner to reconnect.
    assert isinstance(results[0], str) and results[0] == results[1], results
    assert identity.microsoft.refreshes() == before + 1
    identity.microsoft.refresh_latency = 0
    assert h.sync(mailbox.id).error is None
    assert h.ctx.mailboxes.get(mailbox.id).health == Health.OK
