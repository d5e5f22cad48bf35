"""The scheduler process: runs ``workers.periodic.SCHEDULE`` forever, ~1 s per tick."""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

from app import heartbeat
from workers.periodic import SCHEDULE, PeriodicTask
from workers.runtime import boot

log = logging.getLogger("stepline.scheduler")
TICK_SECONDS = 1.0
# never sooner, whatever a task says: under a steady stream of due steps this is the claim's rhythm
# (at 5 ms, claims of a few rows each made hundreds of tiny send jobs a second and lateness grew)
SHORTEST_PAUSE = 0.1


class Scheduler:
    """Calls each task when its interval has passed, or sooner when it said its next work falls
    due before the next tick (a step due at 12:00:00.2 goes out then, not up to a second later);
    a failing task is logged, never fatal."""

    def __init__(self, tasks: list[PeriodicTask]) -> None:
        self.tasks = tasks
        self.last_run: dict[str, float] = {}
        self.woken_for: set[str] = set()
        self.running = True

    def run_due(self, monotonic_now: float) -> None:
        for task in self.tasks:
            early = task.name in self.woken_for
            if not early and monotonic_now - self.last_run.get(task.name, float("-inf")) < task.every_seconds:
                continue
            self.last_run[task.name] = monotonic_now
            try:
                task.run()
            except Exception:  # noqa: BLE001 - keep ticking; the next run retries
                log.exception("scheduled task %s failed", task.name)
        self.woken_for.clear()
        _heartbeat()

    def pause(self, started: float) -> float:
        """Seconds to sleep: until the next tick (none after a round that overran it), or until
        the soonest work a task knows of, but not less than ``SHORTEST_PAUSE`` for that. Every
        task whose work falls due by then is woken (a click drain and a step claim both asking
        for 0.2 s both run at 0.2 s)."""
        pause = max(0.0, TICK_SECONDS - (time.monotonic() - started))
        hints: dict[str, float] = {}
        for task in self.tasks:
            if task.next_work_in is None:
                continue
            try:
                work_in = task.next_work_in()
            except Exception as exc:  # noqa: BLE001 - no hint: the task runs at its next tick as before
                log.warning("scheduled task %s could not say when its work is due: %s", task.name, exc)
                continue
            if work_in is not None and max(SHORTEST_PAUSE, work_in) < pause:
                hints[task.name] = max(SHORTEST_PAUSE, work_in)
        if hints:
            pause = min(hints.values())
            self.woken_for = {name for name, work_in in hints.items() if work_in <= pause + SHORTEST_PAUSE / 2}
        return pause

    def forever(self) -> None:
        while self.running:
            started = time.monotonic()
            self.run_due(started)
            time.sleep(self.pause(started))

    def stop(self, _signum: int, _frame: FrameType | None) -> None:
        self.running = False


def _heartbeat() -> None:
    try:
        heartbeat.beat()
    except Exception:  # noqa: BLE001 - Redis down must not stop the schedule
        log.warning("scheduler heartbeat not written: Redis unavailable")


def main() -> None:
    boot()
    scheduler = Scheduler(SCHEDULE)
    signal.signal(signal.SIGTERM, scheduler.stop)
    signal.signal(signal.SIGINT, scheduler.stop)
    log.info("scheduler started with tasks: %s", ", ".join(task.name for task in SCHEDULE))
    scheduler.forever()


if __name__ == "__main__":
    main()
