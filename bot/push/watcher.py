"""One live mailbox: its persistent IMAP session and what the engine knows about it.

A watcher is always owned by exactly one party, named in ``owner``: the selector thread
while its connection idles (``ARMED``), one pool task while it syncs (``TASK``), the
selector's timers while it waits to reconnect (``TIMER``), or nobody when it is left to
the poll scheduler (``NONE``). Only the owner touches the session; other threads add
``wants`` under the engine's lock and let the owner pick them up.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bot.push.backoff import Backoff
from bot.push.pool import Priority
from providers.imap import ImapSession

# Untagged answers during IDLE that mean INBOX changed (RFC 3501 7.3, 7.4).
_CHANGE = re.compile(rb"^\* \d+ (EXISTS|RECENT|EXPUNGE|FETCH)\b", re.IGNORECASE)
_BYE = re.compile(rb"^\* BYE\b", re.IGNORECASE)
# A server line longer than this without an end is not IMAP we understand: reconnect.
MAX_PARTIAL_LINE = 64 * 1024

# What a pool task is asked to do: sync INBOX, sync Sent, post recorded-but-unposted
# mail, or only prove the connection alive (DONE, then IDLE again).
INBOX, SENT, PENDING, KEEPALIVE = "inbox", "sent", "pending", "keepalive"
# The server announced new INBOX mail while we idled (not a backstop or a poll): the sync
# may trust the IDLE view and skip STATUS.
PUSHED = "pushed"
CATCH_UP = frozenset({INBOX, SENT, PENDING})


class State(StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    POLLING = "polling"  # the server has no IDLE: the scheduler polls it
    RECONNECTING = "reconnecting"


class Owner(StrEnum):
    TASK = "task"
    ARMING = "arming"  # handed to the selector thread, not registered yet
    ARMED = "armed"
    TIMER = "timer"
    NONE = "none"


@dataclass
class Watcher:
    mailbox_id: int
    backoff: Backoff
    state: State = State.CONNECTING
    owner: Owner = Owner.TASK
    session: ImapSession | None = None
    sock: socket.socket | None = None
    idling: bool = False
    wants: set[str] = field(default_factory=set)
    buffer: bytearray = field(default_factory=bytearray)
    retry_at: float | None = None  # monotonic: reconnect, or retry a sync whose lease was busy
    next_reidle: float = 0.0
    next_backstop: float = 0.0
    token_refresh_at: float | None = None
    last_error: str | None = None
    wake_priority: Priority = Priority.BACKFILL  # the most urgent pending request's
    failed_at: datetime | None = None  # wall clock of the last failure (UTC)
    backfilling: bool = False  # the first sync is bringing in existing mail
    stopping: bool = False
    since: float = field(default_factory=time.monotonic)

    def set_state(self, state: State) -> None:
        if state != self.state:
            self.state, self.since = state, time.monotonic()

    @property
    def is_tls(self) -> bool:
        return isinstance(self.sock, ssl.SSLSocket)

    def feed(self, data: bytes) -> tuple[bool, bool]:
        """Add raw bytes read during IDLE; return (INBOX changed, connection ending).

        Only complete lines are looked at: a line cut in two by the network stays in the
        buffer until its end arrives (imapclient issue #519)."""
        self.buffer += data
        if b"\r\n" not in self.buffer:
            return False, len(self.buffer) > MAX_PARTIAL_LINE
        *lines, rest = bytes(self.buffer).split(b"\r\n")
        self.buffer = bytearray(rest)
        changed = any(_CHANGE.match(line) for line in lines)
        ending = any(_BYE.match(line) for line in lines) or len(rest) > MAX_PARTIAL_LINE
        return changed, ending


def read_available(sock: socket.socket) -> tuple[bytes, bool]:
    """Everything the socket holds right now, without blocking; (data, closed by peer).

    Loops until the kernel *and* the TLS layer are empty: bytes already decrypted in an
    SSL object's buffer never make the socket readable again for ``select``."""
    data = bytearray()
    while True:
        try:
            chunk = sock.recv(65536)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return bytes(data), False
        except OSError:
            return bytes(data), True
        if not chunk:
            return bytes(data), True
        data += chunk


def enable_keepalive(sock: socket.socket) -> None:
    """TCP keepalive: a peer that vanished (NAT dropped the flow, host died) is noticed in
    about two minutes instead of at the next re-IDLE."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 20), ("TCP_KEEPCNT", 3)):
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)
