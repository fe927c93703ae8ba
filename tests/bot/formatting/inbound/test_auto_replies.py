"""bot.formatting.inbound.auto_replies: auto-replies and bounces told apart from people's mail."""

from __future__ import annotations

import pytest

from bot.formatting.inbound import parse_email
from bot.formatting.inbound.auto_replies import detect_auto_reply
from tests.bot.formatting.inbound.messages import build


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Auto-Submitted": "auto-replied"}, "auto-reply"),
        ({"Auto-Submitted": "no"}, None),
        ({"X-Autoreply": "yes"}, "auto-reply"),
        ({"X-Autorespond": "Out of office"}, "auto-reply"),
        ({"Precedence": "auto_reply"}, "auto-reply"),
        ({"Precedence": "bulk"}, None),
        ({"Subject": "Automatic reply: Pedido"}, "auto-reply"),
        ({"Subject": "Respuesta automática: Pedido"}, "auto-reply"),
        ({"Subject": "Out of office next week, can we talk before?"}, None),
        ({"Subject": "Undeliverable: Pedido"}, "bounce"),
        ({"Subject": "Delivery Status Notification (Failure)"}, "bounce"),
        ({"From": "MAILER-DAEMON@mx.example"}, "bounce"),
        ({"From": "postmaster@mx.example"}, "bounce"),
    ],
)
def test_detect_auto_reply(headers: dict[str, str], expected: str | None) -> None:
    msg = build()
    for name, value in headers.items():
        del msg[name]
        msg[name] = value
    assert detect_auto_reply(msg) == expected


def test_multipart_report_is_a_bounce() -> None:
    raw = (
        b"From: someone@mx.example\nSubject: failed\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nCould not deliver.\n"
        b"--b\nContent-Type: message/delivery-status\n\nStatus: 5.1.1\n--b--\n"
    )
    mail = parse_email(raw)
    assert mail.auto_kind == "bounce"
    assert mail.text == "Could not deliver."
    assert mail.attachments == []
