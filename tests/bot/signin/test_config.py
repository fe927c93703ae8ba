"""Provider settings as provider configs (bot.signin.config): redirect addresses under
PUBLIC_URL, what an operator still has to set, and each provider's mail servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings
from bot.signin import config
from bot.signin.config import GOOGLE, MICROSOFT
from tests.support.settings import settings as plain_settings

UNSET = {
    "google_client_id": "",
    "google_client_secret": "",
    "microsoft_client_id": "",
    "microsoft_client_secret": "",
    "public_url": "",
}


def settings(tmp_path: Path, **fields: object) -> Settings:
    """Settings with no provider configured, except what ``fields`` set."""
    return plain_settings(tmp_path, **(UNSET | fields))


def test_redirects_live_under_the_public_url_without_a_doubled_slash(tmp_path: Path) -> None:
    s = settings(tmp_path, public_url="https://mail.example.com/")
    assert config.callback_url(s, GOOGLE) == "https://mail.example.com/oauth/google/callback"
    assert config.consent_callback_url(s) == (
        "https://mail.example.com/oauth/microsoft/adminconsent"
    )


@pytest.mark.parametrize("provider", [GOOGLE, MICROSOFT])
def test_a_provider_is_configured_only_with_id_secret_and_public_url(
    tmp_path: Path, provider: str
) -> None:
    nothing = settings(tmp_path)
    assert not config.is_configured(nothing, provider)
    assert config.missing_settings(nothing, provider) == [
        f"{provider.upper()}_CLIENT_ID",
        f"{provider.upper()}_CLIENT_SECRET",
        "PUBLIC_URL",
    ]
    half = settings(
        tmp_path, **{f"{provider}_client_id": "id", "public_url": "https://mail.example.com"}
    )
    assert not config.is_configured(half, provider)
    assert config.missing_settings(half, provider) == [f"{provider.upper()}_CLIENT_SECRET"]
    full = settings(
        tmp_path,
        **{
            f"{provider}_client_id": "id",
            f"{provider}_client_secret": "secret",
            "public_url": "https://mail.example.com",
        },
    )
    assert config.is_configured(full, provider) and config.missing_settings(full, provider) == []
    assert not config.is_configured(full, "yahoo")


def test_provider_configs_carry_the_settings_and_their_redirects(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        public_url="https://mail.example.com",
        google_client_id="g-id",
        google_client_secret="g-secret",
        microsoft_client_id="m-id",
        microsoft_client_secret="m-secret",
        microsoft_tenant="contoso.onmicrosoft.com",
        oauth_timeout_seconds=4.0,
    )
    google = config.google_config(s)
    assert (google.client_id, google.client_secret, google.timeout) == ("g-id", "g-secret", 4.0)
    assert google.redirect_uri == "https://mail.example.com/oauth/google/callback"
    microsoft = config.microsoft_config(s)
    assert (microsoft.client_id, microsoft.tenant) == ("m-id", "contoso.onmicrosoft.com")
    assert microsoft.redirect_uri == "https://mail.example.com/oauth/microsoft/callback"
    assert microsoft.consent_redirect_uri == "https://mail.example.com/oauth/microsoft/adminconsent"


def test_endpoints_are_each_provider_s_own_mail_servers(tmp_path: Path) -> None:
    s = settings(tmp_path, microsoft_smtp_host="smtp.example.test", microsoft_smtp_port=2587)
    assert config.endpoints(s, GOOGLE) == {
        "imap_host": "imap.gmail.com",
        "imap_port": 993,
        "imap_security": "ssl",
        "smtp_host": "smtp.gmail.com",
        "smtp_port": 465,
        "smtp_security": "ssl",
    }
    microsoft = config.endpoints(s, MICROSOFT)
    assert (microsoft["smtp_host"], microsoft["smtp_port"]) == ("smtp.example.test", 2587)
    assert microsoft["smtp_security"] == "starttls"
