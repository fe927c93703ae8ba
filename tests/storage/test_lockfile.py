"""storage.lockfile: one process per SQLite database, and a killed holder never blocks a restart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage.lockfile import AlreadyRunning, lock_sqlite

HOLDER = """
import sys
from storage.lockfile import lock_sqlite
lock_sqlite(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
"""


def test_only_sqlite_files_take_a_lock() -> None:
    assert lock_sqlite("postgresql://mailroom@127.0.0.1/mailroom") is None
    assert lock_sqlite("sqlite:///:memory:") is None


def test_a_second_process_is_refused_until_the_holder_dies(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'mailroom.db'}"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(AlreadyRunning):
            lock_sqlite(url)
    finally:
        holder.kill()  # SIGKILL: no clean-up code runs, the kernel drops the lock
        holder.wait(timeout=30)
    path = lock_sqlite(url)
    assert path == (tmp_path / "data" / "mailroom.db.lock").resolve()
    assert path.read_text() == f"{os.getpid()}\n"
    assert (path.stat().st_mode & 0o777) == 0o600
    with pytest.raises(AlreadyRunning):  # a lock belongs to its open file, not the process
        lock_sqlite(url)
