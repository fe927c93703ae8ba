"""providers.ses over real HTTP: moto's SES server, and an AWS error server for failures."""

from __future__ import annotations

import dns.resolver
import pytest

from bot.domain_checks import SesDomainInfo, check_domain
from providers.errors import MailroomError, ServiceError, UserError
from providers.ses import SesProvider, classify_aws_error
from tests.support.dns_server import TestDnsServer
from tests.support.ses_server import (
    ACCESS_DENIED,
    ACCOUNT_SUSPENDED,
    BAD_REQUEST,
    INTERNAL,
    SENDING_PAUSED,
    SIGNATURE_MISMATCH,
    THROTTLED,
    UNRECOGNIZED_CLIENT,
    AwsError,
    AwsErrorServer,
    MotoSes,
)

REGION = "us-east-1"
NOT_FOUND = AwsError(404, "NotFoundException", "Email identity does not exist.")


@pytest.fixture
def ses(ses_endpoint: MotoSes) -> SesProvider:
    return SesProvider(REGION, endpoint_url=ses_endpoint.url)


def failing_provider(server: AwsErrorServer, *replies: AwsError | dict) -> SesProvider:
    server.respond_with(*replies)
    # max_attempts=0: botocore counts retries after the first attempt; one request is enough
    # to test classification (retries have their own test).
    return SesProvider(REGION, endpoint_url=server.url, max_attempts=0)


def assert_sentence(error: MailroomError) -> None:
    assert error.message.endswith("."), error.message
    assert "Traceback" not in error.message
    assert "testing" not in error.message  # the fake secret never shows


# ---------------------------------------------------------------------------- identities


def test_missing_identity_is_reported_not_raised(ses: SesProvider) -> None:
    state = ses.get_identity("nobody@good.test")
    assert (state.exists, state.status, state.verified_for_sending) == (False, "MISSING", False)


def test_new_address_gets_a_verification_mail(ses: SesProvider, ses_endpoint: MotoSes) -> None:
    start = ses.start_address_verification(" sales@Good.Test ")
    assert start.outcome == "sent"
    assert start.address == "sales@good.test"
    assert start.state.status == "PENDING"
    assert "no-reply-aws@amazon.com" in start.message and "24 hours" in start.message
    assert ses_endpoint.identity("sales@good.test").verification_status == "PENDING"
    assert ses.get_identity("sales@good.test").status == "PENDING"


def test_verified_address_is_already_verified(ses: SesProvider, ses_endpoint: MotoSes) -> None:
    ses.start_address_verification("sales@good.test")
    ses_endpoint.set_identity_status("sales@good.test", "SUCCESS")  # the link was clicked
    start = ses.start_address_verification("sales@good.test")
    assert start.outcome == "already_verified"
    assert start.state.verified_for_sending
    assert "already verified" in start.message


def test_address_on_a_verified_domain_needs_no_mail(
    ses: SesProvider, ses_endpoint: MotoSes
) -> None:
    ses_endpoint.add_identity("good.test", "SUCCESS")
    start = ses.start_address_verification("billing@good.test")
    assert start.outcome == "covered_by_domain"
    assert start.state.identity == "good.test"
    assert "good.test is verified" in start.message
    assert "billing@good.test" not in ses_endpoint.backend.email_identities


def test_address_on_a_pending_domain_still_gets_a_mail(
    ses: SesProvider, ses_endpoint: MotoSes
) -> None:
    ses_endpoint.add_identity("good.test", "PENDING")
    assert ses.start_address_verification("billing@good.test").outcome == "sent"


@pytest.mark.parametrize("status", ["PENDING", "FAILED", "TEMPORARY_FAILURE"])
def test_unverified_address_is_recreated_to_resend(
    ses: SesProvider, ses_endpoint: MotoSes, status: str
) -> None:
    ses.start_address_verification("sales@good.test")
    ses_endpoint.set_identity_status("sales@good.test", status)
    before = ses_endpoint.identity("sales@good.test")
    start = ses.start_address_verification("sales@good.test")
    assert start.outcome == "resent"
    assert "new email" in start.message and "older links no longer work" in start.message
    after = ses_endpoint.identity("sales@good.test")
    assert after is not before  # deleted and created again: that is what sends a new mail
    assert after.verification_status == "PENDING"


