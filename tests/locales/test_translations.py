"""locales (the package): the catalogs, every message in es and en with the same placeholders,
compiled; the reader's language; numbers and plurals per language."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import locales
from locales import N_, _, negotiate, ngettext, speaking


def test_every_message_is_translated_with_the_same_placeholders() -> None:
    assert locales.catalog_problems() == []


def test_the_check_finds_a_missing_translation_and_a_broken_placeholder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "locales"
    shutil.copytree(locales.LOCALE_DIR, copy, ignore=shutil.ignore_patterns("*.py"))
    po = copy / "es" / "LC_MESSAGES" / "mailroom.po"
    text = po.read_text("utf-8")
    text = text.replace('msgstr "Puerto {protocol}"', 'msgstr "Puerto {protocolo}"')
    text = text.replace('msgstr "Cerrar"', 'msgstr ""')
    po.write_text(text, "utf-8")
    monkeypatch.setattr(locales, "LOCALE_DIR", copy)
    problems = locales.catalog_problems()
    assert any("placeholders differ" in p and "{protocol} port" in p for p in problems)
    assert any("no translation for 'Close'" in p for p in problems)


def test_spanish_words_and_english_fallback() -> None:
    with speaking("es-ES"):
        assert _("Connect a mailbox") == "Conectar un buzón"
        assert _("A sentence no catalog has.") == "A sentence no catalog has."
    assert _("Connect a mailbox") == "Connect a mailbox"
    assert N_("Connect a mailbox") == "Connect a mailbox"  # marked, not translated


def test_plural_forms_follow_the_language() -> None:
    with speaking("es"):
        assert ngettext("{n} mailbox", "{n} mailboxes", 1).format(n=1) == "1 buzón"
        assert ngettext("{n} mailbox", "{n} mailboxes", 3).format(n=3) == "3 buzones"
    assert ngettext("{n} mailbox", "{n} mailboxes", 3).format(n=3) == "3 mailboxes"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("es-ES,es;q=0.9,en;q=0.8", "es"),
        ("es-419", "es"),
        ("fr-FR,es;q=0.5", "es"),
        ("en-GB,es;q=0.9", "en"),
        ("fr-FR", None),
        ("", None),
        ("*;q=0,es;q=0", None),
        ("garbage;;;q=x, ,", None),
    ],
)
def test_browser_languages_are_negotiated(header: str, language: str | None) -> None:
    assert negotiate(header) == language


def test_numbers_are_formatted_per_language() -> None:
    with speaking("es"):
        assert locales.format_number(12345) == "12.345"
    with speaking("en"):
        assert locales.format_number(12345) == "12,345"


@pytest.mark.parametrize(
    ("tag", "language"),
    [
        ("es-ES", "es"),
        ("es-LA", "es"),
        ("es-419", "es"),
        ("en-US", "en"),
        ("pt-BR", None),
        ("", None),
    ],
)
def test_slack_locales_map_to_languages(tag: str, language: str | None) -> None:
    assert locales.language_of(tag) == language


def test_the_compiled_catalogs_ship_with_the_package() -> None:
    """A fresh install (README: pip install -e .) reads the .mo files from the package."""
    import tomllib

    project = tomllib.loads((locales.LOCALE_DIR.parent / "pyproject.toml").read_text("utf-8"))
    shipped = project["tool"]["setuptools"]["package-data"]["locales"]
    assert "*/LC_MESSAGES/mailroom.mo" in shipped
    for language in locales.LANGUAGES:
        assert (locales.LOCALE_DIR / language / "LC_MESSAGES" / "mailroom.mo").is_file()


def test_the_readers_language_is_asked_only_when_something_is_said_and_once() -> None:
    import contextvars

    asked: list[str] = []

    def spanish_reader() -> str:
        asked.append("es")
        return "es"

    def request() -> None:
        locales.read_by(spanish_reader)
        assert asked == []  # an event that says nothing costs no users.info
        assert _("Connect a mailbox") == "Conectar un buzón"
        assert _("Close") == "Cerrar"
        assert asked == ["es"]
        with speaking(None):  # a channel post inside the request: the workspace's
            assert _("Close") == "Close"
        assert _("Close") == "Cerrar"

    contextvars.copy_context().run(request)
    assert asked == ["es"]
    assert _("Close") == "Close"  # nothing leaks out of the request's context
