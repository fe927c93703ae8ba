"""Sign-in in Spanish: a Spanish-locale Slack user's DMs (the page for a Spanish browser:
tests/bot/signin/test_web.py)."""

from __future__ import annotations

from tests.bot.signin.flows import add_mail_user, sign_in
from tests.support.harness import Harness
from tests.support.identity_fakes import IdentityFakes
from tests.support.wait import wait_until


def test_a_spanish_locale_user_is_asked_for_the_channel_in_spanish(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    h.ctx.languages.forget("UALICE")
    h.slack.set_locale("UALICE", "es-ES")
    add_mail_user(h, identity.google.person.email)
    run = sign_in(h, identity, "google", channel=None)
    assert run.page.status_code == 200
    assert run.url.endswith("&lang=es")  # /start speaks Spanish when the browser does not say
    picker = wait_until(
        lambda: [m for m in h.slack.messages("UALICE") if "Elige el canal" in m["text"]],
        message="the channel picker, in Spanish",
    )[0]
    assert picker["text"] == (
        f":white_check_mark: {identity.google.person.email} ha iniciado sesión con Google. "
        "Elige el canal donde debe aparecer su correo."
    )
    assert "la sincronización empieza en cuanto lo hagas" in str(picker["blocks"])
    placeholder = picker["blocks"][1]["elements"][0]["placeholder"]["text"]
    assert placeholder == "Elige un canal"
    # Someone else's DMs stay in their own language.
    assert all("Elige" not in m["text"] for m in h.slack.messages("UBOB"))
