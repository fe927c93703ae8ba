"""Reconnect delays (bot.push.backoff): exponential, full jitter, capped."""

from __future__ import annotations

import random

from bot.push.backoff import Backoff


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    backoff = Backoff(base=1.0, cap=300.0, rng=random.Random(7))
    ceilings = []
    for _ in range(12):
        delay = backoff.next_delay()
        ceilings.append(backoff.ceiling())
        assert 0 <= delay <= backoff.ceiling()
    assert ceilings[:5] == [1, 2, 4, 8, 16]
    assert ceilings[-1] == 300
    backoff.reset()
    assert backoff.next_delay() <= 1
