"""`python app.py` with the embedded defaults keeps mail and keys private to its own user:
the data directory 0700, the SQLite database and its -wal/-shm files and the key 0600, even
under a permissive umask (another local account must not read stored mail)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from storage.files import make_private_dir
from tests.support.fake_slack import FakeSlack
from tests.support.harness import AppProcess, app_env
from tests.support.wait import wait_until


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def started_with_umask(env: dict[str, str], cwd: Path, umask: int) -> AppProcess:
    old = os.umask(umask)  # the child inherits it, as from an operator's shell
    try:
        return AppProcess(env, cwd).start()
    finally:
        os.umask(old)


def test_data_dir_database_and_key_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with FakeSlack(ts_base=None, trigger_ttl=None) as slack:
        env = app_env(slack, f"sqlite:///{data / 'mailroom.db'}", data)
        env.pop("MAILROOM_SECRET_KEY", None)
        app = started_with_umask(env, tmp_path, 0o022)
        try:
            database = data / "mailroom.db"
            companions = [Path(f"{database}-wal"), Path(f"{database}-shm")]
            wait_until(lambda: all(p.exists() for p in companions), message="WAL files")
            assert mode(data) == 0o700
            for path in (database, *companions, data / "secret.key"):
                assert mode(path) == 0o600, (path, oct(mode(path)))
        finally:
            app.stop()


def test_files_left_readable_by_an_older_version_are_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    database = data / "mailroom.db"
    database.touch(mode=0o644)
    os.chmod(database, 0o644)
    with FakeSlack(ts_base=None, trigger_ttl=None) as slack:
        app = started_with_umask(app_env(slack, f"sqlite:///{database}", data), tmp_path, 0o022)
        try:
            assert mode(database) == 0o600
            for path in (Path(f"{database}-wal"), Path(f"{database}-shm")):
                if path.exists():
                    assert mode(path) == 0o600
        finally:
            app.stop()


def test_missing_directories_are_made_private_and_existing_ones_left_alone(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)  # the operator's choice
    old = os.umask(0)
    try:
        make_private_dir(shared / "a" / "b")
    finally:
        os.umask(old)
    assert mode(shared) == 0o755
    assert mode(shared / "a") == 0o700 and mode(shared / "a" / "b") == 0o700
