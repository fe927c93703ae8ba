"""Each person reads Mailroom in their own Slack language: modal field errors, command answers,
and a language change (``user_change``) taking effect on the next answer."""

from __future__ import annotations

from locales import _, speaking
from tests.support.harness import Harness
from tests.support.wait import wait_until

ADDRESS_EN = "Enter a full email address, like sales@yourcompany.com."
ADDRESS_ES = "Escribe una dirección de correo completa, como sales@yourcompany.com."
USAGE_EN = "Use `/mail-contact ana@customer.com`"
USAGE_ES = "Usa `/mail-contact ana@customer.com`"


def ephemeral_after(h: Harness, user: str, before: int) -> str:
    new = wait_until(lambda: h.slack.ephemerals(user)[before:], message=f"answer to {user}")
    return str(new[0]["text"])


def contact_usage(h: Harness, user: str) -> str:
    """/mail-contact without an address: the usage sentence, as an ephemeral answer."""
    before = len(h.slack.ephemerals(user))
    assert h.client.command("/mail-contact", "", user).status_code == 200
    return ephemeral_after(h, user, before)


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


def test_user_change_makes_the_next_answer_use_the_new_language(harness: Harness) -> None:
    h = harness
    assert contact_usage(h, "UBOB").startswith(USAGE_EN)
    h.slack.set_locale("UBOB", "es-ES")
    # Cached until Slack says the profile changed.
    assert contact_usage(h, "UBOB").startswith(USAGE_EN)
    response = h.client.event(
        {
            "type": "user_change",
            "user": {"id": "UBOB", "team_id": "T_MAILROOM", "name": "ubob", "locale": "es-ES"},
            "event_ts": "1700000000.000100",
        }
    )
    assert response.status_code == 200, response.text
    wait_until(lambda: h.ctx.languages.of("UBOB") == "es", message="UBOB's language forgotten")
    assert contact_usage(h, "UBOB").startswith(USAGE_ES)
