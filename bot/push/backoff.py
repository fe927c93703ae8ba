"""Reconnect delays: exponential backoff with full jitter, capped.

Full jitter (a uniform draw between 0 and the exponential ceiling) spreads the reconnects of
a thousand mailboxes whose server restarted, instead of having them all knock at once
(AWS Architecture Blog, "Exponential Backoff And Jitter").
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base: float = 1.0
    cap: float = 300.0
    failures: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def ceiling(self) -> float:
        """The longest the next wait may be (before the jitter draw)."""
        return float(min(self.cap, self.base * 2 ** max(0, self.failures - 1)))

    def next_delay(self) -> float:
        """Count one more failure and draw the wait before the next attempt."""
        self.failures += 1
        return self.rng.uniform(0, self.ceiling())

    def reset(self) -> None:
        self.failures = 0
