"""Microsoft 365 sign-in (Entra ID, OAuth 2.0 auth-code flow with PKCE, via MSAL).

Rules learned the hard way (see REFERENCE.md):
- never send ``prompt=consent``: tenants that block user consent then loop on "Need admin
  approval" even after the admin approved;
- MSAL remembers an identical 400 answer for 60 seconds per application object, so every
  operation builds a fresh ``ConfidentialClientApplication``: a "check again" right after
  an admin approved must reach Microsoft, not a cached refusal;
- MSAL only accepts https authorities. ``http_override`` keeps the real authority in every URL
  (the browser's, the ids in tokens) while MSAL's own HTTP calls go to another base URL.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import msal
import requests

from locales import _
from providers.signin_errors import FailureKind, SignInFailure

PROVIDER = "microsoft"
IMAP_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All"
SMTP_SCOPE = "https://outlook.office.com/SMTP.Send"
# MSAL adds offline_access, openid and profile itself (and refuses them if passed).
SCOPES = [IMAP_SCOPE, SMTP_SCOPE]
# App-only probe: succeeds once Mailroom exists in the tenant (after admin consent).
PROBE_SCOPE = "https://outlook.office.com/.default"
GENERIC_TENANTS = frozenset({"common", "organizations", "consumers"})

RECONNECT_CODES = frozenset({70000, 700082, 50173, 70008, 700084, 50076})
CONSENT_CODES = frozenset({65001, 90094, 90095, 65004, 50105, 700016, 53003})
CONFIG_CODES = frozenset({7000215, 7000222, 700027, 7000112})
_AADSTS = re.compile(r"AADSTS(\d+)")


@dataclass(frozen=True)
class MicrosoftConfig:
    client_id: str
    client_secret: str
    authority_host: str  # https://login.microsoftonline.com, or a sovereign cloud's host
    tenant: str  # "organizations" (any work account), a tenant GUID or a domain
    redirect_uri: str
    consent_redirect_uri: str
    http_override: str = ""  # where MSAL's HTTP calls really go (tests: a local fake)
    timeout: float = 15.0

    @property
    def host(self) -> str:
        return self.authority_host.rstrip("/")


@dataclass(frozen=True)
class MicrosoftGrant:
    access_token: str
    refresh_token: str | None
    expires_at: datetime
    scopes: frozenset[str]
    email: str = ""
    name: str = ""
    tenant_id: str | None = None
    object_id: str | None = None  # ``oid``: with ``tid``, who the account is for good


class _Rewrite(requests.Session):
    """Sends requests meant for the authority host to ``target`` instead."""

    def __init__(self, real: str, target: str) -> None:
        super().__init__()
        self.real = real.rstrip("/")
        self.target = target.rstrip("/")

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        text = url.decode() if isinstance(url, bytes) else url
        if self.target and text.startswith(self.real + "/"):
            text = self.target + text[len(self.real) :]
        return super().request(method, text, *args, **kwargs)


def _app(config: MicrosoftConfig, tenant: str) -> msal.ConfidentialClientApplication:
    """A fresh MSAL application (its constructor fetches the tenant's OpenID configuration)."""
    try:
        return msal.ConfidentialClientApplication(
            config.client_id,
            client_credential=config.client_secret,
            authority=f"{config.host}/{tenant}",
            http_client=_Rewrite(config.host, config.http_override),
            timeout=config.timeout,
            token_cache=msal.TokenCache(),
            # The authority comes from our settings, not from a user: no need to validate it
            # against Microsoft's instance list (one HTTP call less per operation).
            instance_discovery=False,
        )
    except ValueError:
        # Discovery failed: an unknown tenant, or Microsoft unreachable.
        raise SignInFailure(
            PROVIDER,
            FailureKind.TEMPORARY,
            detail=_("Microsoft did not recognise the organisation {tenant}").format(tenant=tenant),
        ) from None
    except requests.RequestException as exc:
        raise SignInFailure(PROVIDER, FailureKind.TEMPORARY, detail=type(exc).__name__) from None


def sign_in_tenant(config: MicrosoftConfig, known: str | None = None) -> str:
    return known or config.tenant or "organizations"


def begin_sign_in(
    config: MicrosoftConfig, *, state: str, tenant: str, login_hint: str | None = None
) -> tuple[str, str]:
    """The browser's authorization URL and the flow to keep server-side until the callback."""
    app = _app(config, tenant)
    try:
        flow = app.initiate_auth_code_flow(
            SCOPES,
            redirect_uri=config.redirect_uri,
            state=state,
            login_hint=login_hint,
            # The code comes back in a POST body, not in the URL (browser history, logs).
            response_mode="form_post",
        )  # no prompt: Microsoft shows consent only when the tenant allows and needs it
    except requests.RequestException as exc:
        raise SignInFailure(PROVIDER, FailureKind.TEMPORARY, detail=type(exc).__name__) from None
    return flow["auth_uri"], json.dumps(flow)


def finish_sign_in(
    config: MicrosoftConfig, *, tenant: str, flow_json: str, params: dict[str, str]
) -> MicrosoftGrant:
    """Check the redirect, redeem the code, and read who signed in from the ID token."""
    if params.get("error"):
        raise redirect_failure(params)
    app = _app(config, tenant)
    try:
        result = app.acquire_token_by_auth_code_flow(json.loads(flow_json), params)
    except (ValueError, RuntimeError):
        # State or nonce mismatch: a forged or replayed redirect.
        raise SignInFailure(PROVIDER, FailureKind.CODE, code="state mismatch") from None
    except requests.RequestException as exc:
        raise SignInFailure(PROVIDER, FailureKind.TEMPORARY, detail=type(exc).__name__) from None
    if result.get("error"):
        failure = classify(result)
        if failure.kind == FailureKind.RECONNECT:
            failure = SignInFailure(PROVIDER, FailureKind.CODE, code=failure.code)
        raise failure
    grant = _grant(result)
    missing = [s for s in SCOPES if s not in grant.scopes]
    if missing:
        raise SignInFailure(
            PROVIDER, FailureKind.SCOPE, code=" ".join(s.rsplit("/", 1)[-1] for s in missing)
        )
    if not grant.email or not grant.tenant_id or not grant.object_id:
        raise SignInFailure(
            PROVIDER,
            FailureKind.TEMPORARY,
            detail=_("Microsoft did not say which account signed in"),
        )
    return grant


def refresh(config: MicrosoftConfig, *, tenant: str, refresh_token: str) -> MicrosoftGrant:
    """A new access token; Microsoft rotates the refresh token, so keep the new one."""
    app = _app(config, tenant)
    try:
        result = app.acquire_token_by_refresh_token(refresh_token, SCOPES)
    except requests.RequestException as exc:
        raise SignInFailure(PROVIDER, FailureKind.TEMPORARY, detail=type(exc).__name__) from None
    if result.get("error"):
        raise classify(result)
    return _grant(result)


def probe_tenant(config: MicrosoftConfig, tenant: str) -> bool | None:
    """Whether Mailroom is present in ``tenant`` now (None: cannot tell for a generic one).

    An app-only token is issued only once an admin consented in that tenant; the answer is
    always fresh (new application object, so no cached 400)."""
    if not tenant or tenant in GENERIC_TENANTS:
        return None
    app = _app(config, tenant)
    try:
        result = app.acquire_token_for_client([PROBE_SCOPE])
    except requests.RequestException as exc:
        raise SignInFailure(PROVIDER, FailureKind.TEMPORARY, detail=type(exc).__name__) from None
    if result.get("access_token"):
        return True
    failure = classify(result)
    if failure.kind in (FailureKind.CONSENT, FailureKind.RECONNECT):
        return False
    raise failure


def admin_consent_url(config: MicrosoftConfig, *, tenant: str | None, state: str) -> str:
    """The v2 admin consent link: a tenant GUID or domain, ``organizations`` when unknown,
    never ``common`` (which would let a personal account try and fail)."""
    target = tenant if tenant and tenant not in ("common", "consumers") else "organizations"
    query = urlencode(
        {
            "client_id": config.client_id,
            "scope": " ".join(SCOPES),
            "redirect_uri": config.consent_redirect_uri,
            "state": state,
        }
    )
    return f"{config.host}/{target}/v2.0/adminconsent?{query}"


def _grant(result: dict[str, Any]) -> MicrosoftGrant:
    claims = result.get("id_token_claims") or {}
    try:
        seconds = int(result.get("expires_in") or 3600)
    except (TypeError, ValueError):
        seconds = 3600
    return MicrosoftGrant(
        access_token=str(result.get("access_token") or ""),
        refresh_token=result.get("refresh_token"),
        expires_at=datetime.now(UTC) + timedelta(seconds=seconds),
        scopes=frozenset(str(result.get("scope") or "").split()),
        email=account_email(claims),
        name=str(claims.get("name") or ""),
        tenant_id=claims.get("tid"),
        object_id=claims.get("oid"),
    )


def account_email(claims: dict[str, Any]) -> str:
    """The signed-in address, never from an unverified ``email`` claim ("nOAuth").

    ``email`` is whatever a tenant admin typed on the account, in any tenant; Microsoft vouches
    for it only with ``xms_edov`` (the email's domain is verified by the account's tenant).
    ``preferred_username`` is the account's sign-in name (UPN) in its own tenant. Who the
    account *is* comes from ``tid`` + ``oid``, which the caller keys on."""
    if claims.get("email") and claims.get("xms_edov") in (True, "true", "1", 1):
        return str(claims["email"]).strip().lower()
    return str(claims.get("preferred_username") or "").strip().lower()


def error_code(body: dict[str, Any]) -> int | None:
    """The AADSTS number of an error answer (from ``error_codes`` or the description)."""
    codes = body.get("error_codes")
    if isinstance(codes, list) and codes:
        try:
            return int(codes[0])
        except (TypeError, ValueError):
            pass
    match = _AADSTS.search(str(body.get("error_description") or ""))
    return int(match.group(1)) if match else None


def redirect_failure(params: dict[str, str]) -> SignInFailure:
    """An error in a browser redirect (the callback's or the admin-consent landing's query).

    Anyone can type those parameters, so they never count as "our client secret is wrong":
    only Microsoft's token endpoint answering our own request can say that."""
    failure = classify(params)
    if failure.kind == FailureKind.CONFIG:
        return SignInFailure(PROVIDER, FailureKind.TEMPORARY, code=failure.code)
    return failure


def classify(body: dict[str, Any]) -> SignInFailure:
    """Sort an Entra error (token answer or redirect query) into a FailureKind.

    ``error``/``suberror`` decide first; the AADSTS code separates the cases that share one
    ``error`` (``invalid_grant`` is both "consent missing" and "refresh token revoked")."""
    error = str(body.get("error") or "")
    suberror = str(body.get("suberror") or "")
    number = error_code(body)
    code = f"AADSTS{number}" if number else error
    if number in CONFIG_CODES:
        return SignInFailure(PROVIDER, FailureKind.CONFIG, code=code)
    if suberror == "consent_required" or error == "consent_required" or number in CONSENT_CODES:
        return SignInFailure(PROVIDER, FailureKind.CONSENT, code=code)
    if error == "invalid_client":
        return SignInFailure(PROVIDER, FailureKind.CONFIG, code=code)
    if (
        error == "invalid_grant"
        or number in RECONNECT_CODES
        or suberror in ("bad_token", "token_expired")
    ):
        return SignInFailure(PROVIDER, FailureKind.RECONNECT, code=code)
    if error == "access_denied":
        return SignInFailure(PROVIDER, FailureKind.CANCELLED, code=code)
    return SignInFailure(PROVIDER, FailureKind.TEMPORARY, code=code or "unknown_error")
