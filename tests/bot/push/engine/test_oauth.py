"""Signed-in (OAuth) mailboxes stay live across access-token expiry: a new session with a
fresh token is opened before the old token runs out, and only then is the old one closed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.push import engine_of
from bot.push.watcher import State
from tests.bot.push.dovecot_configs import PUSH_DOVECOT
from tests.bot.signin.flows import add_mail_user, sign_in
from tests.support.harness import HarnessFactory, make_email
from tests.support.identity_fakes import IdentityFakes, signin_env
from tests.support.mail_servers import DovecotServer, SmtpServer, require_dovecot
from tests.support.wait import wait_until


@pytest.fixture
def oauth_push_dovecot(identity: IdentityFakes) -> Iterator[DovecotServer]:
    """XOAUTH2 checked by the identity fakes, IDLE changes noticed within a second."""
    require_dovecot()
    server = DovecotServer(introspection_url=identity.introspect_url, extra_config=PUSH_DOVECOT)
    with server:
        yield server


@pytest.mark.slow
def test_oauth_mailbox_reauthenticates_before_its_token_expires_and_stays_live(
    monkeypatch: pytest.MonkeyPatch,
    harness_with: HarnessFactory,
    identity: IdentityFakes,
    oauth_push_dovecot: DovecotServer,
    smtp_server: SmtpServer,
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # http:// token endpoint in tests
    # Tokens that live 100 s: the engine must renew the session within about a minute.
    identity.access_lifetime = 100
    env = signin_env(identity, oauth_push_dovecot, smtp_server)
    h = harness_with(
        dovecot=oauth_push_dovecot, SYNC_PUSH="on", SYNC_INTERVAL_SECONDS="3600", **env
    )
    person = identity.google.person
    add_mail_user(h, person.email)
    assert sign_in(h, identity, "google").page.status_code == 200
    mailbox = wait_until(lambda: h.mailbox_by_address(person.email), message="mailbox saved")
    engine = engine_of(h.ctx)
    assert engine is not None
    wait_until(
        lambda: (s := engine.state_of(mailbox.id)) and s[0] == State.LIVE,
        timeout=20,
        message="live",
    )
    first_token = identity.introspections[-1]
    logins = len(identity.introspections)
    # A new XOAUTH2 login with a new token happens before the first token's 100 s are up.
    wait_until(
        lambda: (
            len(identity.introspections) > logins and identity.introspections[-1] != first_token
        ),
        timeout=90,
        message="a new login with a fresh token",
    )
    wait_until(
        lambda: (s := engine.state_of(mailbox.id)) and s[0] == State.LIVE,
        timeout=10,
        message="live again",
    )
    channel = mailbox.channel_id
    assert channel
    h.dovecot.append(person.email, make_email(to=person.email, subject="After renewal"))
    wait_until(
        lambda: any("After renewal" in json.dumps(m) for m in h.slack.messages(channel)),
        timeout=3,
        message="mail pushed over the renewed session",
    )
    failing = h.ctx.mailboxes.get(mailbox.id)
    assert failing is not None and failing.consecutive_failures == 0