@pytest.mark.parametrize("address", ["", "sales", "sales@", "@good.test", "a b@good.test", "x@y"])
def test_invalid_address_is_refused_before_calling_aws(
    aws_error_server: AwsErrorServer, address: str
) -> None:
    provider = failing_provider(aws_error_server, INTERNAL)
    with pytest.raises(UserError) as caught:
        provider.start_address_verification(address)
    assert caught.value.field == "address"
    assert "sales@example.com" in caught.value.message
    assert aws_error_server.requests == []


def test_domain_identity_returns_three_dkim_tokens(ses: SesProvider, ses_endpoint: MotoSes) -> None:
    state = ses.create_domain_identity("Good.Test.")
    assert state.identity == "good.test"
    assert state.exists and state.status == "PENDING"
    assert len(state.dkim_tokens) == 3
    assert state.dkim_status == "PENDING"
    # Creating it again returns the same identity instead of failing.
    assert ses.create_domain_identity("good.test").dkim_tokens == state.dkim_tokens
    ses_endpoint.set_dkim_tokens("good.test", ["a1", "b2", "c3"], hosted_zone="amazonses.com")
    again = ses.get_identity("good.test")
    assert again.dkim_tokens == ["a1", "b2", "c3"]
    assert again.signing_hosted_zone == "amazonses.com"


def test_invalid_domain_is_a_user_error(ses: SesProvider) -> None:
    with pytest.raises(UserError) as caught:
        ses.create_domain_identity("not a domain")
    assert caught.value.field == "domain"


def test_tokens_from_ses_feed_the_dns_check(
    ses: SesProvider,
    ses_endpoint: MotoSes,
    dns_server: TestDnsServer,
    dns_resolver: dns.resolver.Resolver,
) -> None:
    state = ses.create_domain_identity("fromses.test")
    for token in state.dkim_tokens:
        dns_server.add(f"{token}._domainkey.fromses.test", "CNAME", f"{token}.dkim.amazonses.com.")
    info = SesDomainInfo.from_identity(state, REGION)
    report = check_domain("fromses.test", resolver=dns_resolver, ses=info)
    assert [line.status for line in report.lines_for("SES DKIM")] == ["pass"] * 3


def test_aws_endpoint_url_from_the_environment_is_honoured(ses_endpoint: MotoSes) -> None:
    provider = SesProvider(REGION)  # no endpoint_url: boto3 reads AWS_ENDPOINT_URL
    assert provider.start_address_verification("env@good.test").outcome == "sent"
    assert "env@good.test" in ses_endpoint.backend.email_identities


# ---------------------------------------------------------------------------- account


def test_account_status_is_unknown_when_get_account_is_missing(ses: SesProvider) -> None:
    status = ses.account_status()  # moto has no GetAccount
    assert status.sending_enabled is None
    assert status.note and "carries on" in status.note


def test_account_status_reads_get_account(aws_error_server: AwsErrorServer) -> None:
    account = {
        "SendingEnabled": False,
        "ProductionAccessEnabled": False,
        "EnforcementStatus": "HEALTHY",
        "SendQuota": {"Max24HourSend": 200.0, "MaxSendRate": 1.0, "SentLast24Hours": 3.0},
    }
    status = failing_provider(aws_error_server, account).account_status()
    assert status.sending_enabled is False
    assert status.production_access_enabled is False
    assert (status.max_24_hour_send, status.max_send_rate, status.sent_last_24_hours) == (200, 1, 3)


