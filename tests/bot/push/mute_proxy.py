"""A TCP relay in front of Dovecot that can hide the server's push notifications.

IDLE is known to miss a push now and then (Gmail, AOL: imapclient issue #150). With
``mute = True`` the relay drops whole untagged ``EXISTS``/``RECENT`` lines coming from the
server, which is exactly what such a miss looks like to the client.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading

_PUSH_LINE = re.compile(rb"\* \d+ (?:EXISTS|RECENT)\r\n", re.IGNORECASE)


class MuteProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mute = False
        self.dropped = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._sockets += [client, upstream]
            threading.Thread(target=self._copy, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._copy, args=(upstream, client, True), daemon=True).start()

    def _copy(self, source: socket.socket, target: socket.socket, from_server: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_server and self.mute:
                    data, hidden = _PUSH_LINE.subn(b"", data)
                    self.dropped += hidden
                if data:
                    target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Stop listening (connection refused from now on) and cut every relayed session."""
        # shutdown, not just close: a thread blocked in accept/recv keeps a socket open.
        for sock in [self._server, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
