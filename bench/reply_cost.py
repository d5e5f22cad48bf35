"""Where a keyword reply's worker CPU goes, in one process (no worker beside it):

    python -m bench.reply_cost [--messages 2000] [--database postgres|sqlite]

Seeds like ``bench.replies`` (1,000 live rules, 1,000 friends × 10 enrollments) through the real
web process and a worker, stops the worker, stores ``--messages`` signed keyword messages
through the webhook, then drains them here with the worker's own job (``drain_friend_events``)
against the LINE simulator. Prints the CPU per message: all of it, and the job's own thread
alone (the rest is the reply's HTTP call on the reply threads).

Budget: at 500 messages/s on 2 cores the worker may take about one core, 2,000 µs a message;
the web tier, the database and LINE share the other. ``bench.replies`` measures the whole path.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from bench import replies as seed
from bench.common import report

FRIENDS = 1000
BUDGET_US = 2000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()

    with seed.seeded(args.database, args.redis_url, FRIENDS, workers=1, scheduler=False) as seeded:
        time.sleep(1.0)
        for worker in seeded.stack.named("worker"):
            worker.stop()  # the messages wait in the ledger for this process to drain them
        _plan, bodies = seed.keyword_messages(seeded, args.messages)
        asyncio.run(seed._paced(seeded.stack.base_url + "/callback", bodies, 1000.0))
        seed._wait(lambda: seed._count(seeded.engine, "SELECT count(*) FROM webhook_events "
                                                      "WHERE processed_at IS NULL") >= args.messages,
                   120, "every message stored")

        os.environ.update(seeded.stack.env)
        from workers import event_jobs, event_signals
        from workers.runtime import boot

        boot()
        started, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
        done = sum(event_jobs.drain_friend_events(shard, turn_s=float("inf")) for shard in range(event_signals.SHARDS))
        wall, cpu, own = time.perf_counter() - started, time.process_time() - cpu, time.thread_time() - own
        answered = int(seeded.sim.control("GET", "deliveries?endpoint=reply&limit=1")["count"])
        print(f"database={args.database} messages={done} answered={answered} in {wall:.1f} s "
              f"({done / wall:.0f} messages/s in one process)")
        report("worker CPU per message, all of it", cpu / done * 1e6, "µs", BUDGET_US, higher_is_better=False)
        print(f"  of which the job's own thread: {own / done * 1e6:,.0f} µs; the reply threads (LINE calls): "
              f"{(cpu - own) / done * 1e6:,.0f} µs")


if __name__ == "__main__":
    main()
