"""providers.signin_errors: each kind of sign-in failure in words saying who can fix it."""

from __future__ import annotations

import pytest

from locales import speaking
from providers.signin_errors import FailureKind, SignInFailure, describe


def test_every_kind_is_a_sentence_naming_the_provider() -> None:
    for provider, name in (("google", "Google"), ("microsoft", "Microsoft")):
        for kind in FailureKind:
            if kind == FailureKind.CONSENT and provider == "google":
                continue
            text = describe(provider, kind)
            assert text.endswith("."), (provider, kind)
            assert name in text or kind == FailureKind.CONSENT, (provider, kind, text)


def test_the_code_is_named_for_it_and_the_mailbox_when_known() -> None:
    failure = SignInFailure("google", FailureKind.RECONNECT, code="invalid_grant")
    assert failure.message == (
        "Google no longer lets Mailroom into your mailbox: the access was removed or has "
        "expired (Google code invalid_grant). Press Reconnect and sign in with Google again."
    )
    known = failure.for_mailbox("ana@acme.test", tenant="t1")
    assert (known.kind, known.code, known.tenant) == (FailureKind.RECONNECT, "invalid_grant", "t1")
    assert known.message.startswith("Google no longer lets Mailroom into ana@acme.test:")
    assert failure.address == ""  # the original is unchanged


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("AADSTS65004", "the permission request was declined on Microsoft's consent page"),
        ("AADSTS53003", "a Conditional Access policy of your organisation blocked the sign-in"),
        ("AADSTS65001", "your organisation requires an IT admin to approve Mailroom first"),
    ],
)
def test_consent_problems_say_what_it_must_do_and_point_to_mail_consent(
    code: str, why: str
) -> None:
    text = describe("microsoft", FailureKind.CONSENT, code=code)
    assert text.startswith(f"Your mailbox cannot be connected yet: {why} (Microsoft code {code}).")
    assert "`/mail-consent`" in text


def test_scope_problems_depend_on_the_provider_and_the_code() -> None:
    policy = describe("google", FailureKind.SCOPE, code="admin_policy_enforced")
    assert policy.startswith("Your Google Workspace admin does not allow Mailroom to read mail")
    unticked = describe("google", FailureKind.SCOPE)
    assert "tick \u201cRead, compose, send" in unticked
    assert describe("microsoft", FailureKind.SCOPE).startswith(
        "Microsoft did not give Mailroom the mail permissions it asked for."
    )


def test_a_transport_failure_shows_our_detail_instead_of_a_code() -> None:
    text = describe("microsoft", FailureKind.TEMPORARY, code="x", detail="timed out")
    assert text.startswith("Microsoft could not be reached to sign in (timed out).")
    assert "code x" not in text
    with speaking("es"):
        spanish = describe("microsoft", FailureKind.TEMPORARY, detail="timed out")
    assert spanish != describe("microsoft", FailureKind.TEMPORARY, detail="timed out")
    assert "Microsoft" in spanish and "(timed out)" in spanish
