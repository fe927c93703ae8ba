"""Block Kit builders: plain dicts, no I/O, unit-tested as data (tests/bot/blocks)."""
