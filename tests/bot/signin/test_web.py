"""The browser side of sign-in (bot.signin.web): its pages."""

from __future__ import annotations

from tests.support.harness import Harness


def test_a_spanish_browser_gets_the_sign_in_page_in_spanish(signin_harness: Harness) -> None:
    h = signin_harness
    page = h.client.client.get(
        "/oauth/google/start?state=not-a-state",
        headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"},
        follow_redirects=False,
    )
    assert page.status_code == 400
    assert '<html lang="es">' in page.text
    assert "<title>Mailroom: No se puede iniciar la sesión</title>" in page.text
    assert "Este enlace no es válido" in page.text and "Volver a Slack" in page.text
    english = h.client.client.get("/oauth/google/start?state=not-a-state", follow_redirects=False)
    assert '<html lang="en">' in english.text and "This link is not valid" in english.text
    # Without Accept-Language, the link's own lang (the Slack user's language) decides.
    linked = h.client.client.get("/oauth/google/start?state=x&lang=es", follow_redirects=False)
    assert '<html lang="es">' in linked.text and "Volver a Slack" in linked.text
