"""locales.__main__ (``python -m locales``): taking translations from JSON, filling English,
and the check that fails on an incomplete catalog. Run on a copy of the catalogs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

import locales
import locales.__main__ as cli


@pytest.fixture
def catalogs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the catalogs that both ``locales`` and ``python -m locales`` read."""
    copy = tmp_path / "locales"
    shutil.copytree(locales.LOCALE_DIR, copy, ignore=shutil.ignore_patterns("*.py"))
    monkeypatch.setattr(locales, "LOCALE_DIR", copy)
    monkeypatch.setattr(cli, "LOCALE_DIR", copy)
    return copy


def read(path: Path, language: str) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def test_translations_are_taken_from_json_singular_and_plural(
    catalogs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = catalogs / "es.json"
    forms = [
        "{n} contacto en {address}",
        "{n} de contactos en {address}",
        "{n} contactos en {address}",
    ]
    source.write_text(
        json.dumps({"Close": "Cerrar ya", "{n} contact for {address}": forms, "Not a msgid": "x"}),
        "utf-8",
    )
    assert cli.main(["locales", "translate", "es", str(source)]) == 0  # takes, then compiles
    catalog = read(catalogs / "es" / "LC_MESSAGES" / "mailroom.po", "es")
    assert catalog["Close"].string == "Cerrar ya"
    assert catalog["{n} contact for {address}"].string == tuple(forms)
    assert "Not a msgid" not in catalog
    assert capsys.readouterr().out.startswith("2 translations taken")
    assert locales.catalog_problems() == []


def test_english_says_each_message_as_written(catalogs: Path) -> None:
    po = catalogs / "en" / "LC_MESSAGES" / "mailroom.po"
    po.write_text(po.read_text("utf-8").replace('msgstr "Close"', 'msgstr ""'), "utf-8")
    assert read(po, "en")["Close"].string == ""
    cli.fill_source_language()
    assert read(po, "en")["Close"].string == "Close"


def test_check_fails_on_a_missing_translation_and_says_which(
    catalogs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["locales", "check"]) == 0
    po = catalogs / "es" / "LC_MESSAGES" / "mailroom.po"
    po.write_text(po.read_text("utf-8").replace('msgstr "Cerrar"', 'msgstr ""'), "utf-8")
    assert cli.main(["locales", "check"]) == 1
    assert "no translation for 'Close'" in capsys.readouterr().err


def test_an_unknown_command_prints_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["locales", "translate", "es"]) == 2  # the JSON file is missing
    assert "python -m locales translate es file.json" in capsys.readouterr().err
