"""Fake Google and Microsoft identity providers on one loopback HTTP server, plus a browser.

Real HTTP, reached through the app's normal settings (GOOGLE_*_URI, MICROSOFT_HTTP_OVERRIDE):
- Google: /google/authorize (the browser hop), /google/token, /google/userinfo;
- Microsoft: /ms/{tenant}/v2.0/.well-known/openid-configuration, /ms/{tenant}/oauth2/v2.0/
  authorize and token, /ms/{tenant}/v2.0/adminconsent. Discovery answers with the real host
  (https://login.microsoftonline.com), exactly as Microsoft does; MSAL's calls reach us through
  the app's host rewrite, and ``Browser`` rewrites the host for the browser hops;
- /introspect: RFC 7662 for Dovecot's oauth2 passdb (and the SMTP server's token check), so
  an access token this fake issued logs into a real Dovecot.

Both fakes check what real providers check: client secret, redirect URI, single-use codes,
PKCE (S256), and they rotate Microsoft refresh tokens (an old one stops working).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest

from tests.support.mail_servers import DovecotServer, SmtpServer, require_dovecot

HOST = "127.0.0.1"
MS_HOST = "https://login.microsoftonline.com"
GOOGLE_CLIENT_ID = "google-client-id.apps.googleusercontent.com"
GOOGLE_CLIENT_SECRET = "google-secret"
MS_CLIENT_ID = "11111111-2222-3333-4444-555555555555"
MS_CLIENT_SECRET = "ms-secret"
GOOGLE_MAIL = "https://mail.google.com/"
MS_SCOPES = (
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
)

# Error bodies as Microsoft sends them (description text shortened).
MS_ERRORS: dict[int, tuple[str, str]] = {
    65001: (
        "consent_required",
        "AADSTS65001: The user or administrator has not consented to use the application.",
    ),
    90094: ("access_denied", "AADSTS90094: The grant requires admin permission."),
    90095: (
        "access_denied",
        "AADSTS90095: Admin consent is required; an admin-consent request can be sent.",
    ),
    65004: ("access_denied", "AADSTS65004: User declined to consent to access the app."),
    70000: ("invalid_grant", "AADSTS70000: The provided grant is invalid or malformed."),
    50173: (
        "invalid_grant",
        "AADSTS50173: The provided grant has expired due to it being revoked.",
    ),
    700082: ("invalid_grant", "AADSTS700082: The refresh token has expired due to inactivity."),
    7000215: ("invalid_client", "AADSTS7000215: Invalid client secret provided."),
    7000222: ("invalid_client", "AADSTS7000222: The provided client secret keys are expired."),
    50105: (
        "invalid_grant",
        "AADSTS50105: The signed in user is not assigned to a role for the application.",
    ),
    53003: (
        "access_denied",
        "AADSTS53003: Access has been blocked by Conditional Access policies.",
    ),
    700016: ("unauthorized_client", "AADSTS700016: Application was not found in the directory."),
}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pkce_ok(verifier: str, challenge: str) -> bool:
    return bool(verifier) and _b64url(hashlib.sha256(verifier.encode()).digest()) == challenge


def ms_error(code: int) -> dict[str, Any]:
    error, description = MS_ERRORS[code]
    return {
        "error": error,
        "error_description": description,
        "error_codes": [code],
        "trace_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
    }


@dataclass
class Person:
    email: str
    name: str = "Ana Example"
    tenant: str = ""  # Microsoft tenant id (GUID)
    claims: dict[str, Any] = field(default_factory=dict)  # Microsoft: ID token claims to add


@dataclass
class TenantPolicy:
    """A Microsoft tenant: whether Mailroom is approved, and what a user sees if not."""

    consented: bool = True
    block: int | None = None  # 65001, 90094, 65004...: the error a sign-in gets when not approved


@dataclass
class _Grant:
    email: str
    scopes: list[str]
    tenant: str = ""
    revoked: bool = False
    used: bool = False


@dataclass
class GoogleFake:
    client_secret: str = GOOGLE_CLIENT_SECRET
    person: Person = field(default_factory=lambda: Person("ana@gmail.test"))
    untick_mail: bool = False
    deny: str | None = None  # "access_denied": the person pressed Cancel
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: dict[str, _Grant] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def refreshes(self) -> int:
        return sum(1 for r in self.token_requests if r.get("grant_type") == "refresh_token")

    def revoke_all(self) -> None:
        for grant in self.refresh_tokens.values():
            grant.revoked = True


@dataclass
class MicrosoftFake:
    client_secret: str = MS_CLIENT_SECRET
    person: Person = field(
        default_factory=lambda: Person("bo@contoso.test", "Bo Contoso", "tid-contoso")
    )
    tenants: dict[str, TenantPolicy] = field(default_factory=dict)
    admin_decision: str = "grant"  # or "decline"
    admin_tenant: str = "tid-contoso"  # whose admin answers an /organizations/ consent link
    refresh_error: int | None = None  # every refresh answers this Microsoft error
    granted_scopes: tuple[str, ...] = MS_SCOPES  # what a token answer says was granted
    refresh_latency: float = 0.0  # seconds a refresh answer takes (widens race windows)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: dict[str, _Grant] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    adminconsent_requests: list[dict[str, str]] = field(default_factory=list)

    def policy(self, tenant: str) -> TenantPolicy:
        return self.tenants.setdefault(tenant, TenantPolicy())

    def refreshes(self) -> int:
        return sum(1 for r in self.token_requests if r.get("grant_type") == "refresh_token")


class IdentityFakes:
    """Both fakes and the introspection endpoint behind one ThreadingHTTPServer."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.access_lifetime = 3600
        self.google = GoogleFake()
        self.microsoft = MicrosoftFake()
        self.access_tokens: dict[
            str, tuple[str, float]
        ] = {}  # mail-capable: token -> (email, expires)
        self.token_owners: dict[str, str] = {}  # every access token -> email (for userinfo)
        self.introspections: list[str] = []
        fakes = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                fakes._dispatch(self, "GET")

            def do_POST(self) -> None:
                fakes._dispatch(self, "POST")

        self._httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # --- Lifecycle ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self._httpd.server_address[1]}"

    @property
    def introspect_url(self) -> str:
        return f"{self.base_url}/introspect"

    def start(self) -> IdentityFakes:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def reset(self) -> None:
        with self.lock:
            self.access_lifetime = 3600
            # Fresh addresses per test: the session's Dovecot keeps every mailbox it saw.
            tag = uuid.uuid4().hex[:8]
            self.google = GoogleFake(person=Person(f"ana.{tag}@gmail.test", "Ana Gómez"))
            self.microsoft = MicrosoftFake(
                person=Person(f"bo.{tag}@contoso.test", "Bo Contoso", "tid-contoso")
            )
            self.access_tokens.clear()
            self.token_owners.clear()
            self.introspections.clear()

    # --- Tokens ---------------------------------------------------------------------------

    def _issue_access(self, email: str, mail_allowed: bool) -> str:
        token = "at-" + secrets.token_urlsafe(24)
        self.token_owners[token] = email
        if mail_allowed:
            self.access_tokens[token] = (email, time.time() + self.access_lifetime)
        return token

    def email_for_token(self, token: str) -> str | None:
        """Who an access token belongs to, if live (also the SMTP server's token check)."""
        with self.lock:
            entry = self.access_tokens.get(token)
        if entry is None or entry[1] < time.time():
            return None
        return entry[0]

    def expire_access_tokens(self) -> None:
        """Every access token issued so far stops working (as after their expiry)."""
        with self.lock:
            self.access_tokens.clear()

    # --- HTTP -----------------------------------------------------------------------------

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        form: dict[str, str] = {}
        if method == "POST":
            length = int(handler.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(handler.rfile.read(length).decode()).items()}
        parts = [p for p in url.path.split("/") if p]
        try:
            with self.lock:
                status, headers, body = self._route(method, parts, query, form, handler.headers)
        except Exception as exc:  # a fake bug must show up, not hang a test
            status, headers, body = (
                500,
                {},
                json.dumps({"error": "fake_crashed", "error_description": repr(exc)}),
            )
        payload = body.encode() if isinstance(body, str) else body
        handler.send_response(status)
        headers.setdefault("Content-Type", "application/json")
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _route(
        self,
        method: str,
        parts: list[str],
        query: dict[str, str],
        form: dict[str, str],
        headers: Any,
    ) -> tuple[int, dict[str, str], str]:
        if parts == ["introspect"]:
            token = form.get("token", "")
            self.introspections.append(token)
            entry = self.access_tokens.get(token)
            if entry is None or entry[1] < time.time():
                return 200, {}, json.dumps({"active": False})
            return 200, {}, json.dumps({"active": True, "email": entry[0]})
        if parts[:1] == ["google"] and len(parts) == 2:
            return getattr(self, f"_google_{parts[1]}")(query, form, headers)
        if parts[:1] == ["ms"] and len(parts) >= 3:
            tenant, rest = parts[1], "/".join(parts[2:])
            if rest == "v2.0/.well-known/openid-configuration":
                return self._ms_discovery(tenant)
            if rest == "oauth2/v2.0/authorize":
                return self._ms_authorize(tenant, query)
            if rest == "oauth2/v2.0/token":
                return self._ms_token(tenant, form)
            if rest == "v2.0/adminconsent":
                return self._ms_adminconsent(tenant, query)
        return 404, {}, json.dumps({"error": "not_found"})

    @staticmethod
    def _redirect(
        uri: str, params: dict[str, str], mode: str = "query"
    ) -> tuple[int, dict[str, str], str]:
        if mode == "form_post":
            # What Entra sends for response_mode=form_post: a form the browser submits at once.
            fields = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                for k, v in params.items()
            )
            body = (
                f'<html><body onload="document.forms[0].submit()"><form method="post" '
                f'action="{html.escape(uri)}">{fields}</form></body></html>'
            )
            return 200, {"Content-Type": "text/html"}, body
        return 302, {"Location": f"{uri}?{urlencode(params)}"}, ""

    # --- Google ---------------------------------------------------------------------------

    def _google_authorize(self, query: dict[str, str], form: dict[str, str], headers: Any) -> Any:
        g = self.google
        g.authorize_requests.append(query)
        if query.get("client_id") != GOOGLE_CLIENT_ID:
            return 400, {"Content-Type": "text/plain"}, "Error 401: invalid_client"
        if g.deny:
            return self._redirect(
                query["redirect_uri"], {"error": g.deny, "state": query.get("state", "")}
            )
        scopes = query.get("scope", "").split()
        if g.untick_mail:
            scopes = [s for s in scopes if s != GOOGLE_MAIL]
        code = "gc-" + secrets.token_urlsafe(16)
        g.codes[code] = {
            "redirect_uri": query.get("redirect_uri"),
            "challenge": query.get("code_challenge"),
            "method": query.get("code_challenge_method"),
            "scopes": scopes,
            "offline": query.get("access_type") == "offline" and query.get("prompt") == "consent",
            "person": g.person,
        }
        return self._redirect(
            query["redirect_uri"],
            {"code": code, "state": query.get("state", ""), "scope": " ".join(scopes)},
        )

    def _google_client_ok(self, form: dict[str, str], headers: Any) -> bool:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = headers.get("Authorization") or ""
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        return client_id == GOOGLE_CLIENT_ID and secret == self.google.client_secret

    def _google_token(self, query: dict[str, str], form: dict[str, str], headers: Any) -> Any:
        g = self.google
        g.token_requests.append(form)
        if not self._google_client_ok(form, headers):
            return (
                401,
                {},
                json.dumps({"error": "invalid_client", "error_description": "Unauthorized"}),
            )
        bad_grant = (
            400,
            {},
            json.dumps({"error": "invalid_grant", "error_description": "Bad Request"}),
        )
        if form.get("grant_type") == "authorization_code":
            code = g.codes.pop(form.get("code", ""), None)
            if (
                code is None
                or code["redirect_uri"] != form.get("redirect_uri")
                or code["method"] != "S256"
                or not pkce_ok(form.get("code_verifier", ""), code["challenge"] or "")
            ):
                return bad_grant
            person: Person = code["person"]
            mail = GOOGLE_MAIL in code["scopes"]
            answer: dict[str, Any] = {
                "access_token": self._issue_access(person.email, mail),
                "expires_in": self.access_lifetime,
                "token_type": "Bearer",
                "scope": " ".join(code["scopes"]),
                "id_token": jwt.encode(
                    {
                        "iss": "https://accounts.google.com",
                        "aud": GOOGLE_CLIENT_ID,
                        "sub": person.email,
                        "email": person.email,
                        "iat": int(time.time()),
                        "exp": int(time.time()) + 3600,
                    },
                    "fake-google-key-0123456789abcdef0123",
                    algorithm="HS256",
                ),
            }
            if code["offline"]:
                refresh = "grt-" + secrets.token_urlsafe(16)
                g.refresh_tokens[refresh] = _Grant(person.email, code["scopes"])
                answer["refresh_token"] = refresh
            return 200, {}, json.dumps(answer)
        if form.get("grant_type") == "refresh_token":
            grant = g.refresh_tokens.get(form.get("refresh_token", ""))
            if grant is None or grant.revoked:
                return (
                    400,
                    {},
                    json.dumps(
                        {
                            "error": "invalid_grant",
                            "error_description": "Token has been expired or revoked.",
                        }
                    ),
                )
            return (
                200,
                {},
                json.dumps(
                    {
                        "access_token": self._issue_access(
                            grant.email, GOOGLE_MAIL in grant.scopes
                        ),
                        "expires_in": self.access_lifetime,
                        "token_type": "Bearer",
                        "scope": " ".join(grant.scopes),
                    }
                ),
            )
        return 400, {}, json.dumps({"error": "unsupported_grant_type"})

    def _google_userinfo(self, query: dict[str, str], form: dict[str, str], headers: Any) -> Any:
        token = (headers.get("Authorization") or "").removeprefix("Bearer ")
        email = self.token_owners.get(token)
        if email is None:
            return 401, {}, json.dumps({"error": "invalid_token"})
        return (
            200,
            {},
            json.dumps(
                {
                    "sub": "sub-" + email,
                    "email": email,
                    "email_verified": True,
                    "name": self.google.person.name,
                }
            ),
        )

    # --- Microsoft ------------------------------------------------------------------------

    def _ms_discovery(self, tenant: str) -> Any:
        issuer_tenant = "{tenantid}" if tenant in ("organizations", "common") else tenant
        return (
            200,
            {},
            json.dumps(
                {
                    "authorization_endpoint": f"{MS_HOST}/{tenant}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{MS_HOST}/{tenant}/oauth2/v2.0/token",
                    "issuer": f"{MS_HOST}/{issuer_tenant}/v2.0",
                    "response_types_supported": ["code"],
                }
            ),
        )

    def _ms_authorize(self, tenant: str, query: dict[str, str]) -> Any:
        m = self.microsoft
        m.authorize_requests.append(query)
        uri = query.get("redirect_uri", "")
        person = m.person
        policy = m.policy(person.tenant)
        if query.get("client_id") != MS_CLIENT_ID:
            return 400, {"Content-Type": "text/plain"}, "AADSTS700016: Application not found"
        mode = query.get("response_mode", "query")
        if not policy.consented and policy.block:
            error = ms_error(policy.block)
            return self._redirect(
                uri,
                {
                    "error": error["error"],
                    "error_description": error["error_description"],
                    "state": query.get("state", ""),
                },
                mode,
            )
        code = "mc-" + secrets.token_urlsafe(16)
        m.codes[code] = {
            "redirect_uri": uri,
            "challenge": query.get("code_challenge"),
            "method": query.get("code_challenge_method"),
            "nonce": query.get("nonce"),
            "person": person,
        }
        return self._redirect(
            uri,
            {
                "code": code,
                "state": query.get("state", ""),
                "client_info": _b64url(b"{}"),
                "session_state": "s",
            },
            mode,
        )

    def _ms_tokens(self, person: Person, nonce: str | None) -> dict[str, Any]:
        refresh = "mrt-" + secrets.token_urlsafe(16)
        self.microsoft.refresh_tokens[refresh] = _Grant(
            person.email, list(MS_SCOPES), person.tenant
        )
        claims = {
            "aud": MS_CLIENT_ID,
            "iss": f"{MS_HOST}/{person.tenant}/v2.0",
            "tid": person.tenant,
            "oid": "oid-" + person.email,
            "sub": "sub-" + person.email,
            "preferred_username": person.email,
            "name": person.name,
            "iat": int(time.time()),
            "exp": int(time.time()) + 3600,
        }
        claims |= person.claims
        if nonce:
            claims["nonce"] = nonce
        return {
            "token_type": "Bearer",
            "scope": " ".join(self.microsoft.granted_scopes),
            "expires_in": self.access_lifetime,
            "access_token": self._issue_access(person.email, True),
            "refresh_token": refresh,
            "id_token": jwt.encode(
                claims, "fake-microsoft-key-0123456789abcdef", algorithm="HS256"
            ),
        }

    def _ms_token(self, tenant: str, form: dict[str, str]) -> Any:
        m = self.microsoft
        m.token_requests.append({**form, "tenant": tenant})
        if form.get("client_id") != MS_CLIENT_ID:
            return 400, {}, json.dumps(ms_error(700016))
        if form.get("client_secret") != m.client_secret:
            return 401, {}, json.dumps(ms_error(7000215))
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            code = m.codes.pop(form.get("code", ""), None)
            if (
                code is None
                or code["redirect_uri"] != form.get("redirect_uri")
                or code["method"] != "S256"
                or not pkce_ok(form.get("code_verifier", ""), code["challenge"] or "")
            ):
                return 400, {}, json.dumps({**ms_error(70000), "error_codes": [70008]})
            return 200, {}, json.dumps(self._ms_tokens(code["person"], code["nonce"]))
        if grant_type == "refresh_token":
            if m.refresh_latency:
                # Network latency, outside the lock so concurrent requests overlap.
                self.lock.release()
                try:
                    time.sleep(m.refresh_latency)
                finally:
                    self.lock.acquire()
            grant = m.refresh_tokens.get(form.get("refresh_token", ""))
            if m.refresh_error:
                return 400, {}, json.dumps(ms_error(m.refresh_error))
            if grant is None or grant.revoked or grant.used:
                return 400, {}, json.dumps(ms_error(70000))
            policy = m.policy(grant.tenant)
            if not policy.consented:
                return 400, {}, json.dumps({**ms_error(65001), "suberror": "consent_required"})
            grant.used = True  # rotation: the old refresh token is spent
            person = Person(grant.email, "", grant.tenant)
            return 200, {}, json.dumps(self._ms_tokens(person, None))
        if grant_type == "client_credentials":
            if tenant in ("organizations", "common") or not m.policy(tenant).consented:
                return 400, {}, json.dumps(ms_error(700016))
            return (
                200,
                {},
                json.dumps(
                    {
                        "token_type": "Bearer",
                        "expires_in": 3599,
                        "access_token": "app-" + secrets.token_urlsafe(8),
                    }
                ),
            )
        return 400, {}, json.dumps({"error": "unsupported_grant_type"})

    def _ms_adminconsent(self, tenant: str, query: dict[str, str]) -> Any:
        m = self.microsoft
        m.adminconsent_requests.append({**query, "tenant": tenant})
        uri = query.get("redirect_uri", "")
        if m.admin_decision != "grant":
            return self._redirect(
                uri,
                {
                    "error": "access_denied",
                    "error_subcode": "cancel",
                    "error_description": MS_ERRORS[65004][1],
                    "admin_consent": "True",
                    "state": query.get("state", ""),
                },
            )
        granted = m.admin_tenant if tenant in ("organizations", "common") else tenant
        m.policy(granted).consented = True
        return self._redirect(
            uri,
            {
                "admin_consent": "True",
                "tenant": granted,
                "state": query.get("state", ""),
                "scope": query.get("scope", ""),
            },
        )


