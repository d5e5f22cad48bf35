"""The scheduler process's loop: tasks at their intervals, or woken early by the work they expect."""

from __future__ import annotations

import time

import pytest

from workers.periodic import PeriodicTask
from workers.scheduler import SHORTEST_PAUSE, TICK_SECONDS, Scheduler


def _task(name: str, runs: list[str], every: float = 1.0, work_in: object = None) -> PeriodicTask:
    def next_work_in() -> float | None:
        if isinstance(work_in, Exception):
            raise work_in
        return work_in  # type: ignore[return-value]

    return PeriodicTask(name, every, lambda: runs.append(name), next_work_in if work_in is not None else None)


@pytest.fixture(autouse=True)
def _no_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("workers.scheduler._heartbeat", lambda: None)


def test_a_step_due_before_the_next_tick_wakes_its_task_early() -> None:
    runs: list[str] = []
    scheduler = Scheduler([_task("claim", runs, work_in=0.2), _task("sweep", runs, every=5.0)])
    started = time.monotonic()
    scheduler.run_due(started)
    assert runs == ["claim", "sweep"]
    assert scheduler.pause(started) == pytest.approx(0.2)
    scheduler.run_due(started + 0.2)  # within both intervals: only the task that asked runs
    assert runs == ["claim", "sweep", "claim"]
    scheduler.run_due(started + 0.4)  # not woken this time: the interval holds again
    assert runs == ["claim", "sweep", "claim"]


def test_without_sooner_work_the_loop_keeps_its_tick() -> None:
    runs: list[str] = []
    scheduler = Scheduler([_task("claim", runs, work_in=30.0), _task("plain", runs)])
    started = time.monotonic()
    assert TICK_SECONDS - 0.05 < scheduler.pause(started) <= TICK_SECONDS
    assert scheduler.woken_for == set()


def test_a_late_or_failing_hint_never_makes_the_loop_spin_or_stop() -> None:
    runs: list[str] = []
    late = Scheduler([_task("claim", runs, work_in=-3.0)])
    assert late.pause(time.monotonic()) == SHORTEST_PAUSE
    broken = Scheduler([_task("claim", runs, work_in=RuntimeError("database away"))])
    assert broken.pause(time.monotonic()) > 0.9


def test_a_round_that_overran_its_tick_is_followed_at_once() -> None:
    runs: list[str] = []
    scheduler = Scheduler([_task("claim", runs, work_in=0.5)])
    assert scheduler.pause(time.monotonic() - 2 * TICK_SECONDS) == 0.0  # a backlog: no sleep, hint or not
    assert scheduler.woken_for == set()


def test_every_task_whose_work_falls_due_by_the_wake_is_woken() -> None:
    runs: list[str] = []
    scheduler = Scheduler([_task("claim", runs, work_in=0.2), _task("drain", runs, work_in=0.22),
                           _task("later", runs, work_in=0.6), _task("plain", runs)])
    started = time.monotonic()
    scheduler.run_due(started)
    assert scheduler.pause(started) == pytest.approx(0.2)
    assert scheduler.woken_for == {"claim", "drain"}
    runs.clear()
    scheduler.run_due(started + 0.2)
    assert runs == ["claim", "drain"]


def test_a_drain_that_found_work_asks_to_run_again_soon_and_an_idle_or_failing_one_does_not() -> None:
    from workers.periodic import WhileBusy

    found = [3, 0]
    task = WhileBusy(lambda: found.pop(0), busy_seconds=0.2)
    assert task.next_work_in() is None
    assert task.run() == 3 and task.next_work_in() == 0.2
    assert task.run() == 0 and task.next_work_in() is None

    def broken() -> int:
        raise RuntimeError("database away")

    failing = WhileBusy(broken, busy_seconds=0.2)
    failing.busy = True
    with pytest.raises(RuntimeError):
        failing.run()
    assert failing.next_work_in() is None  # back to its interval, not a retry every 0.2 s
