"""Real-HTTP stand-ins for Amazon SES in tests: moto's server, and an AWS error server.

moto 5.2.5 serves SESv2 over real HTTP (``ThreadedMotoServer``), so boto3 goes through its
real signing, serialising and error parsing. moto's gaps, and how we close them here:

- identities are SUCCESS at once and domains get no DKIM tokens: the SES backend's
  ``email_identities`` dict (moto keeps v2 identities in the v1 backend,
  ``moto.ses.models.ses_backends[account][region]``, and the v2 backend delegates to it) is
  swapped for ``RealisticIdentities``, which makes every new identity PENDING, like real
  SES, and gives new domains three Easy DKIM tokens. Tests then play the rest of the life
  cycle with ``MotoSes.set_identity_status`` (the person clicked the link, the link expired)
  and ``MotoSes.set_dkim_tokens``;
- duplicate creates do not fail (real SES: AlreadyExistsException); our code never relies on
  either behaviour, it deletes before re-creating;
- ``GetEmailIdentity`` has no ``MailFromAttributes``, so a custom MAIL FROM cannot be played;
- ``get_account`` is missing (404), which ``SesProvider.account_status`` reports as unknown.

``AwsErrorServer`` answers every request with a chosen AWS error (JSON body and
``x-amzn-ErrorType`` header, as SESv2's REST-JSON protocol does), so error classification is
tested through botocore's real parsing rather than hand-built exceptions.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer
from moto.ses.models import EmailIdentity, SESBackend, ses_backends
from moto.sesv2.models import sesv2_backends

REGION = "us-east-1"
STATUSES = ("PENDING", "SUCCESS", "FAILED", "TEMPORARY_FAILURE", "NOT_STARTED")


def make_dkim_token() -> str:
    """A token shaped like SES's: 32 lowercase base32-ish characters."""
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return "".join(secrets.choice(alphabet) for _ in range(32))


class RealisticIdentities(dict[str, EmailIdentity]):
    """moto's identity store, made to start identities the way real SES does."""

    def __setitem__(self, key: str, identity: EmailIdentity) -> None:
        if key not in self:
            identity.verification_status = "PENDING"
            identity.verified_for_sending_status = False
            if identity.identity_type == "DOMAIN":
                identity.dkim_attributes.update(
                    {
                        "Status": "PENDING",
                        "SigningEnabled": True,
                        "Tokens": [make_dkim_token() for _ in range(3)],
                    }
                )
        super().__setitem__(key, identity)


class MotoSes:
    """moto's SES backend for one account and region, with helpers to play states."""

    def __init__(
        self, url: str, account_id: str = DEFAULT_ACCOUNT_ID, region: str = REGION
    ) -> None:
        self.url = url
        self.account_id = account_id
        self.region = region

    @property
    def backend(self) -> SESBackend:
        return ses_backends[self.account_id][self.region]

    def reset(self) -> None:
        """Forget every identity and message; new identities start PENDING again."""
        self.backend.reset()
        sesv2_backends[self.account_id][self.region].reset()
        self.backend.email_identities = RealisticIdentities()

    def identity(self, identity: str) -> EmailIdentity:
        try:
            return self.backend.email_identities[identity]
        except KeyError:
            raise AssertionError(f"moto has no SES identity {identity!r}") from None

    def add_identity(self, identity: str, status: str = "SUCCESS") -> EmailIdentity:
        """Create an identity directly in the backend, already in ``status``."""
        self.backend.create_email_identity_v2(identity, None, None, None)
        self.set_identity_status(identity, status)
        return self.identity(identity)

    def set_identity_status(self, identity: str, status: str) -> None:
        """Play SES's verification outcome: SUCCESS = the link was clicked / DNS checked."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        item = self.identity(identity)
        item.verification_status = status
        item.verified_for_sending_status = status == "SUCCESS"
        if item.identity_type == "DOMAIN":
            item.dkim_attributes["Status"] = status

    def set_dkim_tokens(
        self, domain: str, tokens: Iterable[str], hosted_zone: str | None = None
    ) -> None:
        attributes = self.identity(domain).dkim_attributes
        attributes["Tokens"] = list(tokens)
        if hosted_zone:
            attributes["SigningHostedZone"] = hosted_zone


def start_moto_server() -> tuple[ThreadedMotoServer, str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


@dataclass
class AwsError:
    status: int
    code: str
    message: str

    def body(self) -> bytes:
        return json.dumps({"__type": self.code, "message": self.message}).encode()


ACCESS_DENIED = AwsError(
    403,
    "AccessDeniedException",
    "User: arn:aws:iam::123456789012:user/mailroom is not authorized to perform: ses:GetEmailIdentity",
)
THROTTLED = AwsError(429, "TooManyRequestsException", "Rate exceeded")
SENDING_PAUSED = AwsError(400, "SendingPausedException", "Sending is paused for this account.")
ACCOUNT_SUSPENDED = AwsError(400, "AccountSuspendedException", "The account is suspended.")
BAD_REQUEST = AwsError(400, "BadRequestException", "Invalid email address <bad@@example.com>.")
UNRECOGNIZED_CLIENT = AwsError(
    403, "UnrecognizedClientException", "The security token included in the request is invalid."
)
SIGNATURE_MISMATCH = AwsError(
    403,
    "SignatureDoesNotMatch",
    "The request signature we calculated does not match the signature you provided.",
)
INTERNAL = AwsError(500, "InternalFailure", "We encountered an internal error. Please try again.")


class AwsErrorServer:
    """HTTP server on loopback answering each request with the next queued reply.

    A reply is an ``AwsError`` or a dict (a 200 JSON body); when the queue is empty the
    ``default`` reply is used. ``requests`` counts what arrived, so retries can be asserted.
    """

    def __init__(self) -> None:
        self.default: AwsError | dict[str, Any] = INTERNAL
        self.replies: deque[AwsError | dict[str, Any]] = deque()
        self.requests: list[str] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.answer(self)

            do_POST = do_PUT = do_DELETE = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> AwsErrorServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def respond_with(
        self, *replies: AwsError | dict[str, Any], default: AwsError | dict[str, Any] | None = None
    ) -> None:
        with self.lock:
            self.replies = deque(replies)
            self.requests.clear()
            if default is not None:
                self.default = default
            elif replies:
                self.default = replies[-1]

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            handler.rfile.read(length)
        with self.lock:
            self.requests.append(f"{handler.command} {handler.path}")
            reply = self.replies.popleft() if self.replies else self.default
        if isinstance(reply, AwsError):
            status, body = reply.status, reply.body()
            headers = {
                "x-amzn-ErrorType": f"{reply.code}:http://internal.amazon.com/",
                "x-amzn-RequestId": "test",
            }
        else:
            status, body = 200, json.dumps(reply).encode()
            headers = {"x-amzn-RequestId": "test"}
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)


def closed_port_url() -> str:
    """An http URL on loopback where nothing listens (the port was just free)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
