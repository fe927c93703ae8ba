"""Provider settings → provider configs; a provider without settings is "not configured"."""

from __future__ import annotations

from bot.settings import Settings
from providers.google import GoogleConfig
from providers.microsoft import MicrosoftConfig

GOOGLE = "google"
MICROSOFT = "microsoft"
PROVIDERS = (GOOGLE, MICROSOFT)


def public_base(settings: Settings) -> str:
    return settings.public_url.rstrip("/")


def callback_url(settings: Settings, provider: str) -> str:
    return f"{public_base(settings)}/oauth/{provider}/callback"


def consent_callback_url(settings: Settings) -> str:
    return f"{public_base(settings)}/oauth/microsoft/adminconsent"


def is_configured(settings: Settings, provider: str) -> bool:
    if provider == GOOGLE:
        return settings.google_configured
    if provider == MICROSOFT:
        return settings.microsoft_configured
    return False


def missing_settings(settings: Settings, provider: str) -> list[str]:
    """The setting names an operator still has to fill in for ``provider``."""
    prefix = provider.upper()
    names = [f"{prefix}_CLIENT_ID", f"{prefix}_CLIENT_SECRET", "PUBLIC_URL"]
    return [name for name in names if not getattr(settings, name.lower())]


def google_config(settings: Settings) -> GoogleConfig:
    return GoogleConfig(
        client_id=settings.google_client_id,
        client_secret=settings.google_client_secret,
        auth_uri=settings.google_auth_uri,
        token_uri=settings.google_token_uri,
        userinfo_uri=settings.google_userinfo_uri,
        redirect_uri=callback_url(settings, GOOGLE),
        timeout=settings.oauth_timeout_seconds,
    )


def microsoft_config(settings: Settings) -> MicrosoftConfig:
    return MicrosoftConfig(
        client_id=settings.microsoft_client_id,
        client_secret=settings.microsoft_client_secret,
        authority_host=settings.microsoft_authority_host,
        tenant=settings.microsoft_tenant,
        redirect_uri=callback_url(settings, MICROSOFT),
        consent_redirect_uri=consent_callback_url(settings),
        http_override=settings.microsoft_http_override,
        timeout=settings.oauth_timeout_seconds,
    )


def endpoints(settings: Settings, provider: str) -> dict[str, object]:
    """The provider's IMAP/SMTP servers for a signed-in mailbox (from settings)."""
    return {
        "imap_host": getattr(settings, f"{provider}_imap_host"),
        "imap_port": getattr(settings, f"{provider}_imap_port"),
        "imap_security": getattr(settings, f"{provider}_imap_security"),
        "smtp_host": getattr(settings, f"{provider}_smtp_host"),
        "smtp_port": getattr(settings, f"{provider}_smtp_port"),
        "smtp_security": getattr(settings, f"{provider}_smtp_security"),
    }
