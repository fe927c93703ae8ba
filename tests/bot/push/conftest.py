"""A Dovecot set up for push: many IDLE sessions, changes noticed within a second."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.bot.push.dovecot_configs import PUSH_DOVECOT
from tests.support.mail_servers import DovecotServer, require_dovecot


@pytest.fixture(scope="session")
def push_dovecot() -> Iterator[DovecotServer]:
    require_dovecot()
    server = DovecotServer(extra_config=PUSH_DOVECOT).start()
    try:
        yield server
    finally:
        server.stop()
