"""What can go wrong with a Google or Microsoft sign-in, sorted by who can fix it.

Providers answer with codes (Google ``invalid_grant``, Microsoft ``AADSTS65001``...). We sort
each answer into a ``FailureKind`` once, in the provider module, and every later decision
(mailbox health, who is told, what the page says) reads the kind, never the raw code.
"""

from __future__ import annotations

from enum import StrEnum

from locales import N_, _
from providers.errors import MailroomError

PROVIDER_NAMES = {"google": "Google", "microsoft": "Microsoft"}


class FailureKind(StrEnum):
    RECONNECT = "reconnect"  # grant revoked or expired: the person signs in again
    CONSENT = "consent"  # the organisation's IT admin must approve Mailroom (Microsoft)
    CONFIG = "config"  # our client id/secret is wrong: the Mailroom admins fix the server
    CANCELLED = "cancelled"  # the person pressed Cancel / refused on the provider's page
    SCOPE = "scope"  # signed in, but the mail permission was not granted
    CODE = "code"  # the one-time code or link was stale or reused: just start again
    TEMPORARY = "temporary"  # the provider could not be reached or failed: try again later


class SignInFailure(MailroomError):
    """A sign-in or token refresh the provider refused; ``kind`` says who can fix it."""

    def __init__(
        self,
        provider: str,
        kind: FailureKind,
        *,
        code: str = "",
        tenant: str | None = None,
        address: str = "",
        detail: str = "",
    ) -> None:
        self.provider = provider
        self.kind = kind
        self.code = code  # "invalid_grant", "AADSTS90094"...: shown to help IT, never a secret
        self.tenant = tenant
        self.address = address
        self.detail = detail  # our own short words about a transport failure
        super().__init__(describe(provider, kind, code=code, address=address, detail=detail))

    def for_mailbox(self, address: str, tenant: str | None = None) -> SignInFailure:
        """The same failure, worded for a known mailbox (refresh during sync or send)."""
        return SignInFailure(
            self.provider,
            self.kind,
            code=self.code,
            tenant=tenant or self.tenant,
            address=address,
            detail=self.detail,
        )


def _code_note(provider: str, code: str) -> str:
    """A parenthesis naming the provider's code, for IT: " (Google code invalid_grant)"."""
    if not code:
        return ""
    provider_name = PROVIDER_NAMES.get(provider, provider)
    return " (" + _("{provider} code {code}").format(provider=provider_name, code=code) + ")"


# Microsoft consent codes worded apart, because IT does something different for each.
_CONSENT_WORDS = {
    "AADSTS65004": N_("the permission request was declined on Microsoft's consent page"),
    "AADSTS50105": N_(
        "your account is not assigned to Mailroom in your organisation's Microsoft 365"
    ),
    "AADSTS700016": N_("Mailroom is not yet added to your organisation's Microsoft 365"),
    "AADSTS53003": N_("a Conditional Access policy of your organisation blocked the sign-in"),
}
_CONSENT_DEFAULT = N_("your organisation requires an IT admin to approve Mailroom first")


def describe(
    provider: str, kind: FailureKind, *, code: str = "", address: str = "", detail: str = ""
) -> str:
    """One or two complete sentences saying what happened and what to do next."""
    name = PROVIDER_NAMES.get(provider, provider)
    note = _code_note(provider, code)
    if kind == FailureKind.RECONNECT:
        if address:
            return _(
                "{name} no longer lets Mailroom into {address}: the access was removed or has "
                "expired{note}. Press Reconnect and sign in with {name} again."
            ).format(name=name, address=address, note=note)
        return _(
            "{name} no longer lets Mailroom into your mailbox: the access was removed or has "
            "expired{note}. Press Reconnect and sign in with {name} again."
        ).format(name=name, note=note)
    if kind == FailureKind.CONSENT:
        why = _(_CONSENT_WORDS.get(code, _CONSENT_DEFAULT))
        if address:
            return _(
                "Mailroom cannot reach {address}: {why}{note}. "
                "Nothing is needed in Mailroom itself: run `/mail-consent` for the approval link "
                "and a ready-made message to send to your IT admin."
            ).format(address=address, why=why, note=note)
        return _(
            "Your mailbox cannot be connected yet: {why}{note}. "
            "Nothing is needed in Mailroom itself: run `/mail-consent` for the approval link "
            "and a ready-made message to send to your IT admin."
        ).format(why=why, note=note)
    if kind == FailureKind.CONFIG:
        return _(
            "Mailroom's {name} sign-in is not set up correctly on this server (its client "
            "secret was refused){note}. The Mailroom admins have been alerted; try again once "
            "they have fixed it, or connect by hand with IMAP and SMTP meanwhile."
        ).format(name=name, note=note)
    if kind == FailureKind.CANCELLED:
        return _(
            "The {name} sign-in was cancelled, so nothing was connected{note}. Press "
            "Sign in with {name} again when you are ready."
        ).format(name=name, note=note)
    if kind == FailureKind.SCOPE:
        if code in ("admin_policy_enforced", "org_internal"):
            return _(
                "Your Google Workspace admin does not allow Mailroom to read mail{note}. "
                "Ask them to trust Mailroom in the Google Admin console (Security > "
                "API controls > App access control), then sign in again."
            ).format(note=note)
        if provider == "google":
            return _(
                "Google did not give Mailroom access to your email: on Google's permission "
                "page, tick \u201cRead, compose, send and permanently delete all your email "
                "from Gmail\u201d, then press Sign in with Google again."
            )
        return _(
            "{name} did not give Mailroom the mail permissions it asked for{note}. Press "
            "Sign in with {name} again and accept every permission."
        ).format(name=name, note=note)
    if kind == FailureKind.CODE:
        return _(
            "This {name} sign-in could not be finished because its one-time code was "
            "stale or already used{note}. Press Sign in with {name} again."
        ).format(name=name, note=note)
    extra = f" ({detail})" if detail else note
    return _(
        "{name} could not be reached to sign in{extra}. Try again in a minute; if it keeps "
        "happening, tell your Mailroom admin."
    ).format(name=name, extra=extra)


class StateProblem(MailroomError):
    """The link's state is unknown, expired, used already, or for another flow."""
