"""Secrets at rest: Fernet (AES-128-CBC + HMAC) keyed by MAILROOM_SECRET_KEY.

MultiFernet lets an operator rotate keys: put the new key first, keep the old ones after it
until `rotate` has re-encrypted every row.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

    def seal(self, data: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(data, separators=(",", ":")).encode()).decode()

    def open(self, token: str | None) -> dict[str, Any]:
        if not token:
            return {}
        try:
            opened: dict[str, Any] = json.loads(self._fernet.decrypt(token.encode()))
            return opened
        except InvalidToken:
            # A wrong key must not look like "no password": say what is wrong.
            raise ValueError(
                "stored secrets cannot be decrypted: MAILROOM_SECRET_KEY changed?"
            ) from None

    def rotate(self, token: str) -> str:
        return self._fernet.rotate(token.encode()).decode()
