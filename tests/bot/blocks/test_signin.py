"""Sign-in Block Kit builders, checked as plain dicts."""

from __future__ import annotations

from bot.blocks.signin import (
    TenantView,
    config_alert_blocks,
    consent_overview,
    failure_blocks,
    reconnect_blocks,
    sign_in_button,
)
from locales import speaking
from storage.models import Mailbox


def test_sign_in_button_is_a_url_button_carrying_its_state() -> None:
    button = sign_in_button("microsoft", "https://m.test/oauth/microsoft/start?state=abc", "abc")
    assert button == {
        "type": "button",
        "text": {"type": "plain_text", "text": "Sign in with Microsoft", "emoji": True},
        "action_id": "signin_start_microsoft",
        "value": "abc",
        "url": "https://m.test/oauth/microsoft/start?state=abc",
    }


def test_untrusted_words_are_escaped() -> None:
    mailbox = Mailbox(
        id=3, team_id="T", kind="personal", owner_id="U", address="a<!channel>@x.test"
    )
    text, blocks = reconnect_blocks(
        mailbox, "Google no longer lets Mailroom into a<!channel>@x.test."
    )
    assert "<!channel>" not in text and "<!channel>" not in str(blocks)
    assert blocks[1]["elements"][0]["action_id"] == "mailbox_reconnect"
    text, _ = failure_blocks("code <https://evil|bank>")
    assert "<https://evil" not in text
    text, _ = config_alert_blocks("google", "<!here>")
    assert "<!here>" not in text and "GOOGLE_CLIENT_SECRET" in text


def test_consent_overview_stays_under_slacks_block_limit() -> None:
    views = [
        TenantView(
            row_id=i,
            tenant=f"tid-{i}",
            status="needed",
            consent_link="https://l.test",
            waiting_users=["U1"],
        )
        for i in range(12)
    ]
    _, blocks = consent_overview(views, configured=True, general_link=None)
    assert len(blocks) <= 50
    granted = [TenantView(row_id=1, tenant="tid-1", status="granted", consent_link="")]
    _, blocks = consent_overview(granted, configured=True, general_link=None)
    assert "Approval link" not in str(blocks) and "Check again" in str(blocks)


def test_sign_in_blocks_speak_the_current_language() -> None:
    mailbox = Mailbox(id=3, team_id="T", kind="personal", owner_id="U", address="ana@x.test")
    views = [
        TenantView(row_id=i, tenant=f"tid-{i}", status="needed", consent_link="") for i in range(2)
    ]
    with speaking("es"):
        button = sign_in_button("google", "https://m.test/oauth/google/start?state=s", "s")
        _text, blocks = reconnect_blocks(mailbox, "Google ya no deja entrar a Mailroom.")
        overview, listed = consent_overview(views, configured=True, general_link=None)
    assert button["text"]["text"] == "Iniciar sesión con Google"
    assert button["action_id"] == "signin_start_google"  # ids are never translated
    assert "hasta que vuelvas a iniciar sesión" in blocks[0]["text"]["text"]
    assert blocks[1]["elements"][0]["text"]["text"] == "Reconectar"
    assert overview == "Aprobación de administrador de Microsoft: 2 organizaciones"
    assert "En espera: nadie por ahora" in str(listed)
    assert "Comprobar de nuevo" in str(listed)
    # Outside the block, English again.
    assert sign_in_button("google", "https://m.test", "s")["text"]["text"] == "Sign in with Google"