_AUTO_FORM = re.compile(r'<form method="post" action="([^"]*)">(.*?)</form>', re.S)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')


@dataclass
class Hop:
    url: str
    status: int


class Browser:
    """Follows redirects like a browser: the app (in-process), then the identity fakes.

    ``https://login.microsoftonline.com`` is rewritten to the fake (as DNS would), so the app
    builds exactly the URLs it builds in production."""

    def __init__(
        self, app_client: Any, fakes: IdentityFakes, public_url: str = "http://testserver"
    ) -> None:
        self.app = app_client
        self.fakes = fakes
        self.public_url = public_url
        self.hops: list[Hop] = []

    def get(self, url: str, max_hops: int = 10) -> httpx.Response:
        for _ in range(max_hops):
            if url.startswith(self.public_url):
                response = self.app.get(url[len(self.public_url) :], follow_redirects=False)
            else:
                real = (
                    url.replace(MS_HOST, f"{self.fakes.base_url}/ms", 1)
                    if url.startswith(MS_HOST)
                    else url
                )
                response = httpx.get(real, follow_redirects=False, timeout=10)
            self.hops.append(Hop(url, response.status_code))
            form = _AUTO_FORM.search(response.text) if not url.startswith(self.public_url) else None
            if form is not None:
                # An auto-submitting form_post page: submit it, as the browser's onload would.
                fields = {
                    html.unescape(k): html.unescape(v) for k, v in _HIDDEN.findall(form.group(2))
                }
                action = html.unescape(form.group(1))
                response = self.app.post(
                    action[len(self.public_url) :], data=fields, follow_redirects=False
                )
                self.hops.append(Hop(action, response.status_code))
                if response.status_code not in (301, 302, 303, 307, 308):
                    return response
            elif response.status_code not in (301, 302, 303, 307, 308):
                return response
            url = response.headers["location"]
        raise AssertionError(f"too many redirects: {[h.url for h in self.hops]}")


