"""At LOG_LEVEL=DEBUG a whole sign-in (browser hops, token exchange, XOAUTH2 sync, a reply,
a token refresh) writes no client secret, authorization code, PKCE verifier or token."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from bot.logs import RedactingFilter, configure_logging, redact
from tests.bot.signin.flows import add_mail_user, sign_in
from tests.support.harness import BOT_TOKEN, make_email
from tests.support.identity_fakes import (
    GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
    MS_CLIENT_ID,
    MS_CLIENT_SECRET,
    IdentityFakes,
)
from tests.support.wait import wait_until


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back for the other tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    named = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in named.items():
        logging.getLogger(name).setLevel(old)


def basic_credentials(client_id: str, secret: str) -> list[str]:
    # requests' HTTPBasicAuth, raw and with the form-encoding of RFC 6749 section 2.3.1.
    return [
        base64.b64encode(f"{a}:{b}".encode()).decode()
        for a, b in ((client_id, secret), (quote(client_id), quote(secret)))
    ]


def test_debug_logs_of_a_sign_in_hold_no_secret(
    make_signin_harness: Any,
    identity: IdentityFakes,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    h = make_signin_harness(LOG_LEVEL="DEBUG")
    assert h.ctx.settings.log_level == "DEBUG"
    capsys.readouterr()
    configure_logging(h.ctx.settings.log_level)  # as app.py does at start, into stderr

    ana = identity.google.person.email
    bo = identity.microsoft.person.email
    add_mail_user(h, ana)
    add_mail_user(h, bo)
    google = sign_in(h, identity, "google")
    assert google.page.status_code == 200, google.page.text
    mailbox = h.wait_for_mailbox(ana)
    h.dovecot.append(ana, make_email(to=ana, subject="Pricing?", body="How much is it?"))
    assert h.sync(mailbox.id).posted == 1
    root = h.slack.top_level("C_SALES")[-1]
    h.reply("C_SALES", root["ts"], "It is 50 EUR.")  # refreshes the token before sending
    wait_until(lambda: h.slack.calls_to("reactions.add"), message="reply sent")
    microsoft = sign_in(h, identity, "microsoft", user="UBOB", channel="C_BOB")
    assert microsoft.page.status_code == 200, microsoft.page.text
    h.wait_for_mailbox(bo)

    logged = capsys.readouterr().err
    assert "DEBUG" in logged  # the level really was DEBUG: something was written

    secrets = [GOOGLE_CLIENT_SECRET, MS_CLIENT_SECRET, BOT_TOKEN]
    secrets += basic_credentials(GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET)
    secrets += basic_credentials(MS_CLIENT_ID, MS_CLIENT_SECRET)
    for request in identity.google.token_requests + identity.microsoft.token_requests:
        secrets += [
            request[k] for k in ("code", "code_verifier", "refresh_token") if request.get(k)
        ]
    for address in (ana, bo):
        saved = h.ctx.mailboxes.secrets(h.mailbox_by_address(address))
        secrets += [saved["access_token"], saved["refresh_token"]]
    assert len(secrets) > 12
    leaked = [secret for secret in secrets if secret in logged]
    assert leaked == [], f"secrets in the DEBUG log: {leaked}"


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("Authorization: Basic Z29vZ2xlOnNlY3JldA==", "Z29vZ2xlOnNlY3JldA=="),
        ("{'Authorization': 'Basic Z29vZ2xlOnNlY3JldA=='}", "Z29vZ2xlOnNlY3JldA=="),
        ("Authorization: Bearer ya29.a0Af-x_y", "ya29.a0Af-x_y"),
        ("body=grant_type=authorization_code&code=4/0AbCd&redirect_uri=x", "4/0AbCd"),
        ("code_verifier=Qm9v-_bW9vbW9v&client_id=x", "Qm9v-_bW9vbW9v"),
        ("client_secret=s3cr3t-value&grant_type=refresh_token", "s3cr3t-value"),
        ("refresh_token=1//0gRefresh&x=y", "1//0gRefresh"),
        ('{"access_token": "ya29.AccessValue", "expires_in": 3599}', "ya29.AccessValue"),
        ('{"refresh_token": "1//RefreshValue"}', "1//RefreshValue"),
        ("'code': 'gc-abcdef'", "gc-abcdef"),
        ("GET /oauth/google/callback?state=s&code=4/0Code HTTP/1.1", "4/0Code"),
        ("token xoxb-1-2-abc and xapp-1-A-3-def", "xoxb-1-2-abc"),
        ("token xoxb-1-2-abc and xapp-1-A-3-def", "xapp-1-A-3-def"),
    ],
)
def test_redact_removes_credentials_from_library_lines(line: str, secret: str) -> None:
    assert secret not in redact(line)


def test_redact_hides_tokens_passwords_and_request_bodies() -> None:
    line = (
        "call failed token=xoxb-123-456-abc app xapp-1-A1-xyz Authorization: Bearer ya29.tok "
        'password="hunter2" AUTHENTICATE PLAIN AGh1bnRlcjI= body: payload=%7B%22pw%22%3A1%7D'
    )
    cleaned = redact(line)
    for secret in ("xoxb-123", "xapp-1", "ya29.tok", "hunter2", "AGh1bnRlcjI=", "payload="):
        assert secret not in cleaned, secret
    assert "call failed" in cleaned


def test_redacting_filter_cleans_arguments_and_tracebacks() -> None:
    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "login as %s failed: %s", ("ana", "secret=s3cr3t"), None
    )
    try:
        raise RuntimeError("refresh failed for Bearer abc.def.ghi")
    except RuntimeError as exc:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    assert RedactingFilter().filter(record)
    assert "s3cr3t" not in record.getMessage() and "ana" in record.getMessage()
    assert record.exc_info is None and "abc.def.ghi" not in (record.exc_text or "")
    assert "RuntimeError" in (record.exc_text or "")
