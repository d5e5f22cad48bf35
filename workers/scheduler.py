"""The scheduler process: runs ``workers.schedule.SCHEDULE`` forever, ~1 s per tick."""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

from app import heartbeat
from workers.runtime import boot
from workers.schedule import SCHEDULE, PeriodicTask

log = logging.getLogger("stepline.scheduler")
TICK_SECONDS = 1.0


class Scheduler:
    """Calls each task when its interval has passed; a failing task is logged, never fatal."""

    def __init__(self, tasks: list[PeriodicTask]) -> None:
        self.tasks = tasks
        self.last_run: dict[str, float] = {}
        self.running = True

    def run_due(self, monotonic_now: float) -> None:
        for task in self.tasks:
            if monotonic_now - self.last_run.get(task.name, float("-inf")) < task.every_seconds:
                continue
            self.last_run[task.name] = monotonic_now
            try:
                task.run()
            except Exception:  # noqa: BLE001 - keep ticking; the next run retries
                log.exception("scheduled task %s failed", task.name)
        _heartbeat()

    def forever(self) -> None:
        while self.running:
            started = time.monotonic()
            self.run_due(started)
            time.sleep(max(0.0, TICK_SECONDS - (time.monotonic() - started)))

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
