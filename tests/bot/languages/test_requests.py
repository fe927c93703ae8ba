"""Each Slack request is answered in its reader's Slack language: modal field errors and command
answers (a language change through ``user_change``: tests/handlers/events/test_people.py)."""

from __future__ import annotations

from locales import _, speaking
from tests.support.contacts import USAGE_EN, USAGE_ES, contact_usage
from tests.support.harness import Harness

ADDRESS_EN = "Enter a full email address, like sales@yourcompany.com."
ADDRESS_ES = "Escribe una dirección de correo completa, como sales@yourcompany.com."


def test_translation_is_the_one_the_test_expects() -> None:
    with speaking("es"):
        assert _(ADDRESS_EN) == ADDRESS_ES


def test_spanish_user_gets_connect_field_errors_in_spanish(harness: Harness) -> None:
    h = harness
    h.slack.add_user("UANA", name="ana", email="ana@example.com", locale="es-ES")
    account = h.new_account()
    values = h.connect_values(account, address="not-an-address")
    for user, expected in (("UANA", ADDRESS_ES), ("UALICE", ADDRESS_EN)):
        response = h.client.submit_view(
            "mail_connect", values, user, private_metadata='{"mailbox_id": null}'
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["response_action"] == "errors", answer
        assert answer["errors"]["address"] == expected
    assert h.mailbox_by_address(account.address) is None


def test_command_answer_in_each_persons_language(harness: Harness) -> None:
    h = harness
    h.slack.add_user("UANA", name="ana", email="ana@example.com", locale="es-ES")
    spanish = contact_usage(h, "UANA")
    english = contact_usage(h, "UALICE")
    assert spanish.startswith(USAGE_ES), spanish
    assert english.startswith(USAGE_EN), english
