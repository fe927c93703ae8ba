"""SES bounce and complaint notifications through an SNS HTTP(S) subscription.

``POST /ses/notifications`` takes what SNS sends. Every message is checked before anything
is believed: its topic must be one of ``MAILROOM_SNS_TOPIC_ARNS``; its signature
(SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA, over the fields SNS documents) must
verify with the certificate at ``SigningCertURL``, which must be an https URL on
``sns.<region>.amazonaws.com`` ending in ``.pem`` (fetched without redirects, cached).
A subscription confirmation is confirmed by fetching its ``SubscribeURL`` (same host rule).
Permanent bounces and complaints suppress the address; a campaign whose complaints reach
0.3 % pauses itself.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import FastAPI, Request, Response
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import update
from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from bot.campaigns.unsubscribe import suppress
from locales import _, speaking
from storage.models import Campaign, CampaignRecipient, CampaignState

if TYPE_CHECKING:
    from bot.context import AppContext

log = logging.getLogger(__name__)

MAX_BODY = 300 * 1024  # SNS messages are at most 256 KB
SNS_HOST_RE = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
COMPLAINT_PAUSE_RATE = 0.003
COMPLAINT_PAUSE_MIN_SENT = 300
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
SUBSCRIPTION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)


class SnsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)
    # Topics whose notifications are accepted (comma separated ARNs); empty = endpoint off.
    mailroom_sns_topic_arns: str = ""
    # Tests only: a URL prefix also accepted for certificates and subscribe URLs.
    mailroom_sns_test_url_prefix: str = Field(default="")

    @property
    def topics(self) -> set[str]:
        return {t.strip() for t in self.mailroom_sns_topic_arns.split(",") if t.strip()}


_CERTS: dict[str, rsa.RSAPublicKey] = {}
_CERTS_LOCK = threading.Lock()


def allowed_url(url: str, settings: SnsSettings) -> bool:
    prefix = settings.mailroom_sns_test_url_prefix
    if prefix and url.startswith(prefix):
        return True
    parts = urlsplit(url)
    return (
        parts.scheme == "https" and bool(SNS_HOST_RE.match(parts.hostname or "")) and not parts.port
    )


def _public_key(url: str, settings: SnsSettings) -> rsa.RSAPublicKey | None:
    if not allowed_url(url, settings) or not urlsplit(url).path.endswith(".pem"):
        return None
    with _CERTS_LOCK:
        if url in _CERTS:
            return _CERTS[url]
    response = requests.get(url, timeout=10, allow_redirects=False)
    if response.status_code != 200 or len(response.content) > 64 * 1024:
        return None
    key = x509.load_pem_x509_certificate(response.content).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return None
    with _CERTS_LOCK:
        _CERTS[url] = key
    return key


def string_to_sign(message: dict[str, Any]) -> bytes | None:
    kind = message.get("Type")
    names: tuple[str, ...]
    if kind == "Notification":
        names = NOTIFICATION_FIELDS
    elif kind in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        names = SUBSCRIPTION_FIELDS
    else:
        return None
    parts = []
    for name in names:
        if name in message and message[name] is not None:
            parts.append(f"{name}\n{message[name]}\n")
    return "".join(parts).encode()


def verify(message: dict[str, Any], settings: SnsSettings) -> bool:
    if message.get("TopicArn") not in settings.topics:
        return False
    data = string_to_sign(message)
    version = str(message.get("SignatureVersion", ""))
    if data is None or version not in ("1", "2"):
        return False
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        key = _public_key(str(message.get("SigningCertURL", "")), settings)
    except (ValueError, requests.RequestException):
        return False
    if key is None:
        return False
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    try:
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        return False
    return True


def handle(ctx: AppContext, body: bytes) -> int:
    """Process one SNS POST; returns the HTTP status to answer."""
    settings = SnsSettings()
    if not settings.topics:
        return 404
    try:
        message = json.loads(body)
    except ValueError:
        return 400
    if not isinstance(message, dict) or not verify(message, settings):
        return 403
    if message["Type"] == "SubscriptionConfirmation":
        url = str(message.get("SubscribeURL", ""))
        if not allowed_url(url, settings):
            return 403
        requests.get(url, timeout=10, allow_redirects=False)
        return 200
    if message["Type"] != "Notification":
        return 200
    try:
        event = json.loads(message["Message"])
    except (ValueError, TypeError):
        return 200
    apply_event(ctx, event)
    return 200


def apply_event(ctx: AppContext, event: dict[str, Any]) -> None:
    kind = event.get("notificationType") or event.get("eventType")
    mail = event.get("mail") or {}
    our_id = str((mail.get("commonHeaders") or {}).get("messageId") or "")
    if kind == "Bounce":
        bounce = event.get("bounce") or {}
        if bounce.get("bounceType") != "Permanent":
            return
        for recipient in bounce.get("bouncedRecipients") or []:
            _record(
                ctx,
                our_id,
                str(recipient.get("emailAddress", "")),
                "hard_bounce",
                str(recipient.get("diagnosticCode") or bounce.get("bounceSubType") or ""),
            )
    elif kind == "Complaint":
        complaint = event.get("complaint") or {}
        for recipient in complaint.get("complainedRecipients") or []:
            _record(
                ctx,
                our_id,
                str(recipient.get("emailAddress", "")),
                "complaint",
                str(complaint.get("complaintFeedbackType") or ""),
            )


def _record(ctx: AppContext, message_id: str, address: str, reason: str, detail: str) -> None:
    address = address.strip().lower()
    with ctx.db.session() as session:
        row = session.exec(
            select(CampaignRecipient).where(
                CampaignRecipient.message_id == message_id, CampaignRecipient.address == address
            )
        ).first()
        campaign = session.get(Campaign, row.campaign_id) if row is not None else None
    if row is None or campaign is None:
        return
    table = CampaignRecipient.__table__  # type: ignore[attr-defined]
    with ctx.db.engine.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.id == row.id)
            .values(bounce="hard" if reason == "hard_bounce" else "complaint")
        )
    suppress(ctx, campaign.team_id, address, reason, campaign.id, detail[:500])
    if reason == "complaint":
        _pause_if_complaints(ctx, campaign)
    else:
        from bot.campaigns.bounces import pause_if_bouncing

        pause_if_bouncing(ctx, campaign.id)  # type: ignore[arg-type]


def _pause_if_complaints(ctx: AppContext, campaign: Campaign) -> None:
    from bot.campaigns import ledger

    sent = ledger.counts(ctx, campaign.id).get("sent", 0)  # type: ignore[arg-type]
    with ctx.db.session() as session:
        complaints = len(
            session.exec(
                select(CampaignRecipient.id).where(
                    CampaignRecipient.campaign_id == campaign.id,
                    CampaignRecipient.bounce == "complaint",
                )
            ).all()
        )
    if sent < COMPLAINT_PAUSE_MIN_SENT or complaints / max(sent, 1) < COMPLAINT_PAUSE_RATE:
        return
    # Stored for the progress message in the channel (the workspace language, as this job).
    note = _complaint_note(complaints, sent)
    table = Campaign.__table__  # type: ignore[attr-defined]
    with ctx.db.engine.begin() as conn:
        moved = conn.execute(
            update(table)
            .where(table.c.id == campaign.id, table.c.state == CampaignState.SENDING.value)
            .values(state=CampaignState.PAUSED.value, note=note)
        ).rowcount
    if moved:
        # The owner's DM: in the owner's language.
        with speaking(ctx.languages.of(campaign.created_by)):
            ctx.slack.dm(campaign.created_by, _complaint_note(complaints, sent))


def _complaint_note(complaints: int, sent: int) -> str:
    return _(
        "Paused by Mailroom: {complaints} of {sent} recipients marked it as spam ({share}; "
        "Gmail and Yahoo require under 0.3 %). Check the audience and the content before "
        "resuming."
    ).format(complaints=complaints, sent=sent, share=f"{complaints / sent:.2%}")


def install_routes(api: FastAPI, ctx: AppContext) -> None:
    @api.post("/ses/notifications")
    async def notifications(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return Response(status_code=413)
        status = await run_in_threadpool(handle, ctx, body)
        return Response(status_code=status)
