"""Slack's Socket Mode, played by a real websocket server on loopback.

With ``SLACK_APP_TOKEN`` set, the app asks the Web API's ``apps.connections.open`` (served by
``FakeSlack``, which hands out ``FakeSocketMode.url()``) for a websocket URL, connects to it
and receives Slack's requests as envelopes over that socket; it answers each with an ack
carrying the same ``envelope_id`` (and the response payload, e.g. a modal's
``response_action``). What is modelled, after Slack's documentation:

- ``hello`` on every new connection; envelopes of type ``events_api``, ``slash_commands``
  and ``interactive``, with ``retry_attempt``/``retry_reason`` for Slack's redeliveries;
- acks recorded per envelope id, in arrival order, so a test sees each request was answered
  and how many times;
- ``drop()`` cuts the connection without a close handshake (a network failure) and
  ``refresh()`` sends Slack's ``disconnect`` message; the client must come back through
  ``apps.connections.open``, and ``connections`` counts how often it did.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from tests.support.slack_requests import API_APP_ID, JSON
from tests.support.wait import wait_until

# Which envelopes let the app put a response payload in its ack (Slack's rules).
_ACCEPTS_PAYLOAD = {"slash_commands": True, "interactive": True, "events_api": False}


def as_payload(body: bytes, content_type: str) -> dict[str, Any]:
    """A request built by ``tests.support.slack_requests`` as Socket Mode carries it: the same
    fields, as JSON inside the envelope instead of a signed HTTP body."""
    if content_type == JSON:
        return dict(json.loads(body))
    fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return dict(json.loads(fields["payload"])) if "payload" in fields else fields


class FakeSocketMode:
    """A websocket server standing in for Slack's Socket Mode endpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tickets = itertools.count(1)
        self._issued: set[str] = set()
        self._open: list[ServerConnection] = []
        self.connections = 0  # handshakes with a ticket from apps.connections.open
        self.acks: list[dict[str, Any]] = []  # every ack received, in order
        self.sent: dict[str, dict[str, Any]] = {}  # envelope id -> envelope
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeSocketMode:
        self._server = serve(
            self._serve_connection, "127.0.0.1", 0, compression=None, ping_interval=None
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-socket-mode", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(5)
        self._server = self._thread = None

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeSocketMode is not started"
        return int(self._server.socket.getsockname()[1])

    def url(self) -> str:
        """A fresh one-time URL, what ``apps.connections.open`` answers."""
        ticket = f"ticket-{next(self._tickets)}"
        with self._lock:
            self._issued.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={API_APP_ID}"

    # ------------------------------------------------------------------ the socket
    def _serve_connection(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request else ""
        ticket = dict(parse_qsl(path.partition("?")[2])).get("ticket", "")
        with self._lock:
            if ticket not in self._issued:
                connection.close(4001, "invalid ticket")  # Slack refuses unknown or used URLs
                return
            self._issued.discard(ticket)
            self.connections += 1
            self._open.append(connection)
        connection.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {
                        "host": "fake-socket-mode",
                        "approximate_connection_time": 18060,
                    },
                    "connection_info": {"app_id": API_APP_ID},
                }
            )
        )
        try:
            for raw in connection:
                message = json.loads(raw)
                if "envelope_id" in message:
                    with self._lock:
                        self.acks.append(message)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if connection in self._open:
                    self._open.remove(connection)

    def is_connected(self) -> bool:
        with self._lock:
            return bool(self._open)

    def wait_connected(self, count: int = 1, timeout: float = 20) -> None:
        """Wait until the app has opened ``count`` connections in all and one is open now."""
        wait_until(
            lambda: self.connections >= count and self.is_connected(),
            timeout=timeout,
            message=f"Socket Mode connection number {count}",
        )

    def drop(self) -> None:
        """Cut every open connection without a close frame, as a network failure does."""
        with self._lock:
            connections, self._open = list(self._open), []
        for connection in connections:
            # shutdown() sends the FIN at once (close() alone waits for the reader thread).
            with contextlib.suppress(OSError):
                connection.socket.shutdown(socket.SHUT_RDWR)
            connection.socket.close()

    def refresh(self) -> None:
        """Slack's periodic ``disconnect`` message: the client must reconnect elsewhere."""
        self._send_raw({"type": "disconnect", "reason": "refresh_requested"})

    # ------------------------------------------------------------------ requests to the app
    def send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Deliver one request (``events_api``, ``slash_commands``, ``interactive``).

        Reuse ``envelope_id`` and raise ``retry_attempt`` to play Slack's redelivery.
        """
        envelope = {
            "envelope_id": envelope_id or str(uuid.uuid4()),
            "payload": payload,
            "type": kind,
            "accepts_response_payload": _ACCEPTS_PAYLOAD[kind],
        }
        if kind == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        with self._lock:
            self.sent[envelope["envelope_id"]] = envelope
        self._send_raw(envelope)
        return str(envelope["envelope_id"])

    def _send_raw(self, message: dict[str, Any]) -> None:
        with self._lock:
            connection = self._open[-1] if self._open else None
        assert connection is not None, "the app has no open Socket Mode connection"
        connection.send(json.dumps(message))

    def acks_for(self, envelope_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [a for a in self.acks if a["envelope_id"] == envelope_id]

    def wait_for_ack(self, envelope_id: str, timeout: float = 10) -> dict[str, Any]:
        """The app's ack of the envelope (with its ``payload`` when it answered one)."""
        return wait_until(
            lambda: self.acks_for(envelope_id),
            timeout=timeout,
            message=f"the ack of envelope {envelope_id}",
        )[0]


@pytest.fixture
def socket_mode(slack_fake: Any) -> Iterator[FakeSocketMode]:
    """A Socket Mode endpoint that ``slack_fake``'s apps.connections.open points the app to."""
    server = FakeSocketMode().start()
    slack_fake.socket_mode = server
    yield server
    slack_fake.socket_mode = None
    server.stop()
