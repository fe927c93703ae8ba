"""providers.google against the fake Google over real HTTP: PKCE, scope check, refresh errors."""

from __future__ import annotations

import httpx
import pytest

from providers import google
from providers.signin_errors import FailureKind, SignInFailure
from tests.bot.signin.flows import query_of
from tests.support.identity_fakes import (
    GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
    IdentityFakes,
    pkce_ok,
)


@pytest.fixture
def config(identity: IdentityFakes, monkeypatch: pytest.MonkeyPatch) -> google.GoogleConfig:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    base = identity.base_url
    return google.GoogleConfig(
        GOOGLE_CLIENT_ID,
        GOOGLE_CLIENT_SECRET,
        f"{base}/google/authorize",
        f"{base}/google/token",
        f"{base}/google/userinfo",
        "http://app.test/oauth/google/callback",
        timeout=5,
    )


def code_for(config: google.GoogleConfig, verifier: str) -> str:
    url = google.authorization_url(
        config, state="s1", code_verifier=verifier, login_hint="a@b.test"
    )
    query = query_of(url)
    assert pkce_ok(verifier, query["code_challenge"]) and query["login_hint"] == "a@b.test"
    location = httpx.get(url, follow_redirects=False).headers["location"]
    return query_of(location)["code"]


def test_code_exchange_and_refresh(config: google.GoogleConfig, identity: IdentityFakes) -> None:
    verifier = "v" * 64
    tokens = google.exchange_code(
        config, code=code_for(config, verifier), code_verifier=verifier, state="s1"
    )
    assert google.MAIL_SCOPE in tokens.scopes and tokens.refresh_token
    assert google.profile(config, tokens.access_token).email == identity.google.person.email
    again = google.refresh(config, tokens.refresh_token)
    assert again.access_token != tokens.access_token and again.expires_at.tzinfo is not None
    assert identity.email_for_token(again.access_token) == identity.google.person.email


def test_wrong_verifier_is_refused(config: google.GoogleConfig) -> None:
    code = code_for(config, "a" * 64)
    with pytest.raises(SignInFailure) as caught:
        google.exchange_code(config, code=code, code_verifier="b" * 64, state="s1")
    assert caught.value.kind == FailureKind.CODE


def test_unticked_mail_scope_is_refused(
    config: google.GoogleConfig, identity: IdentityFakes
) -> None:
    identity.google.untick_mail = True
    verifier = "c" * 64
    with pytest.raises(SignInFailure) as caught:
        google.exchange_code(
            config, code=code_for(config, verifier), code_verifier=verifier, state="s1"
        )
    assert caught.value.kind == FailureKind.SCOPE


def test_refresh_failures_are_sorted(config: google.GoogleConfig, identity: IdentityFakes) -> None:
    with pytest.raises(SignInFailure) as revoked:
        google.refresh(config, "grt-unknown")
    assert revoked.value.kind == FailureKind.RECONNECT and revoked.value.code == "invalid_grant"
    identity.google.client_secret = "changed"
    with pytest.raises(SignInFailure) as ours:
        google.refresh(config, "grt-unknown")
    assert ours.value.kind == FailureKind.CONFIG


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("invalid_grant", FailureKind.RECONNECT),
        ("invalid_client", FailureKind.CONFIG),
        ("unauthorized_client", FailureKind.CONFIG),
        ("access_denied", FailureKind.CANCELLED),
        ("admin_policy_enforced", FailureKind.SCOPE),
        ("temporarily_unavailable", FailureKind.TEMPORARY),
    ],
)
def test_classify(error: str, kind: FailureKind) -> None:
    assert google.classify(error).kind == kind