# --- Fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def identity_server() -> Iterator[IdentityFakes]:
    fakes = IdentityFakes().start()
    try:
        yield fakes
    finally:
        fakes.stop()


@pytest.fixture
def identity(identity_server: IdentityFakes) -> IdentityFakes:
    """The fakes with fresh state for this test."""
    identity_server.reset()
    return identity_server


@pytest.fixture(scope="session")
def identity_dovecot(identity_server: IdentityFakes) -> Iterator[DovecotServer]:
    """A Dovecot whose XOAUTH2 logins are checked by the fakes' /introspect."""
    require_dovecot()
    server = DovecotServer(introspection_url=identity_server.introspect_url).start()
    try:
        yield server
    finally:
        server.stop()


def signin_env(fakes: IdentityFakes, dovecot: DovecotServer, smtp: SmtpServer) -> dict[str, str]:
    env = {
        "PUBLIC_URL": "http://testserver",
        "GOOGLE_CLIENT_ID": GOOGLE_CLIENT_ID,
        "GOOGLE_CLIENT_SECRET": GOOGLE_CLIENT_SECRET,
        "GOOGLE_AUTH_URI": f"{fakes.base_url}/google/authorize",
        "GOOGLE_TOKEN_URI": f"{fakes.base_url}/google/token",
        "GOOGLE_USERINFO_URI": f"{fakes.base_url}/google/userinfo",
        "MICROSOFT_CLIENT_ID": MS_CLIENT_ID,
        "MICROSOFT_CLIENT_SECRET": MS_CLIENT_SECRET,
        "MICROSOFT_HTTP_OVERRIDE": f"{fakes.base_url}/ms",
        "MAILROOM_ADMINS": "UADMIN",
    }
    for provider in ("GOOGLE", "MICROSOFT"):
        env |= {
            f"{provider}_IMAP_HOST": HOST,
            f"{provider}_IMAP_PORT": str(dovecot.port),
            f"{provider}_IMAP_SECURITY": "none",
            f"{provider}_SMTP_HOST": HOST,
            f"{provider}_SMTP_PORT": str(smtp.port),
            f"{provider}_SMTP_SECURITY": "none",
        }
    return env


@pytest.fixture
def make_signin_harness(
    monkeypatch: pytest.MonkeyPatch,
    harness_with: Any,
    identity: IdentityFakes,
    identity_dovecot: DovecotServer,
    smtp_server: SmtpServer,
) -> Any:
    """Build the app wired to the fakes; keyword arguments add or override settings."""
    # oauthlib refuses http:// token endpoints unless told this is a test.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    smtp_server.token_validator = identity.email_for_token

    def make(database_url: str | None = None, **extra: str) -> Any:
        env = signin_env(identity, identity_dovecot, smtp_server) | extra
        return harness_with(database_url=database_url, dovecot=identity_dovecot, **env)

    return make


@pytest.fixture
def signin_harness(make_signin_harness: Any) -> Any:
    return make_signin_harness()
