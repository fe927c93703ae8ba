"""providers.smtp against a real aiosmtpd server: sending, auth, refusals, faults."""

from __future__ import annotations

import threading
import time
from email.message import EmailMessage

import pytest

from locales import speaking
from providers.errors import MailroomError, ServiceError, UserError
from providers.smtp import SmtpSettings, check_login, send_message
from tests.support.harness import SilentServer
from tests.support.mail_servers import SmtpServer, free_port
from tests.support.wait import wait_until

SENDER = "sender@example.com"
PASSWORD = "smtp-secret"


def settings_for(server: SmtpServer, **overrides: object) -> SmtpSettings:
    values: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "security": "none",
        "username": SENDER,
        "password": PASSWORD,
        "timeout": 5.0,
    }
    values.update(overrides)
    return SmtpSettings(**values)  # type: ignore[arg-type]


def reply(to: str = "customer@customer.example", **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Support Team <{SENDER}>"
    message["To"] = to
    message["Subject"] = "Re: Pedido nº 42 — ¿dónde está?"
    message["Message-ID"] = "<reply-1@mailroom.example>"
    message["In-Reply-To"] = "<question-1@customer.example>"
    message["References"] = "<question-1@customer.example>"
    for name, value in headers.items():
        message[name] = value
    message.set_content("Hola,\n\nYour order ships today.\n.\nA line with a lone dot above.\n")
    return message


# -- sending ------------------------------------------------------------------------------


def test_send_message_is_recorded_with_headers_intact(smtp_server: SmtpServer) -> None:
    message = reply(Cc="boss@customer.example", Bcc="audit@example.com")
    answer = send_message(
        settings_for(smtp_server),
        message,
        sender=SENDER,
        recipients=["customer@customer.example", "boss@customer.example", "audit@example.com"],
    )
    assert answer.startswith("250 ")
    assert "queued as Q000001" in answer

    [received] = smtp_server.wait_for_messages(1)
    assert received.envelope_from == SENDER
    assert received.recipients == [
        "customer@customer.example",
        "boss@customer.example",
        "audit@example.com",
    ]
    assert received.auth_login == SENDER
    got = received.message
    assert got["Subject"] == "Re: Pedido nº 42 — ¿dónde está?"
    assert got["Message-ID"] == "<reply-1@mailroom.example>"
    assert got["In-Reply-To"] == "<question-1@customer.example>"
    assert got["Cc"] == "boss@customer.example"
    # Bcc travels in the envelope only; the header would reveal the hidden recipient.
    assert got["Bcc"] is None
    assert b"audit@example.com" not in received.raw
    body = got.get_content().replace("\r\n", "\n")
    assert "Your order ships today." in body
    assert "\n.\nA line with a lone dot above." in body  # dot-stuffing round-trips
    # The caller's message is not changed by sending it.
    assert message["Bcc"] == "audit@example.com"


def test_check_login_succeeds(smtp_server: SmtpServer) -> None:
    check_login(settings_for(smtp_server))


def test_xoauth2_send_with_a_valid_token(smtp_server: SmtpServer) -> None:
    smtp_server.tokens["good-token"] = SENDER
    settings = settings_for(smtp_server, password=None, access_token="good-token")
    send_message(settings, reply(), sender=SENDER, recipients=["customer@customer.example"])
    [received] = smtp_server.wait_for_messages(1)
    assert received.auth_login == SENDER


def test_xoauth2_with_a_bad_token_is_a_user_error(smtp_server: SmtpServer) -> None:
    settings = settings_for(smtp_server, password=None, access_token="expired-token-123")
    with pytest.raises(UserError) as caught:
        check_login(settings)
    assert caught.value.field == "smtp_password"
    assert "535" in caught.value.message
    assert "Reconnect" in caught.value.message
    assert "expired-token-123" not in caught.value.message


# -- errors -------------------------------------------------------------------------------


def test_wrong_password_is_a_user_error_on_the_password_field(smtp_server: SmtpServer) -> None:
    with pytest.raises(UserError) as caught:
        check_login(settings_for(smtp_server, password="wrong-pass-987"))
    assert caught.value.field == "smtp_password"
    assert "535" in caught.value.message
    assert SENDER in caught.value.message
    assert "wrong-pass-987" not in caught.value.message
    assert smtp_server.messages == []


def test_permanent_rejection_carries_the_server_words(smtp_server: SmtpServer) -> None:
    smtp_server.fail_next(550, "5.7.1 Message rejected as spam")
    settings = settings_for(smtp_server)
    with pytest.raises(MailroomError) as caught:
        send_message(settings, reply(), sender=SENDER, recipients=["customer@customer.example"])
    assert isinstance(caught.value, ServiceError)
    assert "550 5.7.1 Message rejected as spam" in caught.value.message
    assert smtp_server.messages == []
    # count=1: the next attempt goes through.
    send_message(settings, reply(), sender=SENDER, recipients=["customer@customer.example"])
    assert len(smtp_server.wait_for_messages(1)) == 1


def test_temporary_failure_is_a_try_later_service_error(smtp_server: SmtpServer) -> None:
    smtp_server.fail_next(451, "4.3.0 Mail server temporarily rejected message", count=2)
    for _ in range(2):
        with pytest.raises(ServiceError) as caught:
            send_message(
                settings_for(smtp_server),
                reply(),
                sender=SENDER,
                recipients=["customer@customer.example"],
            )
        assert "asked us to try later" in caught.value.message
        assert "451 4.3.0 Mail server temporarily rejected message" in caught.value.message
    assert smtp_server.messages == []


def test_refused_recipient_is_named_and_nothing_is_sent(smtp_server: SmtpServer) -> None:
    smtp_server.refuse_recipient("ghost@customer.example", 550, "5.1.1 User unknown")
    with pytest.raises(UserError) as caught:
        send_message(
            settings_for(smtp_server),
            reply(),
            sender=SENDER,
            recipients=["customer@customer.example", "ghost@customer.example"],
        )
    assert "ghost@customer.example" in caught.value.message
    assert "550 5.1.1 User unknown" in caught.value.message
    assert "customer@customer.example" not in caught.value.message
    assert smtp_server.messages == []


def test_closed_port_is_a_user_error_on_the_host_field(smtp_server: SmtpServer) -> None:
    port = free_port()
    with pytest.raises(UserError) as caught:
        check_login(settings_for(smtp_server, port=port))
    assert caught.value.field == "smtp_host"
    assert f"port {port}: connection refused" in caught.value.message


def test_ssl_against_a_plain_server_is_a_tls_user_error(smtp_server: SmtpServer) -> None:
    with pytest.raises(UserError) as caught:
        check_login(settings_for(smtp_server, security="ssl"))
    assert caught.value.field == "smtp_security"
    assert "TLS" in caught.value.message
    assert "STARTTLS" in caught.value.message


def test_untrusted_certificate_is_a_security_user_error(tls_smtp_server: SmtpServer) -> None:
    with pytest.raises(UserError) as caught:
        check_login(settings_for(tls_smtp_server, security="ssl"))
    assert caught.value.field == "smtp_security"
    assert "certificate we cannot trust" in caught.value.message
    assert "self-signed" in caught.value.message


def test_starttls_when_not_offered_is_a_security_user_error(smtp_server: SmtpServer) -> None:
    with pytest.raises(UserError) as caught:
        check_login(settings_for(smtp_server, security="starttls"))
    assert caught.value.field == "smtp_security"
    assert "does not offer STARTTLS" in caught.value.message


def test_silent_server_is_a_quick_service_error(silent_server: SilentServer) -> None:
    settings = SmtpSettings(
        "127.0.0.1", silent_server.port, "none", SENDER, password=PASSWORD, timeout=0.3
    )
    started = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        check_login(settings)
    assert time.monotonic() - started < 3
    assert caught.value.field == "smtp_host"
    assert "did not answer within 0.3 seconds" in caught.value.message


def test_server_stalling_mid_send_times_out_without_delivering(smtp_server: SmtpServer) -> None:
    smtp_server.hold()
    outcome: list[BaseException] = []

    def send() -> None:
        try:
            send_message(
                settings_for(smtp_server, timeout=0.5),
                reply(),
                sender=SENDER,
                recipients=["customer@customer.example"],
            )
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=send)
    worker.start()
    smtp_server.wait_until_held()
    wait_until(lambda: outcome, timeout=5, message="the client gave up on the stalled server")
    worker.join(timeout=5)
    assert isinstance(outcome[0], ServiceError)
    assert "did not answer within 0.5 seconds" in outcome[0].message
    smtp_server.release()
    assert smtp_server.messages == []
    # The server recovers once released.
    send_message(
        settings_for(smtp_server), reply(), sender=SENDER, recipients=["customer@customer.example"]
    )
    assert len(smtp_server.wait_for_messages(1)) == 1


def test_settings_repr_hides_secrets() -> None:
    settings = SmtpSettings(
        "smtp.example.com", 587, "starttls", SENDER, password="hunter2", access_token="tok123"
    )
    assert "hunter2" not in repr(settings)
    assert "tok123" not in repr(settings)


def test_smtp_connection_refused_names_smtp_ports_in_spanish() -> None:
    port = free_port()
    settings = SmtpSettings("127.0.0.1", port, "ssl", "ana@example.com", "pw", timeout=5)
    with speaking("es-ES"), pytest.raises(UserError) as caught:
        check_login(settings)
    assert "conexión rechazada" in caught.value.message
    assert "587 con STARTTLS, o 465 con SSL" in caught.value.message
