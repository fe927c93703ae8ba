"""A TCP relay in front of an IMAP server that records the tagged commands clients send."""

from __future__ import annotations

import contextlib
import re
import socket
import threading

from tests.support.wait import wait_until


class CommandCounter:
    """A TCP relay in front of Dovecot that counts the IMAP commands clients send.

    It watches the wire, so it measures what the app really does without touching its code.
    """

    TAG = re.compile(rb"^[A-Za-z]+\d+ [A-Za-z]")

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.commands: list[bytes] = []
        self.open_connections = 0
        self._lock = threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self._lock:
                self.open_connections += 1
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, count: bool) -> None:
        pending = b""
        try:
            while data := source.recv(65536):
                sink.sendall(data)
                if count:
                    pending += data
                    *lines, pending = pending.split(b"\r\n")
                    with self._lock:
                        self.commands += [line for line in lines if self.TAG.match(line)]
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            if count:
                with self._lock:
                    self.open_connections -= 1

    def take(self, *, settle: bool = True) -> list[bytes]:
        """The commands seen so far, by default once every client connection has closed.

        A client's last command (LOGOUT) can reach the relay after the sync call returned,
        so reading without waiting for the hang-up would count it in the next round.
        ``settle=False`` reads at once (a persistent push connection never hangs up).
        """
        if settle:
            wait_until(lambda: self.open_connections == 0, message="IMAP connections closed")
        with self._lock:
            taken, self.commands = self.commands, []
        return taken

    def close(self) -> None:
        self.sock.close()
