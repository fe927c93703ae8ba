"""ASGI middleware in front of every route: request body limits and browser security headers.

Every route Mailroom serves is reachable without authentication (Slack's signature is only
checked once the body has been read, OAuth callbacks carry no credentials at all), so a body
must be refused by its size before anything reads it into memory: by its Content-Length
header at once, and by counting the bytes of a chunked or lying body as they arrive.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOO_LARGE = "The request body is too large."

# Sent with every answer. The HTML pages (sign-in results, consent landings) are static text:
# no script, no frame, no form, no outside resource; only their inline style block.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        b"form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


class BodyLimitMiddleware:
    """Answer 413 to a body above ``limit_for(path)`` bytes, before it is read.

    A declared Content-Length over the limit is refused without reading a byte; a body
    that turns out longer while it streams in makes the read fail with 413, so at most
    ``limit`` bytes (plus one chunk) are ever held.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope["headers"])
        if declared == "invalid":
            await _answer(send, 400, "The Content-Length header is not a number.")
            return
        if isinstance(declared, int) and declared > limit:
            await _answer(send, 413, TOO_LARGE)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the route's body read; Starlette turns it into the 413.
                    raise HTTPException(413, TOO_LARGE)
            return message

        await self.app(scope, counting_receive, send)


class SecurityHeadersMiddleware:
    """Add CSP, frame, sniffing and referrer headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | str | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else "invalid"
    return None


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The unread body is not worth waiting for: end this connection.
                (b"connection", b"close"),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
