"""OAuth state rows (bot.signin.states) seen from the browser: single use, short-lived, opened by the browser that finishes them."""

from __future__ import annotations

from datetime import timedelta

import httpx

from storage.models import OAuthState, utcnow
from tests.bot.signin.flows import (
    add_mail_user,
    mailbox_count,
    open_connect,
    sign_in,
    sign_in_button,
)
from tests.support.harness import Harness
from tests.support.identity_fakes import Browser, IdentityFakes


def test_a_used_state_is_refused_the_second_time(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    add_mail_user(h, identity.google.person.email)
    run = sign_in(h, identity, "google")
    assert run.page.status_code == 200
    callback = run.browser.hops[-1].url
    replay = h.client.client.get(callback.removeprefix("http://testserver"))
    assert replay.status_code == 400
    assert "already used" in replay.text and "works only once" in replay.text
    # The start link is single-use too once the sign-in finished.
    again = h.client.client.get(run.url.removeprefix("http://testserver"), follow_redirects=False)
    assert again.status_code == 400 and "already used" in again.text


def test_an_expired_state_is_refused_at_start_and_at_the_callback(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    view = open_connect(h)
    button = sign_in_button(view, "google")
    with h.ctx.db.session() as session:
        row = session.get(OAuthState, button["value"])
        assert row.team_id and row.user_id == "UALICE" and row.kind == "personal"
        assert timedelta(minutes=9) < row.expires_at - utcnow() <= timedelta(minutes=10)
    # Fresh: /start sends the browser to Google.
    start = h.client.client.get(
        button["url"].removeprefix("http://testserver"), follow_redirects=False
    )
    assert start.status_code == 302
    at_google = httpx.get(start.headers["location"], follow_redirects=False)
    callback = at_google.headers["location"]
    # Ten minutes pass while the person is on Google's page.
    with h.ctx.db.session() as session:
        row = session.get(OAuthState, button["value"])
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
    page = h.client.client.get(callback.removeprefix("http://testserver"))
    assert page.status_code == 400 and "expired" in page.text
    assert mailbox_count(h) == 0
    again = h.client.client.get(
        button["url"].removeprefix("http://testserver"), follow_redirects=False
    )
    assert again.status_code == 400 and "expired" in again.text


def test_a_sign_in_link_opens_once(signin_harness: Harness, identity: IdentityFakes) -> None:
    h = signin_harness
    view = open_connect(h)
    button = sign_in_button(view, "google")
    path = button["url"].removeprefix("http://testserver")
    first = h.client.client.get(path, follow_redirects=False)
    assert first.status_code == 302
    # The same link opened again (forwarded, or replayed from history) before the first
    # browser came back: refused, with what to do instead.
    again = h.client.client.get(path, follow_redirects=False)
    assert again.status_code == 400
    assert "already used" in again.text and "press the sign-in button again" in again.text
    with h.ctx.db.session() as session:
        assert session.get(OAuthState, button["value"]).opened_at is not None


def test_a_browser_that_never_opened_the_link_cannot_finish_it(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    view = open_connect(h)
    button = sign_in_button(view, "google")
    page = h.client.client.get(f"/oauth/google/callback?state={button['value']}&code=x")
    assert page.status_code == 400 and "did not start from its link" in page.text
    # The link itself still works for its owner afterwards.
    add_mail_user(h, identity.google.person.email)
    h.slack.set_email("UALICE", identity.google.person.email)
    assert Browser(h.client.client, identity).get(button["url"]).status_code == 200
