"""storage.crypto: secrets at rest, sealed and opened, with key rotation."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from storage.crypto import SecretBox


def test_secret_box_round_trip_and_wrong_key() -> None:
    key = Fernet.generate_key().decode()
    box = SecretBox([key])
    token = box.seal({"imap_password": "hunter2", "n": 1})
    assert "hunter2" not in token
    assert box.open(token) == {"imap_password": "hunter2", "n": 1}
    assert box.open(None) == {}
    with pytest.raises(ValueError, match="MAILROOM_SECRET_KEY"):
        SecretBox([Fernet.generate_key().decode()]).open(token)
    with pytest.raises(ValueError):
        SecretBox([])


def test_key_rotation_with_multifernet() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = SecretBox([old]).seal({"imap_password": "p"})
    during = SecretBox([new, old])  # newest first, old kept until rows are re-encrypted
    assert during.open(token) == {"imap_password": "p"}
    rotated = during.rotate(token)
    assert SecretBox([new]).open(rotated) == {"imap_password": "p"}
    with pytest.raises(ValueError):
        SecretBox([new]).open(token)
    # New secrets are always sealed with the newest key.
    assert SecretBox([new]).open(during.seal({"x": 1})) == {"x": 1}
