"""Signed-in (OAuth) mailboxes stay live across access-token expiry: a new session with a
fresh token is opened before the old token runs out, and only then is the old one closed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.push import engine_of
from bot.push.watcher import State
from tests.bot.signin.flows import add_mail_user, sign_in
from tests.support.harness import make_email
from tests.support.identity_fakes import IdentityFakes
from tests.support.wait import wait_until


@pytest.mark.slow
def test_oauth_mailbox_reauthenticates_before_its_token_expires_and_stays_live(
    make_signin_harness: Any, identity: IdentityFakes
) -> None:
    # Tokens that live 100 s: the engine must renew the session within about a minute.
    identity.access_lifetime = 100
    h = make_signin_harness(SYNC_PUSH="on", SYNC_INTERVAL_SECONDS="3600")
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
    channel = mailbox.channel_id or "C_SALES"
    h.dovecot.append(person.email, make_email(to=person.email, subject="After renewal"))
    wait_until(
        lambda: any("After renewal" in json.dumps(m) for m in h.slack.messages(channel)),
        timeout=3,
        message="mail pushed over the renewed session",
    )
    failing = h.ctx.mailboxes.get(mailbox.id)
    assert failing is not None and failing.consecutive_failures == 0
