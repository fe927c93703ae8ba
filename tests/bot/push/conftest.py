"""A Dovecot set up for push: many IDLE sessions, changes noticed within a second."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.bot.push.dovecot_configs import PUSH_DOVECOT
from tests.support.harness import Harness, HarnessFactory
from tests.support.mail_servers import DovecotServer, require_dovecot


@pytest.fixture(scope="session")
def push_dovecot() -> Iterator[DovecotServer]:
    require_dovecot()
    server = DovecotServer(extra_config=PUSH_DOVECOT).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def push_app(harness_with: HarnessFactory, push_dovecot: DovecotServer) -> Harness:
    return harness_with(dovecot=push_dovecot, SYNC_PUSH="on", SYNC_INTERVAL_SECONDS="3600")
