"""SES notifications over SNS: only correctly signed messages from the configured topic
count; a permanent bounce and a complaint suppress the address; subscriptions are confirmed."""

from __future__ import annotations

import base64
import datetime
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from bot.campaigns.sns import string_to_sign
from storage.models import CampaignRecipient
from tests.support.campaigns import add_campaign, suppressed
from tests.support.harness import Harness, HarnessFactory

TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-feedback"


class CertServer:
    """Serves the signing certificate and records subscription confirmations (loopback)."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(self.key, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM)
        self.confirmed: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.endswith(".pem"):
                    body = pem
                else:
                    server.confirmed.append(self.path)
                    body = b"<ConfirmSubscriptionResponse/>"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.prefix = f"http://127.0.0.1:{self.http.server_port}/"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def sign(self, message: dict, version: str = "2") -> dict:
        message = {
            **message,
            "SignatureVersion": version,
            "SigningCertURL": self.prefix + "cert.pem",
        }
        data = string_to_sign(message)
        assert data is not None
        algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()
        signature = self.key.sign(data, padding.PKCS1v15(), algorithm)
        return {**message, "Signature": base64.b64encode(signature).decode()}


@pytest.fixture
def certs() -> Iterator[CertServer]:
    server = CertServer()
    yield server
    server.http.shutdown()


@pytest.fixture
def app(harness_with: HarnessFactory, certs: CertServer) -> Harness:
    return harness_with(MAILROOM_SNS_TOPIC_ARNS=TOPIC, MAILROOM_SNS_TEST_URL_PREFIX=certs.prefix)


def sent_row(h: Harness, address: str, message_id: str) -> None:
    mailbox = h.connect(h.new_account(), user="UADMIN", kind="marketing")
    with h.ctx.db.session() as session:
        campaign = add_campaign(
            session, mailbox.id, named=message_id, subject="s", body="b", state="done"
        )
        session.add(
            CampaignRecipient(
                campaign_id=campaign.id, address=address, state="sent", message_id=message_id
            )
        )


def notification(event: dict) -> dict:
    return {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Message": json.dumps(event),
        "Timestamp": "2026-12-03T09:00:00.000Z",
    }


def bounce_event(address: str, message_id: str) -> dict:
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": address, "diagnosticCode": "smtp; 550 5.1.1 user unknown"}
            ],
        },
        "mail": {"messageId": "0100018c-ses-id", "commonHeaders": {"messageId": message_id}},
    }


def test_signed_bounces_and_complaints_suppress_and_forgeries_do_nothing(
    app: Harness, certs: CertServer
) -> None:
    h = app
    sent_row(h, "ana@customer.example.com", "<m1@good.test>")
    web = h.client.client
    forged = certs.sign(notification(bounce_event("ana@customer.example.com", "<m1@good.test>")))
    forged["Message"] = forged["Message"].replace("Permanent", "Permanent ")
    assert web.post("/ses/notifications", content=json.dumps(forged)).status_code == 403
    other_topic = certs.sign(
        {
            **notification(bounce_event("ana@customer.example.com", "<m1@good.test>")),
            "TopicArn": TOPIC + "-other",
        }
    )
    assert web.post("/ses/notifications", content=json.dumps(other_topic)).status_code == 403
    assert suppressed(h) == {}

    good = certs.sign(notification(bounce_event("ana@customer.example.com", "<m1@good.test>")))
    assert web.post("/ses/notifications", content=json.dumps(good)).status_code == 200
    assert suppressed(h) == {"ana@customer.example.com": "hard_bounce"}

    sent_row(h, "ben@customer.example.com", "<m2@good.test>")
    complaint = {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": "ben@customer.example.com"}],
            "complaintFeedbackType": "abuse",
        },
        "mail": {"commonHeaders": {"messageId": "<m2@good.test>"}},
    }
    signed = certs.sign(notification(complaint), version="1")
    assert web.post("/ses/notifications", content=json.dumps(signed)).status_code == 200
    assert suppressed(h)["ben@customer.example.com"] == "complaint"


def test_a_subscription_is_confirmed_only_when_signed(app: Harness, certs: CertServer) -> None:
    h = app
    message = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37",
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe to the topic.",
        "SubscribeURL": certs.prefix + "?Action=ConfirmSubscription&Token=2336412f37",
        "Timestamp": "2026-12-03T09:00:00.000Z",
    }
    unsigned = {
        **message,
        "SignatureVersion": "2",
        "SigningCertURL": certs.prefix + "cert.pem",
        "Signature": base64.b64encode(b"x" * 256).decode(),
    }
    assert (
        h.client.client.post("/ses/notifications", content=json.dumps(unsigned)).status_code == 403
    )
    assert certs.confirmed == []
    assert (
        h.client.client.post(
            "/ses/notifications", content=json.dumps(certs.sign(message))
        ).status_code
        == 200
    )
    assert certs.confirmed == ["/?Action=ConfirmSubscription&Token=2336412f37"]
