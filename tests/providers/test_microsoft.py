"""providers.microsoft: error sorting, the consent link, and fresh (never cached) answers."""

from __future__ import annotations

import pytest

from bot.mailboxes import health_after
from providers import microsoft
from providers.signin_errors import FailureKind
from storage.models import Health
from tests.support.identity_fakes import (
    MS_CLIENT_ID,
    MS_CLIENT_SECRET,
    IdentityFakes,
    TenantPolicy,
    ms_error,
)


def config(identity: IdentityFakes | None = None) -> microsoft.MicrosoftConfig:
    return microsoft.MicrosoftConfig(
        MS_CLIENT_ID,
        MS_CLIENT_SECRET,
        "https://login.microsoftonline.com",
        "organizations",
        "https://app.test/oauth/microsoft/callback",
        "https://app.test/oauth/microsoft/adminconsent",
        http_override=f"{identity.base_url}/ms" if identity else "",
        timeout=5,
    )


@pytest.mark.parametrize("code", [70000, 700082, 50173])
def test_revoked_or_expired_grants_need_reconnect(code: int) -> None:
    failure = microsoft.classify(ms_error(code))
    assert (
        failure.kind == FailureKind.RECONNECT and health_after(failure) == Health.RECONNECT_NEEDED
    )
    assert f"AADSTS{code}" in failure.message


@pytest.mark.parametrize("code", [65001, 90094, 90095, 65004, 50105, 700016, 53003])
def test_consent_problems_need_admin_approval(code: int) -> None:
    failure = microsoft.classify(ms_error(code))
    assert (
        failure.kind == FailureKind.CONSENT
        and health_after(failure) == Health.ADMIN_APPROVAL_NEEDED
    )


def test_conditional_access_and_code_in_description_only() -> None:
    body = {"error": "access_denied", "error_description": "AADSTS53003: Access has been blocked."}
    assert microsoft.classify(body).kind == FailureKind.CONSENT
    assert microsoft.classify({"error": "access_denied"}).kind == FailureKind.CANCELLED


@pytest.mark.parametrize("code", [7000215, 7000222])
def test_wrong_client_secret_is_our_configuration(code: int) -> None:
    assert microsoft.classify(ms_error(code)).kind == FailureKind.CONFIG


def test_admin_consent_url_never_uses_common() -> None:
    for tenant in (None, "common", "consumers", "organizations"):
        url = microsoft.admin_consent_url(config(), tenant=tenant, state="st")
        assert url.startswith("https://login.microsoftonline.com/organizations/v2.0/adminconsent?")
    url = microsoft.admin_consent_url(config(), tenant="contoso.com", state="st")
    assert url.startswith(
        "https://login.microsoftonline.com/contoso.com/v2.0/adminconsent?client_id="
    )
    assert "state=st" in url and "SMTP.Send" in url


def test_a_refusal_is_not_remembered_by_the_next_check(identity: IdentityFakes) -> None:
    identity.microsoft.tenants["tid-a"] = TenantPolicy(consented=False)
    assert microsoft.probe_tenant(config(identity), "tid-a") is False
    identity.microsoft.tenants["tid-a"].consented = True
    # MSAL caches an identical 400 for 60 s per application object; each check builds a new one.
    assert microsoft.probe_tenant(config(identity), "tid-a") is True
    assert microsoft.probe_tenant(config(identity), "organizations") is None


def test_rewrite_sends_only_authority_calls_to_the_override() -> None:
    session = microsoft._Rewrite("https://login.microsoftonline.com", "http://127.0.0.1:9/ms")
    prepared = []
    session.send = lambda request, **kw: prepared.append(request.url)  # type: ignore[method-assign]
    session.request("GET", "https://login.microsoftonline.com/organizations/v2.0/x")
    session.request("GET", "https://login.microsoftonline.com.evil.test/x")
    assert prepared == [
        "http://127.0.0.1:9/ms/organizations/v2.0/x",
        "https://login.microsoftonline.com.evil.test/x",
    ]
