"""The real server (`python app.py`): Slack dispatch runs off the event loop."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fake_slack import FakeSlack
from tests.support.harness import AppProcess, app_env
from tests.support.slack_requests import conversations_select, plain_input, static_select
from tests.support.wait import wait_until


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """Accepts TCP connections and never says a word: a hung mail server."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1], held
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


def test_slow_listener_does_not_block_other_requests(
    tmp_path: Path, silent_server: tuple[int, list[socket.socket]]
) -> None:
    port, connections = silent_server
    with FakeSlack(ts_base=None, trigger_ttl=None) as slack:
        env = app_env(
            slack,
            f"sqlite:///{tmp_path / 'm.db'}",
            tmp_path / "data",
            IMAP_TIMEOUT_SECONDS="8",
            SMTP_TIMEOUT_SECONDS="8",
        )
        app = AppProcess(env, tmp_path).start()
        try:
            client = app.client()
            values = {
                "kind": static_select("personal"),
                "address": plain_input("a@example.com"),
                "imap_host": plain_input("127.0.0.1"),
                "imap_port": plain_input(str(port)),
                "imap_security": static_select("none"),
                "imap_password": plain_input("pw"),
                "smtp_host": plain_input("127.0.0.1"),
                "smtp_port": plain_input(str(port)),
                "smtp_security": static_select("none"),
                "channel": conversations_select("C1"),
                "backfill": static_select("0"),
            }
            values = {key: {"value": value} for key, value in values.items()}
            answer: dict[str, object] = {}

            def submit() -> None:
                started = time.monotonic()
                response = client.submit_view(
                    "mail_connect", values, "UALICE", private_metadata='{"mailbox_id": null}'
                )
                answer["status"], answer["seconds"] = (
                    response.status_code,
                    time.monotonic() - started,
                )
                answer["body"] = response.json()

            slow = threading.Thread(target=submit)
            slow.start()
            # The listener is now testing logins against the hung server.
            wait_until(lambda: connections, message="the login test to reach the hung server")
            started = time.monotonic()
            health = httpx.get(app.url + "/healthz", timeout=10)
            health_seconds = time.monotonic() - started
            slow.join(15)
            assert health.status_code == 200
            # The submission holds its worker for ~2.5 s (Slack's ack budget); /healthz must
            # not wait behind it.
            assert health_seconds < 1.0, health_seconds
            assert answer["status"] == 200 and float(answer["seconds"]) < 3.0  # type: ignore[arg-type]
            assert answer["body"]["response_action"] == "update"  # type: ignore[index]
        finally:
            app.stop()
