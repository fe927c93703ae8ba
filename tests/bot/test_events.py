"""Signals (bot.events): listeners run in the order they connected; an isolated signal logs a
failing listener and still calls the others, ``started`` lets the failure stop the start-up."""

from __future__ import annotations

import logging

import pytest

from bot.events import Events, Signal


def test_listeners_are_called_in_order_with_the_arguments() -> None:
    calls: list[tuple[str, str, int]] = []
    signal: Signal[[str, int]] = Signal("domain_checked")
    signal.connect(lambda team, n: calls.append(("first", team, n)))
    signal.connect(lambda team, n: calls.append(("second", team, n)))
    signal.emit("T1", 7)
    assert calls == [("first", "T1", 7), ("second", "T1", 7)]


def test_an_isolated_signal_logs_a_failing_listener_and_runs_the_next(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reached: list[int] = []

    def broken(mailbox_id: int) -> None:
        raise RuntimeError("refresh failed")

    signal: Signal[[int]] = Signal("mailbox_changed")
    signal.connect(broken)
    signal.connect(reached.append)
    with caplog.at_level(logging.ERROR, logger="bot.events"):
        signal.emit(42)
    assert reached == [42]
    [record] = caplog.records
    assert "mailbox_changed listener" in record.getMessage() and "(42,)" in record.getMessage()
    assert record.exc_info is not None


def test_started_is_not_isolated_so_a_failing_job_setup_stops_the_start() -> None:
    events = Events()
    reached: list[str] = []

    def broken() -> None:
        raise RuntimeError("could not schedule")

    events.started.connect(broken)
    events.started.connect(lambda: reached.append("after"))
    with pytest.raises(RuntimeError, match="could not schedule"):
        events.started.emit()
    assert reached == []
    # The other signals of the same app keep their failures to themselves.
    assert events.mailbox_changed.isolate and events.domain_checked.isolate


def test_a_listener_connected_while_emitting_waits_for_the_next_emit() -> None:
    calls: list[str] = []
    signal: Signal[[]] = Signal("started")

    def first() -> None:
        calls.append("first")
        signal.connect(lambda: calls.append("late"))

    signal.connect(first)
    signal.emit()
    assert calls == ["first"]
    signal.emit()
    assert calls == ["first", "first", "late"]
