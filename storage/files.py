"""Files that hold mail and keys: readable by Mailroom's own user only.

The SQLite database holds every stored mail and the sealed passwords; the generated key
opens them. Directories Mailroom creates are 0700 and those files 0600, whatever the umask,
so another local account on the machine reads neither.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_DIR = stat.S_IRWXU  # 0700
PRIVATE_FILE = stat.S_IRUSR | stat.S_IWUSR  # 0600
# SQLite's companions: the write-ahead log and its shared-memory index (WAL mode).
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) with 0700 on the directories created here.

    An existing directory is left as the operator set it: it may be shared on purpose;
    the files Mailroom keeps in it are private either way.
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        # mkdir's mode is filtered by the umask; say it explicitly.
        os.chmod(directory, PRIVATE_DIR)


def make_private_sqlite(path: Path) -> None:
    """Create the SQLite file 0600 before SQLite opens it (SQLite creates its -wal and -shm
    with the database's own mode), and tighten files an older version left 0644."""
    make_private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    os.close(fd)
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SQLITE_COMPANIONS)):
        if candidate.exists() and stat.S_IMODE(candidate.stat().st_mode) != PRIVATE_FILE:
            os.chmod(candidate, PRIVATE_FILE)
