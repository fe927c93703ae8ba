"""Google sign-in for Gmail and Google Workspace mailboxes (OAuth 2.0 with PKCE).

google-auth-oauthlib builds the authorization URL and redeems the code; google-auth refreshes
tokens. Every refusal is sorted into a ``FailureKind`` here, so callers never read Google's
raw error strings. The endpoints come from settings, so tests (and proxies) can point them
at another server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import google.auth.transport.requests
import requests
from google.auth import exceptions as google_exceptions
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from locales import _
from providers.signin_errors import FailureKind, SignInFailure

PROVIDER = "google"
MAIL_SCOPE = "https://mail.google.com/"  # IMAP and SMTP; a "restricted" scope for Google
SCOPES = [
    "openid",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
    MAIL_SCOPE,
]


@dataclass(frozen=True)
class GoogleConfig:
    client_id: str
    client_secret: str
    auth_uri: str
    token_uri: str
    userinfo_uri: str
    redirect_uri: str
    timeout: float = 15.0

    def client_config(self) -> dict[str, Any]:
        return {
            "web": {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "auth_uri": self.auth_uri,
                "token_uri": self.token_uri,
                "redirect_uris": [self.redirect_uri],
            }
        }


@dataclass(frozen=True)
class GoogleTokens:
    access_token: str
    refresh_token: str | None
    expires_at: datetime
    scopes: frozenset[str]


@dataclass(frozen=True)
class GoogleProfile:
    email: str
    name: str


def _flow(config: GoogleConfig, code_verifier: str, state: str | None = None) -> Flow:
    return Flow.from_client_config(
        config.client_config(),
        scopes=SCOPES,
        redirect_uri=config.redirect_uri,
        state=state,
        code_verifier=code_verifier,
        autogenerate_code_verifier=False,
    )


def authorization_url(
    config: GoogleConfig, *, state: str, code_verifier: str, login_hint: str | None = None
) -> str:
    """Where the browser goes to sign in. ``access_type=offline`` + ``prompt=consent``:
    Google issues a refresh token only on a consent screen."""
    extra = {"login_hint": login_hint} if login_hint else {}
    url, _state = _flow(config, code_verifier).authorization_url(
        state=state, access_type="offline", prompt="consent", **extra
    )
    return str(url)


def _expiry(expires_in: Any) -> datetime:
    try:
        seconds = int(expires_in)
    except (TypeError, ValueError):
        seconds = 3600
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _scopes(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    return frozenset(value or [])


def exchange_code(
    config: GoogleConfig, *, code: str, code_verifier: str, state: str
) -> GoogleTokens:
    """Redeem the authorization code (with the PKCE verifier) for tokens."""
    flow = _flow(config, code_verifier, state)
    try:
        token = dict(flow.fetch_token(code=code, timeout=config.timeout))
    except Warning as changed:
        # oauthlib raises when the granted scope differs from the requested one (the person
        # unticked a box): keep the answer, the caller checks the scope itself.
        token = dict(getattr(changed, "token", {}) or {})
    except OAuth2Error as exc:
        failure = classify(exc.error or "", exc.description or "")
        if failure.kind == FailureKind.RECONNECT:
            # invalid_grant while redeeming a code: the code was stale or used, not revoked.
            failure = SignInFailure(PROVIDER, FailureKind.CODE, code=failure.code)
        raise failure from None
    except requests.RequestException as exc:
        raise SignInFailure(PROVIDER, FailureKind.TEMPORARY, detail=type(exc).__name__) from None
    if not token.get("access_token"):
        raise SignInFailure(
            PROVIDER, FailureKind.TEMPORARY, detail=_("no access token in the answer")
        )
    tokens = GoogleTokens(
        access_token=token["access_token"],
        refresh_token=token.get("refresh_token"),
        expires_at=_expiry(token.get("expires_in")),
        scopes=_scopes(token.get("scope")),
    )
    if MAIL_SCOPE not in tokens.scopes:
        # Google lets people untick the mail permission and still "allow" the app.
        raise SignInFailure(PROVIDER, FailureKind.SCOPE, code="mail scope not granted")
    if not tokens.refresh_token:
        raise SignInFailure(
            PROVIDER,
            FailureKind.TEMPORARY,
            detail=_("Google gave no refresh token, so the access would end in an hour"),
        )
    return tokens


def profile(config: GoogleConfig, access_token: str) -> GoogleProfile:
    """The signed-in address, from the OpenID Connect userinfo endpoint."""
    try:
        response = requests.get(
            config.userinfo_uri,
            timeout=config.timeout,
            headers={"Authorization": f"Bearer {access_token}"},
        )
    except requests.RequestException as exc:
        raise SignInFailure(PROVIDER, FailureKind.TEMPORARY, detail=type(exc).__name__) from None
    if response.status_code != 200:
        raise SignInFailure(
            PROVIDER,
            FailureKind.TEMPORARY,
            detail=_("userinfo answered HTTP {status}").format(status=response.status_code),
        )
    data = response.json()
    email = str(data.get("email") or "").strip().lower()
    if not email or data.get("email_verified") is False:
        raise SignInFailure(
            PROVIDER,
            FailureKind.TEMPORARY,
            detail=_("Google did not confirm the account's email address"),
        )
    return GoogleProfile(email=email, name=str(data.get("name") or ""))


class _Request(google.auth.transport.requests.Request):
    """google-auth's transport with a bounded timeout (its default is two minutes)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["timeout"] = self._timeout
        return super().__call__(*args, **kwargs)  # type: ignore[no-untyped-call]  # google-auth


