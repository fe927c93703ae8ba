"""Provider errors speak the reader's language: the sentence is worded when it is raised."""

from __future__ import annotations

import pytest

from locales import speaking
from providers.errors import UserError
from providers.imap import ImapSettings, check_login
from providers.smtp import SmtpSettings
from providers.smtp import check_login as check_smtp_login
from tests.support.mail_servers import free_port


def refused(port: int) -> UserError:
    settings = ImapSettings("127.0.0.1", port, "ssl", "ana@example.com", "pw", timeout=5)
    with pytest.raises(UserError) as caught:
        check_login(settings)
    return caught.value


def test_imap_connection_refused_in_spanish_and_english() -> None:
    port = free_port()
    with speaking("es"):
        spanish = refused(port)
    assert spanish.field == "imap_host"
    assert spanish.message == (
        f"No se pudo conectar con 127.0.0.1 puerto {port}: conexión rechazada. Revisa el "
        "servidor y el puerto (normalmente 993 con SSL, o 143 con STARTTLS)."
    )
    english = refused(port)
    assert english.message == (
        f"Could not connect to 127.0.0.1 port {port}: connection refused. Check the host and "
        "port (usually 993 with SSL, or 143 with STARTTLS)."
    )


def test_smtp_connection_refused_names_smtp_ports_in_spanish() -> None:
    port = free_port()
    settings = SmtpSettings("127.0.0.1", port, "ssl", "ana@example.com", "pw", timeout=5)
    with speaking("es-ES"), pytest.raises(UserError) as caught:
        check_smtp_login(settings)
    assert "conexión rechazada" in caught.value.message
    assert "587 con STARTTLS, o 465 con SSL" in caught.value.message
