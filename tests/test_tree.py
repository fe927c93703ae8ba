"""Tests mirror the tree: the tests of ``pkg/a/b.py`` live in ``tests/pkg/a/test_b.py`` or in
the directory ``tests/pkg/a/b/``; a package's ``__init__.py`` is tested in the package's test
directory (``tests/pkg/a/``); ``pkg/__main__.py`` in ``tests/pkg/test_main.py``.

A module with no logic is listed in ``EXEMPT`` with the reason. The list stays true: an
exempt module that gains tests at its mirrored path, or that no longer exists, fails too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "handlers", "providers", "storage", "locales")
SKIPPED = ("storage/migrations",)  # alembic revisions: run by tests/storage/migrations/

EXEMPT: dict[str, str] = {
    "bot/context.py": "the assembled app's typed fields (a dataclass), built by every app test",
    "bot/core.py": "dataclass only (the parts every service receives)",
    "bot/hooks.py": "type aliases",
    "bot/testhooks.py": (
        "the kill -9 pause points, driven by the process tests "
        "(tests/test_app_process.py, tests/test_compose_process.py)"
    ),
    "bot/features.py": "install() loop over the features; each feature's install is tested",
    "bot/senders/answers.py": "dataclasses only",
    "bot/senders/service.py": (
        "bundles DomainService and SenderVerifications (tests/bot/senders/test_domains.py, "
        "test_verification.py)"
    ),
    "handlers/views/signin.py": "register() registers nothing (sign-in submits no view)",
    # No entry for bot/sync.py (being split into bot/sync/): tests/bot/test_sync.py sits at
    # its mirrored path, so an exemption would be stale; after the split, the package's
    # modules are checked like any other (tests/bot/sync/test_<module>.py).
}


def has_logic(module: Path) -> bool:
    """False for a module that is empty or holds only its docstring."""
    body = ast.parse(module.read_text(encoding="utf-8")).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return bool(body)


def mirrored_places(module: str) -> list[str]:
    """Where the tests of ``module`` (a path relative to the root, like ``bot/a/b.py``) go."""
    path = Path(module)
    tests = Path("tests") / path.parent
    if path.name == "__init__.py":
        return [f"{tests.as_posix()}/"]
    if path.name == "__main__.py":
        return [(tests / "test_main.py").as_posix()]
    return [(tests / f"test_{path.stem}.py").as_posix(), f"{(tests / path.stem).as_posix()}/"]


def has_tests(root: Path, module: str) -> bool:
    for place in mirrored_places(module):
        found = root / place
        if place.endswith("/"):
            if found.is_dir() and any(found.rglob("test_*.py")):
                return True
        elif found.is_file():
            return True
    return False


def modules(
    root: Path, packages: tuple[str, ...] = PACKAGES, skipped: tuple[str, ...] = SKIPPED
) -> list[str]:
    """Every module with logic under ``packages``, as root-relative POSIX paths."""
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            if any(name.startswith(f"{skip}/") for skip in skipped):
                continue
            if has_logic(path):
                found.append(name)
    return found


def untested(
    root: Path, packages: tuple[str, ...] = PACKAGES, skipped: tuple[str, ...] = SKIPPED
) -> list[str]:
    """Modules with logic that have no tests at their mirrored path."""
    return [m for m in modules(root, packages, skipped) if not has_tests(root, m)]


def test_every_module_has_tests_at_its_mirrored_path() -> None:
    missing = [m for m in untested(ROOT) if m not in EXEMPT]
    assert not missing, "modules without tests at their mirrored path:\n" + "\n".join(
        f"  {m}: expected {' or '.join(mirrored_places(m))}" for m in missing
    )


def test_the_exempt_list_stays_true() -> None:
    wrong = []
    for module, reason in EXEMPT.items():
        if not reason.strip():
            wrong.append(f"  {module}: no reason given")
        elif not (ROOT / module).is_file():
            wrong.append(f"  {module}: no longer exists; drop it from EXEMPT")
        elif has_tests(ROOT, module):
            wrong.append(f"  {module}: has tests now; drop it from EXEMPT")
    assert not wrong, "EXEMPT is out of date:\n" + "\n".join(wrong)


# --- The walker itself, on a tree of its own ---------------------------------------------------


def write(root: Path, *names: str, text: str = "X = 1\n") -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    write(
        tmp_path,
        "pkg/__init__.py",
        "pkg/tested.py",
        "pkg/in_a_dir.py",
        "pkg/untested.py",
        "pkg/__main__.py",
        "pkg/sub/__init__.py",
        "pkg/sub/deep.py",
        "pkg/empty_dir.py",
        "pkg/skipped/whatever.py",
        "tests/pkg/test_tested.py",
        "tests/pkg/in_a_dir/test_one_part.py",
        "tests/pkg/test_main.py",
        "tests/pkg/empty_dir/helpers.py",  # a directory without test files counts for nothing
        "tests/pkg/sub/deep/__init__.py",
    )
    write(tmp_path, "pkg/docstring_only.py", text='"""Nothing but words."""\n')
    return tmp_path


def test_the_walker_names_each_module_without_tests(tree: Path) -> None:
    found = untested(tree, ("pkg",), ("pkg/skipped",))
    assert found == [
        "pkg/empty_dir.py",
        "pkg/sub/__init__.py",
        "pkg/sub/deep.py",
        "pkg/untested.py",
    ]
    # Tests arriving at the mirrored places clear them, one by one.
    write(tree, "tests/pkg/empty_dir/test_it.py", "tests/pkg/test_untested.py")
    write(tree, "tests/pkg/sub/deep/test_part.py")  # also the package's test directory
    assert untested(tree, ("pkg",), ("pkg/skipped",)) == []
    # Nothing is skipped unless asked: the skipped folder's module is reported then.
    assert untested(tree, ("pkg",), ()) == ["pkg/skipped/whatever.py"]


def test_the_places_a_module_is_tested_in() -> None:
    assert mirrored_places("bot/a/b.py") == ["tests/bot/a/test_b.py", "tests/bot/a/b/"]
    assert mirrored_places("bot/a/__init__.py") == ["tests/bot/a/"]
    assert mirrored_places("locales/__main__.py") == ["tests/locales/test_main.py"]