def test_account_status_without_permission_is_unknown(aws_error_server: AwsErrorServer) -> None:
    status = failing_provider(aws_error_server, ACCESS_DENIED).account_status()
    assert status.sending_enabled is None
    assert status.note and "ses:GetAccount" in status.note


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("reply", "kind", "mentions"),
    [
        (ACCESS_DENIED, UserError, "ses:GetEmailIdentity permission"),
        (UNRECOGNIZED_CLIENT, UserError, "AWS_ACCESS_KEY_ID"),
        (SIGNATURE_MISMATCH, UserError, "AWS_SECRET_ACCESS_KEY"),
        (THROTTLED, ServiceError, "try again in a minute"),
        (SENDING_PAUSED, UserError, "SES console"),
        (ACCOUNT_SUSPENDED, UserError, "SES console"),
        (INTERNAL, ServiceError, "We encountered an internal error"),
    ],
)
def test_aws_errors_are_classified_through_real_http(
    aws_error_server: AwsErrorServer, reply: AwsError, kind: type, mentions: str
) -> None:
    provider = failing_provider(aws_error_server, reply)
    with pytest.raises(MailroomError) as caught:
        provider.get_identity("sales@good.test")
    assert type(caught.value) is kind
    assert mentions in caught.value.message
    assert_sentence(caught.value)
    assert aws_error_server.requests  # it really went over HTTP


def test_bad_request_points_at_the_address_field(aws_error_server: AwsErrorServer) -> None:
    # The address and its domain are unknown to SES, then creating the address is refused.
    provider = failing_provider(aws_error_server, NOT_FOUND, NOT_FOUND, BAD_REQUEST)
    with pytest.raises(UserError) as caught:
        provider.start_address_verification("sales@good.test")
    assert caught.value.field == "address"
    assert "Invalid email address" in caught.value.message
    assert_sentence(caught.value)
    assert len(aws_error_server.requests) == 3


def test_throttling_is_retried_before_giving_up(aws_error_server: AwsErrorServer) -> None:
    aws_error_server.respond_with(THROTTLED, {"VerificationStatus": "SUCCESS"})
    provider = SesProvider(REGION, endpoint_url=aws_error_server.url, max_attempts=1)
    assert provider.get_identity("sales@good.test").status == "SUCCESS"
    assert len(aws_error_server.requests) == 2


def test_aws_messages_never_echo_access_keys(aws_error_server: AwsErrorServer) -> None:
    leaky = AwsError(500, "InternalFailure", "Key AKIAIOSFODNN7EXAMPLE failed.")
    with pytest.raises(ServiceError) as caught:
        failing_provider(aws_error_server, leaky).get_identity("sales@good.test")
    assert "AKIA" not in caught.value.message
    assert "[access key]" in caught.value.message


def test_missing_credentials_are_a_user_error(
    no_aws_credentials: None, aws_error_server: AwsErrorServer
) -> None:
    provider = failing_provider(aws_error_server, INTERNAL)
    with pytest.raises(UserError) as caught:
        provider.start_address_verification("sales@good.test")
    assert "AWS_ACCESS_KEY_ID" in caught.value.message and "role" in caught.value.message
    assert_sentence(caught.value)
    assert aws_error_server.requests == []  # nothing unsigned ever left


def test_partial_credentials_are_a_user_error(
    no_aws_credentials: None, aws_error_server: AwsErrorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    with pytest.raises(UserError) as caught:
        failing_provider(aws_error_server, INTERNAL).get_identity("sales@good.test")
    assert "AWS_SECRET_ACCESS_KEY" in caught.value.message
    assert "AKIA" not in caught.value.message


def test_unreachable_endpoint_points_at_aws_region(
    ses_endpoint: MotoSes, unreachable_aws_url: str
) -> None:
    provider = SesProvider(REGION, endpoint_url=unreachable_aws_url, max_attempts=0)
    with pytest.raises(UserError) as caught:
        provider.get_identity("sales@good.test")
    assert "AWS_REGION" in caught.value.message
    assert unreachable_aws_url in caught.value.message
    assert_sentence(caught.value)


@pytest.mark.parametrize("region", ["", "not a region!"])
def test_invalid_region_is_a_user_error(ses_endpoint: MotoSes, region: str) -> None:
    with pytest.raises(UserError) as caught:
        SesProvider(region)
    assert "AWS_REGION" in caught.value.message
    assert_sentence(caught.value)


def test_unexpected_exceptions_become_service_errors() -> None:
    error = classify_aws_error(RuntimeError("boom"))
    assert isinstance(error, ServiceError)
    assert "boom" not in error.message
    assert_sentence(error)
