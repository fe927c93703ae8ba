"""A TCP listener that stands for a host that is not a mail server."""

from __future__ import annotations

import socket
import threading


class Listener:
    """Accepts connections on (host, port), says ``greeting`` (if any) and hangs up."""

    def __init__(self, host: str, port: int, greeting: bytes = b"") -> None:
        self.sock = socket.create_server((host, port))
        self.port = port
        self.greeting = greeting
        self.accepted = 0
        # A timeout so the loop sees the stop flag: close() does not wake a blocked accept().
        self.sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            try:
                if self.greeting:
                    conn.sendall(self.greeting)
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
