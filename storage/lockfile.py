"""SQLite is for one process: an exclusive lock on a file next to the database says so.

The lock (``flock``) belongs to the open file, so the kernel drops it when the process ends,
however it ends (kill -9 included): a stale lock file never blocks a restart.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from storage.files import make_private_dir


class AlreadyRunning(Exception):
    """Another process holds the database's lock."""


_held: list[int] = []  # kept open for the life of the process


def lock_sqlite(url: str) -> Path | None:
    """Take the exclusive lock for a SQLite file database; None for other databases."""
    if not url.startswith("sqlite:///") or ":memory:" in url:
        return None
    database = Path(url.removeprefix("sqlite:///")).resolve()
    make_private_dir(database.parent)
    path = database.with_name(database.name + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyRunning(str(database)) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held.append(fd)
    return path