def refresh(config: GoogleConfig, refresh_token: str) -> GoogleTokens:
    """A new access token; Google may also hand out a new refresh token (kept if so)."""
    credentials = Credentials(  # type: ignore[no-untyped-call]  # google-auth is untyped
        token=None,
        refresh_token=refresh_token,
        token_uri=config.token_uri,
        client_id=config.client_id,
        client_secret=config.client_secret,
    )
    try:
        credentials.refresh(_Request(config.timeout))  # type: ignore[no-untyped-call]
    except google_exceptions.RefreshError as exc:
        data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
        error = str(data.get("error") or str(exc.args[0] if exc.args else "")).split(":")[0]
        raise classify(error, str(data.get("error_description") or "")) from None
    except google_exceptions.TransportError as exc:
        raise SignInFailure(PROVIDER, FailureKind.TEMPORARY, detail=type(exc).__name__) from None
    expiry = credentials.expiry  # naive UTC in google-auth
    expires_at = expiry.replace(tzinfo=UTC) if expiry else _expiry(None)
    return GoogleTokens(
        access_token=str(credentials.token),
        refresh_token=credentials.refresh_token,
        expires_at=expires_at,
        scopes=_scopes(credentials.granted_scopes),
    )


def redirect_failure(error: str) -> SignInFailure:
    """An ``error`` in the browser's redirect: anyone can type it, so it never counts as
    "our client secret is wrong" (only the token endpoint answering our request says that)."""
    failure = classify(error)
    if failure.kind == FailureKind.CONFIG:
        return SignInFailure(PROVIDER, FailureKind.TEMPORARY, code=failure.code)
    return failure


def classify(error: str, description: str = "") -> SignInFailure:
    """Sort a Google OAuth error (RFC 6749 section 5.2 names) into a FailureKind."""
    error = (error or "").strip()
    if error == "invalid_grant":
        # On refresh: revoked, expired (7-day "Testing" apps), password changed.
        return SignInFailure(PROVIDER, FailureKind.RECONNECT, code=error)
    if error in ("invalid_client", "unauthorized_client"):
        return SignInFailure(PROVIDER, FailureKind.CONFIG, code=error)
    if error == "access_denied":
        return SignInFailure(PROVIDER, FailureKind.CANCELLED, code=error)
    if error in ("invalid_scope", "admin_policy_enforced", "org_internal"):
        # A Workspace admin restricts third-party access, or the app is internal-only.
        return SignInFailure(PROVIDER, FailureKind.SCOPE, code=error)
    return SignInFailure(PROVIDER, FailureKind.TEMPORARY, code=error or "unknown_error")
