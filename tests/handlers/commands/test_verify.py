"""/mail-verify through the signed slash command, its modal and its buttons, against moto's
SES over real HTTP (and an AWS error server for AWS's failures)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.harness import Harness
from tests.support.senders_app import buttons, shown, verify
from tests.support.ses_server import (
    ACCESS_DENIED,
    SENDING_PAUSED,
    THROTTLED,
    UNRECOGNIZED_CLIENT,
    AwsError,
    AwsErrorServer,
    MotoSes,
)
from tests.support.wait import wait_until

NOT_FOUND = AwsError(404, "NotFoundException", "Email identity does not exist.")


def assert_sentence(text: str) -> None:
    assert text.rstrip().endswith((".", ")")), text
    assert "Traceback" not in text and "botocore" not in text and "testing" not in text


# ---------------------------------------------------------------------------- starting


def test_new_address_gets_the_mail_and_plain_next_steps(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    h = senders_harness
    answer = verify(h, "sales@good.test Ana from Acme")
    text = shown(answer)
    assert (
        "Amazon SES has sent a verification email to sales@good.test from no-reply-aws@amazon.com"
        in text
    )
    assert "within 24 hours" in text
    assert "*What happens next:*" in text and "tells you in a direct message" in text
    assert "*Ana from Acme* &lt;sales@good.test&gt;" in text
    assert buttons(answer)["Send again"] == "sales@good.test"
    assert ses_endpoint.identity("sales@good.test").verification_status == "PENDING"
    row = h.ctx.senders.verifications.row("T1", "sales@good.test")
    assert (row.status, row.sender_name, row.requested_by) == ("PENDING", "Ana from Acme", "UADMIN")


def test_already_verified_says_so(senders_harness: Harness, ses_endpoint: MotoSes) -> None:
    ses_endpoint.add_identity("sales@good.test", "SUCCESS")
    answer = verify(senders_harness, "sales@good.test")
    assert "sales@good.test is already verified in Amazon SES" in answer["text"]
    assert "Send again" not in buttons(answer)
    row = senders_harness.ctx.senders.verifications.row("T1", "sales@good.test")
    assert row.status == "SUCCESS"


def test_covered_by_a_verified_domain_says_so(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    ses_endpoint.add_identity("good.test", "SUCCESS")
    answer = verify(senders_harness, "ana@good.test")
    assert "needs no verification email: its domain good.test is verified" in answer["text"]
    with pytest.raises(AssertionError):
        ses_endpoint.identity("ana@good.test")  # no address identity was created


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "not-an-address",
            "'not-an-address' is not a valid email address; write it like sales@example.com.",
        ),
        ("a@@b.test", "is not a valid email address"),
    ],
)
def test_invalid_address(senders_harness: Harness, text: str, expected: str) -> None:
    answer = verify(senders_harness, text)
    assert expected in answer["text"]
    assert_sentence(answer["text"])


def test_non_admins_are_refused(senders_harness: Harness, ses_endpoint: MotoSes) -> None:
    h = senders_harness
    answer = verify(h, "sales@good.test", user="UALICE")
    assert answer["text"].startswith("Only Mailroom admins can verify sender addresses")
    h.client.command("/mail-verify", "", "UBOB")
    wait_until(lambda: h.slack.ephemerals("UBOB"))
    assert not h.slack.calls_to("views.open")
    with pytest.raises(AssertionError):
        ses_endpoint.identity("sales@good.test")


def test_ses_not_configured(senders_app: Callable[..., Harness]) -> None:
    h = senders_app(MAILROOM_SES_ENABLED="false")
    for text in ("sales@good.test", ""):
        answer = verify(h, text)
        assert answer["text"].startswith("Amazon SES is not configured on this Mailroom server")
        assert "MAILROOM_SES_ENABLED=true" in answer["text"] and "AWS_REGION" in answer["text"]
        assert_sentence(answer["text"])
    assert not h.slack.calls_to("views.open")


def test_missing_credentials(senders_app: Callable[..., Harness], no_aws_credentials: None) -> None:
    answer = verify(senders_app(), "sales@good.test")
    assert answer["text"].startswith("AWS credentials are missing or incomplete")
    assert_sentence(answer["text"])


def test_wrong_region(senders_app: Callable[..., Harness]) -> None:
    answer = verify(senders_app(AWS_REGION="not a region"), "sales@good.test")
    assert "the region 'not a region' is not valid. Set AWS_REGION" in answer["text"]
    assert_sentence(answer["text"])


def test_unreachable_region_endpoint(
    senders_app: Callable[..., Harness], unreachable_aws_url: str
) -> None:
    answer = verify(senders_app(AWS_ENDPOINT_URL=unreachable_aws_url), "sales@good.test")
    assert answer["text"].startswith("Mailroom could not connect to Amazon SES")
    assert "Check that AWS_REGION names a region where SES is available" in answer["text"]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            ACCESS_DENIED,
            "lacks the ses:GetEmailIdentity permission. Add it to that identity's IAM policy",
        ),
        (UNRECOGNIZED_CLIENT, "AWS did not accept Mailroom's credentials"),
        (THROTTLED, "AWS is throttling Mailroom's requests to Amazon SES; try again in a minute."),
        (SENDING_PAUSED, "Sending is paused on this AWS account."),
    ],
    ids=["access-denied", "bad-credentials", "throttled", "paused"],
)
def test_aws_errors_become_sentences(
    senders_app: Callable[..., Harness],
    aws_error_server: AwsErrorServer,
    error: AwsError,
    expected: str,
) -> None:
    aws_error_server.respond_with(error)
    answer = verify(senders_app(AWS_ENDPOINT_URL=aws_error_server.url), "sales@good.test")
    assert expected in answer["text"]
    assert_sentence(answer["text"])
    assert not answer.get("blocks")


def test_paused_and_sandboxed_account_is_pointed_out(
    senders_app: Callable[..., Harness], aws_error_server: AwsErrorServer
) -> None:
    # GetEmailIdentity (address, domain): none; CreateEmailIdentity: done; GetAccount: paused.
    aws_error_server.respond_with(
        NOT_FOUND,
        NOT_FOUND,
        {"IdentityType": "EMAIL_ADDRESS", "VerifiedForSendingStatus": False},
        {"SendingEnabled": False, "ProductionAccessEnabled": False, "EnforcementStatus": "HEALTHY"},
    )
    answer = verify(senders_app(AWS_ENDPOINT_URL=aws_error_server.url), "sales@good.test")
    text = shown(answer)
    assert "Amazon SES has sent a verification email to sales@good.test" in text
    assert "Sending is paused on this AWS account, so SES will not send anything" in text
    assert "in the SES sandbox" in text


# ---------------------------------------------------------------------------- the modal


def test_modal_opens_before_any_aws_call(
    senders_app: Callable[..., Harness], aws_error_server: AwsErrorServer
) -> None:
    aws_error_server.respond_with(ACCESS_DENIED)
    h = senders_app(AWS_ENDPOINT_URL=aws_error_server.url)
    h.client.command("/mail-verify", "", "UADMIN")
    view = wait_until(h.slack.last_view, message="the verify modal")
    assert view["callback_id"] == "mail_verify"
    assert aws_error_server.requests == []
