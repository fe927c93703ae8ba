"""Catalog upkeep: ``python -m locales update`` after changing Mailroom's words.

It runs Babel's own steps: extract the marked strings into locales/mailroom.pot, update each
language's .po from it (new strings appear untranslated, marked fuzzy if Babel guesses), fill
English with the source text, and compile every .po into the .mo the app reads.
``python -m locales translate es file.json`` takes translations from a JSON file;
``python -m locales compile`` only compiles; ``python -m locales check`` fails when a
catalog is missing a translation or its placeholders differ (tests/test_locales.py runs it).
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po, write_po

from locales import DOMAIN, LANGUAGES, LOCALE_DIR, SOURCE_LANGUAGE, catalog_problems

ROOT = LOCALE_DIR.parent
POT = LOCALE_DIR / f"{DOMAIN}.pot"


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])


def extract() -> None:
    pybabel(
        "extract",
        "-F",
        str(ROOT / "babel.cfg"),
        "-k",
        "N_",
        "--no-location",
        "--sort-output",
        "--project",
        "Mailroom",
        "-o",
        str(POT),
        str(ROOT),
    )


def update() -> None:
    extract()
    for language in LANGUAGES:
        if not po_path(language).exists():
            pybabel("init", "-i", str(POT), "-d", str(LOCALE_DIR), "-D", DOMAIN, "-l", language)
        else:
            pybabel(
                "update", "-i", str(POT), "-d", str(LOCALE_DIR), "-D", DOMAIN, "-l", language,
                "--no-fuzzy-matching", "--ignore-obsolete",
            )  # fmt: skip
    fill_source_language()
    compile_all()


def fill_source_language() -> None:
    """English is the source: its catalog says each message as written."""
    path = po_path(SOURCE_LANGUAGE)
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=SOURCE_LANGUAGE)
    for message in catalog:
        if message.id:
            message.string = message.id
            message.flags.discard("fuzzy")
    with path.open("wb") as handle:
        write_po(handle, catalog, omit_header=False, sort_output=True, width=0)


def translate(language: str, source: Path) -> int:
    """Take translations from a JSON file ({"English": "Español"}, or a list of forms for a
    plural message keyed by its singular) into ``language``'s catalog; returns how many."""
    import json

    given: dict[str, str | list[str]] = json.loads(source.read_text("utf-8"))
    path = po_path(language)
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    taken = 0
    for message in catalog:
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        if key and key in given:
            value = given[key]
            message.string = tuple(value) if isinstance(value, list) else value
            message.flags.discard("fuzzy")
            taken += 1
    with path.open("wb") as handle:
        write_po(handle, catalog, omit_header=False, sort_output=True, width=0)
    return taken


def compile_all() -> None:
    pybabel("compile", "-d", str(LOCALE_DIR), "-D", DOMAIN, "--statistics")


def check() -> int:
    problems = catalog_problems()
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "update"
    if command == "update":
        update()
    elif command == "compile":
        compile_all()
    elif command == "check":
        return check()
    elif command == "translate" and len(argv) == 4:
        print(f"{translate(argv[2], Path(argv[3]))} translations taken")
        compile_all()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
