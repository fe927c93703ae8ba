"""Amazon SES (API v2) for sender verification: address and domain identities.

A sender address must be verified in SES before Mailroom sends as it: either the address
itself (AWS mails a link from no-reply-aws@amazon.com; links expire after 24 hours) or its
whole domain (Easy DKIM CNAME records; 72 hours). This module starts verifications, reads
their state and turns AWS failures into sentences an admin can act on.

IAM actions used (grant exactly these to the user or role Mailroom runs as):
- ``ses:GetEmailIdentity``: read an identity's verification and DKIM state;
- ``ses:CreateEmailIdentity``: start verifying an address or domain;
- ``ses:DeleteEmailIdentity``: only to re-send a verification mail for a pending address;
- ``ses:GetAccount``: read whether sending is enabled (optional: without it the status is
  reported as unknown, nothing is blocked);
- ``ses:SendEmail``: only for mailboxes whose replies go out through SES.

Credentials come from the standard AWS chain (environment, shared files, instance or task
role); the endpoint from ``endpoint_url`` or the standard ``AWS_ENDPOINT_URL`` (``..._SESV2``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    InvalidRegionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from locales import _
from providers.errors import ServiceError, UserError

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
MAX_ATTEMPTS = 3

Outcome = Literal["sent", "already_verified", "covered_by_domain", "resent"]

ADDRESS_RE = re.compile(
    r"^(?=.{1,254}$)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}$"
)
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
ACCESS_KEY_RE = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{12,}\b")

CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "IncompleteSignature",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)
ACCESS_CODES = frozenset({"AccessDenied", "AccessDeniedException"})
THROTTLE_CODES = frozenset(
    {"TooManyRequestsException", "Throttling", "ThrottlingException", "RequestLimitExceeded"}
)
PAUSED_CODES = frozenset({"SendingPausedException", "AccountSuspendedException"})
NOT_IMPLEMENTED_CODES = frozenset(
    {"404", "NotImplemented", "InvalidAction", "UnknownOperationException"}
)


@dataclass
class IdentityState:
    """An SES identity as Mailroom needs it; ``status`` is "MISSING" when SES has none."""

    identity: str
    exists: bool
    status: str
    verified_for_sending: bool
    dkim_status: str | None = None
    dkim_tokens: list[str] = field(default_factory=list)
    signing_hosted_zone: str | None = None
    mail_from_domain: str | None = None

    @property
    def verified(self) -> bool:
        return self.exists and (self.status == "SUCCESS" or self.verified_for_sending)


@dataclass
class VerificationStart:
    """What ``start_address_verification`` did; ``message`` is ready to show in Slack."""

    address: str
    outcome: Outcome
    message: str
    state: IdentityState


@dataclass
class AccountStatus:
    """SES account state; None fields mean "unknown", which must not block anything."""

    sending_enabled: bool | None
    production_access_enabled: bool | None = None
    enforcement_status: str | None = None
    max_24_hour_send: float | None = None
    max_send_rate: float | None = None
    sent_last_24_hours: float | None = None
    note: str | None = None


def missing_state(identity: str) -> IdentityState:
    return IdentityState(
        identity=identity, exists=False, status="MISSING", verified_for_sending=False
    )


def state_from_response(identity: str, response: dict[str, Any]) -> IdentityState:
    """Build an IdentityState from GetEmailIdentity or CreateEmailIdentity output."""
    dkim = response.get("DkimAttributes") or {}
    mail_from = response.get("MailFromAttributes") or {}
    verified = bool(response.get("VerifiedForSendingStatus"))
    # CreateEmailIdentity has no VerificationStatus: a new identity is pending until verified.
    status = response.get("VerificationStatus") or ("SUCCESS" if verified else "PENDING")
    return IdentityState(
        identity=identity,
        exists=True,
        status=status,
        verified_for_sending=verified,
        dkim_status=dkim.get("Status"),
        dkim_tokens=list(dkim.get("Tokens") or []),
        signing_hosted_zone=dkim.get("SigningHostedZone"),
        mail_from_domain=mail_from.get("MailFromDomain") or None,
    )


def normalise_address(address: str) -> str:
    """Check the syntax and lowercase the domain part (SES matches domains case-blind)."""
    text = address.strip()
    if not ADDRESS_RE.match(text):
        if text:
            message = _(
                "{value} is not a valid email address; write it like sales@example.com."
            ).format(value=repr(text))
        else:
            message = _(
                "'An empty value' is not a valid email address; write it like sales@example.com."
            )
        raise UserError(message, field="address")
    local, _at, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def normalise_domain(domain: str) -> str:
    text = domain.strip().rstrip(".").lower()
    if not DOMAIN_RE.match(text):
        if domain.strip():
            message = _("{value} is not a domain name; write it like example.com.").format(
                value=repr(domain.strip())
            )
        else:
            message = _("'An empty value' is not a domain name; write it like example.com.")
        raise UserError(message, field="domain")
    return text


# Parsing SESv2's service model and endpoint rules costs ~0.1 s per session; one shared
# loader (it only caches read-only JSON) makes each provider cheap to create.
SHARED_LOADER = botocore.loaders.create_loader()


def new_client(region: str, endpoint_url: str | None, config: Config) -> Any:
    """The SESv2 client ``boto3.client("sesv2")`` would give, from a session of our own.

    A fresh session per provider re-reads credentials and AWS_ENDPOINT_URL from the standard
    chain every time (rotated keys just work) and never shares state with boto3's global
    default session. boto3's Session is skipped only because it appends its data path to the
    loader on every construction, which a shared loader would accumulate.
    """
    session = botocore.session.get_session()
    session.register_component("data_loader", SHARED_LOADER)
    return session.create_client(
        "sesv2", region_name=region, endpoint_url=endpoint_url, config=config
    )


class SesProvider:
    """SESv2 client with bounded timeouts; every AWS failure becomes a UserError/ServiceError."""

    def __init__(
        self,
        region: str,
        endpoint_url: str | None = None,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        if not region or not region.strip():
            raise region_error()
        self.region = region.strip()
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
        )
        try:
            self.client = new_client(self.region, endpoint_url, config)
        except (InvalidRegionError, NoRegionError):
            raise region_error(self.region) from None
        except BotoCoreError as exc:
            # Credentials are resolved here too: PartialCredentialsError surfaces at creation.
            raise classify_aws_error(exc, endpoint=endpoint_url) from None

    # ------------------------------------------------------------------ identities

    def get_identity(self, identity: str) -> IdentityState:
        identity = normalise_identity(identity)
        try:
            response = self.call("get_email_identity", EmailIdentity=identity)
        except ClientError as exc:
            if error_code(exc) == "NotFoundException":
                return missing_state(identity)
            raise classify_aws_error(exc) from None
        return state_from_response(identity, response)

    def start_address_verification(self, address: str) -> VerificationStart:
        address = normalise_address(address)
        state = self.get_identity(address)
        if state.verified:
            return VerificationStart(
                address,
                "already_verified",
                _(
                    "{address} is already verified in Amazon SES, so Mailroom can send as it."
                ).format(address=address),
                state,
            )
        domain = address.rpartition("@")[2]
        domain_state = self.get_identity(domain)
        if domain_state.verified:
            return VerificationStart(
                address,
                "covered_by_domain",
                _(
                    "{address} needs no verification email: its domain {domain} is verified in "
                    "Amazon SES, which covers every address at it."
                ).format(address=address, domain=domain),
                domain_state,
            )
        if state.exists:
            # SESv2 has no "resend" call, and creating an identity that exists fails. Deleting
            # the pending (or expired, FAILED) identity and creating it again is how AWS sends
            # a fresh link; the old link stops working, which is what we want anyway.
            self.call_classified("delete_email_identity", field="address", EmailIdentity=address)
            new_state = self.create_identity(address, field="address")
            return VerificationStart(
                address,
                "resent",
                _(
                    "{address} was still waiting for verification, so Amazon SES has sent a new "
                    "email from no-reply-aws@amazon.com. Click the link in the newest one within "
                    "24 hours; older links no longer work."
                ).format(address=address),
                new_state,
            )
        new_state = self.create_identity(address, field="address")
        return VerificationStart(
            address,
            "sent",
            _(
                "Amazon SES has sent a verification email to {address} from "
                "no-reply-aws@amazon.com. Click the link in it within 24 hours, then check again."
            ).format(address=address),
            new_state,
        )

    def create_domain_identity(self, domain: str) -> IdentityState:
        """Start verifying ``domain`` (Easy DKIM); returns the state with its DKIM tokens."""
        domain = normalise_domain(domain)
        state = self.get_identity(domain)
        if state.exists:
            return state
        return self.create_identity(domain, field="domain")

    def create_identity(self, identity: str, *, field: str) -> IdentityState:
        try:
            response = self.call("create_email_identity", EmailIdentity=identity)
        except ClientError as exc:
            if error_code(exc) == "AlreadyExistsException":
                # Created meanwhile by someone else: its current state is the answer.
                return self.get_identity(identity)
            raise classify_aws_error(exc, field=field) from None
        return state_from_response(identity, response)

    # ------------------------------------------------------------------ account

    def account_status(self) -> AccountStatus:
        try:
            response = self.call("get_account")
        except ClientError as exc:
            code = error_code(exc)
            if code in NOT_IMPLEMENTED_CODES or http_status(exc) == 404:
                return AccountStatus(
                    sending_enabled=None,
                    note=_(
                        "Amazon SES did not say whether sending is enabled (this endpoint has "
                        "no GetAccount); Mailroom carries on."
                    ),
                )
            if code in ACCESS_CODES:
                return AccountStatus(
                    sending_enabled=None,
                    note=_(
                        "Mailroom may not read the SES account status (the ses:GetAccount "
                        "permission is missing), so it is shown as unknown; add the permission "
                        "to see sending limits."
                    ),
                )
            raise classify_aws_error(exc) from None
        quota = response.get("SendQuota") or {}
        return AccountStatus(
            sending_enabled=response.get("SendingEnabled"),
            production_access_enabled=response.get("ProductionAccessEnabled"),
            enforcement_status=response.get("EnforcementStatus"),
            max_24_hour_send=quota.get("Max24HourSend"),
            max_send_rate=quota.get("MaxSendRate"),
            sent_last_24_hours=quota.get("SentLast24Hours"),
        )

    # ------------------------------------------------------------------ plumbing

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Call an SESv2 operation; ClientError passes through for the caller to inspect."""
        try:
            answer: dict[str, Any] = getattr(self.client, operation)(**params)
            return answer
        except ClientError:
            raise
        except BotoCoreError as exc:
            raise classify_aws_error(exc, endpoint=self.client.meta.endpoint_url) from None

    def call_classified(
        self, operation: str, *, field: str | None = None, **params: Any
    ) -> dict[str, Any]:
        try:
            return self.call(operation, **params)
        except ClientError as exc:
            raise classify_aws_error(exc, field=field) from None


