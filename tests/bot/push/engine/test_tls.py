"""Push over TLS (port 993 style): bytes already decrypted in the SSL buffer are invisible to
``select``, so the engine drains the TLS layer and checks ``pending()``; a burst of mail
announced in one TLS record must still be synced, and the next push must still wake it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.push import engine_of
from bot.push.watcher import State
from tests.bot.push.dovecot_configs import PUSH_DOVECOT
from tests.support.harness import Harness, HarnessFactory, make_email
from tests.support.mail_servers import (
    HOST,
    DovecotServer,
    free_port,
    require_dovecot,
    write_self_signed,
)
from tests.support.wait import wait_until


@pytest.fixture
def tls_dovecot(tmp_path: Path) -> Iterator[tuple[DovecotServer, int, Path]]:
    require_dovecot()
    cert, key = write_self_signed(tmp_path, HOST)
    tmp_path.chmod(0o755)
    imaps_port = free_port()
    extra = (
        PUSH_DOVECOT
        + f"""
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
service imap-login {{
  inet_listener imaps {{
    address = {HOST}
    port = {imaps_port}
    ssl = yes
  }}
}}
"""
    )
    with DovecotServer(extra_config=extra) as server:
        yield server, imaps_port, cert


def posts_with(h: Harness, channel: str, words: str) -> list[dict]:
    return [m for m in h.slack.messages(channel) if words in json.dumps(m.get("blocks"))]


def test_push_over_tls_sees_every_mail_of_a_burst_and_the_next_push(
    monkeypatch: pytest.MonkeyPatch,
    harness_with: HarnessFactory,
    tls_dovecot: tuple[DovecotServer, int, Path],
) -> None:
    server, imaps_port, cert = tls_dovecot
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test certificate (OpenSSL)
    h = harness_with(dovecot=server, SYNC_PUSH="on", SYNC_INTERVAL_SECONDS="3600")
    account = h.new_account()
    mailbox = h.connect(account, channel="C_TLS", imap_port=str(imaps_port), imap_security="ssl")
    engine = engine_of(h.ctx)
    assert engine is not None
    found = wait_until(
        lambda: (s := engine.state_of(mailbox.id)) and s[0] == State.LIVE and s,  # type: ignore[arg-type]
        timeout=15,
        message="live over TLS",
    )
    assert found[1].is_tls
    # Many mails at once: their EXISTS lines arrive together, decrypted in one go.
    server.append_many(
        account.address, [make_email(to=account.address, subject=f"Burst {n}") for n in range(8)]
    )
    for n in range(8):
        wait_until(lambda n=n: posts_with(h, "C_TLS", f"Burst {n}"), timeout=30)
    # The poll interval is an hour: only the push (the next IDLE) can post this one.
    server.append(account.address, make_email(to=account.address, subject="Right after"))
    wait_until(lambda: posts_with(h, "C_TLS", "Right after"), timeout=15)
    for n in range(8):
        assert len(posts_with(h, "C_TLS", f"Burst {n}")) == 1
