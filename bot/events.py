"""Named, typed signals: who listens to what is one `connect` call an editor can jump to."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, ParamSpec

P = ParamSpec("P")
log = logging.getLogger(__name__)


class Signal(Generic[P]):
    """A list of listeners called in the order they connected.

    With ``isolate``, a failing listener is logged and the others still run: one feature's
    refresh must not undo the change that was announced (or hide it from the next feature)."""

    def __init__(self, name: str, isolate: bool = True) -> None:
        self.name = name
        self.isolate = isolate
        self.listeners: list[Callable[P, object]] = []

    def connect(self, listener: Callable[P, object]) -> None:
        self.listeners.append(listener)

    def emit(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for listener in list(self.listeners):
            if not self.isolate:
                listener(*args, **kwargs)
                continue
            try:
                listener(*args, **kwargs)
            except Exception:
                log.exception("%s listener %r failed for %r", self.name, listener, args)


@dataclass
class Events:
    # A mailbox's settings or state changed (activated, paused, channel...): App Home, push.
    # Listeners get the mailbox id; a feature binds what else it needs when it connects.
    mailbox_changed: Signal[[int]] = field(default_factory=lambda: Signal("mailbox_changed"))
    # A DNS report was stored for (team_id, domain): the admins' App Home.
    domain_checked: Signal[[str, str]] = field(default_factory=lambda: Signal("domain_checked"))
    # The process started its scheduler: features schedule their jobs. A failure here stops
    # the start-up, as before: a process without its jobs must not look healthy.
    started: Signal[[]] = field(default_factory=lambda: Signal("started", isolate=False))