def normalise_identity(identity: str) -> str:
    text = identity.strip()
    if "@" in text:
        local, _at, domain = text.rpartition("@")
        return f"{local}@{domain.lower()}"
    return text.rstrip(".").lower()


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "")


def http_status(exc: ClientError) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


def aws_message(exc: ClientError) -> str:
    """AWS's own message, trimmed, without HTML pages or anything that looks like a key."""
    message = str(exc.response.get("Error", {}).get("Message") or "").strip()
    if message.lstrip().startswith("<"):
        return ""
    message = ACCESS_KEY_RE.sub("[access key]", " ".join(message.split()))
    return message[:300].rstrip(".")


def region_error(region: str | None = None) -> UserError:
    if region:
        return UserError(
            _(
                "Mailroom cannot reach Amazon SES because the region {region} is not valid. Set "
                "AWS_REGION to a region where you use SES, for example us-east-1 or eu-west-1."
            ).format(region=repr(region))
        )
    return UserError(
        _(
            "Mailroom cannot reach Amazon SES because no AWS region is set. Set AWS_REGION to a "
            "region where you use SES, for example us-east-1 or eu-west-1."
        )
    )


def classify_aws_error(
    exc: BaseException, *, field: str | None = None, endpoint: str | None = None
) -> UserError | ServiceError:
    """Turn a boto3/botocore failure into a sentence saying what happened and the fix."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return UserError(
            _(
                "AWS credentials are missing or incomplete: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY for Mailroom, or run it with an instance or task role "
                "that may use Amazon SES."
            )
        )
    if isinstance(exc, InvalidRegionError | NoRegionError):
        return region_error(getattr(exc, "kwargs", {}).get("region_name"))
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
        return ServiceError(
            _(
                "Amazon SES did not answer in time. Try again in a minute; if it keeps "
                "happening, check this server's network connection to AWS."
            )
        )
    if isinstance(exc, EndpointConnectionError):
        url = endpoint or exc.kwargs.get("endpoint_url")
        if url:
            return UserError(
                _(
                    "Mailroom could not connect to Amazon SES at {url}. Check that AWS_REGION "
                    "names a region where SES is available (for example us-east-1) and that "
                    "this server can reach AWS."
                ).format(url=url)
            )
        return UserError(
            _(
                "Mailroom could not connect to Amazon SES. Check that AWS_REGION names a region "
                "where SES is available (for example us-east-1) and that this server can reach "
                "AWS."
            )
        )
    if isinstance(exc, ConnectionClosedError):
        return ServiceError(
            _("Amazon SES closed the connection unexpectedly. Try again in a minute.")
        )
    if isinstance(exc, ClientError):
        return classify_client_error(exc, field)
    return ServiceError(
        _(
            "Something went wrong talking to Amazon SES. Try again in a minute; if it keeps "
            "happening, check the AWS Health Dashboard."
        )
    )


def classify_client_error(exc: ClientError, field: str | None) -> UserError | ServiceError:
    code = error_code(exc)
    message = aws_message(exc)
    permission = f"ses:{exc.operation_name}" if exc.operation_name else ""
    if code in CREDENTIAL_CODES:
        if not permission:
            return UserError(
                _(
                    "AWS did not accept Mailroom's credentials (the access key is unknown or "
                    "expired, or the secret does not match). Check AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY, or the instance role; the identity also needs the "
                    "SES permissions Mailroom uses."
                )
            )
        return UserError(
            _(
                "AWS did not accept Mailroom's credentials (the access key is unknown or expired, "
                "or the secret does not match). Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or the instance role; the identity also needs the {permission} permission."
            ).format(permission=permission)
        )
    if code in ACCESS_CODES:
        if not permission:
            return UserError(
                _(
                    "AWS refused the request because the IAM user or role Mailroom runs as lacks "
                    "the needed SES permission. Add it to that identity's IAM policy (Mailroom "
                    "uses ses:CreateEmailIdentity, ses:GetEmailIdentity, "
                    "ses:DeleteEmailIdentity, ses:GetAccount, and ses:SendEmail for mailboxes "
                    "that send through SES)."
                )
            )
        return UserError(
            _(
                "AWS refused the request because the IAM user or role Mailroom runs as lacks the "
                "{permission} permission. Add it to that identity's IAM policy (Mailroom uses "
                "ses:CreateEmailIdentity, ses:GetEmailIdentity, ses:DeleteEmailIdentity, "
                "ses:GetAccount, and ses:SendEmail for mailboxes that send through SES)."
            ).format(permission=permission)
        )
    if code in THROTTLE_CODES:
        return ServiceError(
            _("AWS is throttling Mailroom's requests to Amazon SES; try again in a minute.")
        )
    if code in PAUSED_CODES:
        return UserError(
            _(
                "Sending is paused on this AWS account. See the Amazon SES console (Account "
                "dashboard) for the reason and ask AWS to resume sending."
            )
        )
    if code == "BadRequestException":
        if message:
            rejected = _(
                "Amazon SES rejected the value ({message}). Check it and try again; an address "
                "must look like sales@example.com."
            ).format(message=message)
        else:
            rejected = _(
                "Amazon SES rejected the value. Check it and try again; an address must look "
                "like sales@example.com."
            )
        return UserError(rejected, field=field or "address")
    if code == "NotFoundException":
        if message:
            return UserError(
                _(
                    "Amazon SES has no such identity ({message}); start its verification first."
                ).format(message=message)
            )
        return UserError(_("Amazon SES has no such identity; start its verification first."))
    if code == "LimitExceededException":
        return UserError(
            _(
                "An Amazon SES limit for this account was reached (for example the number of "
                "identities). Remove identities you no longer use or ask AWS for a higher limit "
                "in the SES console."
            )
        )
    if code and message:
        failed = _("Amazon SES returned an error ({code}): {message}.").format(
            code=code, message=message
        )
    elif code:
        failed = _("Amazon SES returned an error ({code}).").format(code=code)
    elif message:
        failed = _("Amazon SES returned an unknown error: {message}.").format(message=message)
    else:
        failed = _("Amazon SES returned an unknown error.")
    return ServiceError(
        failed
        + " "
        + _("Try again in a minute; if it keeps happening, check the AWS Health Dashboard.")
    )
