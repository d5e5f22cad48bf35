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
import json
import os
import random
import tempfile
import time
from pathlib import Path

import redis
import sqlalchemy as sa

from bench import replies as seed
from bench.common import drop_database, fresh_postgres_database, report
from devstack.processes import Stack
from linesim.testing import start_subprocess

FRIENDS = 1000
BUDGET_US = 2000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="stepline-bench-reply-cost-"))
    url = fresh_postgres_database() if args.database == "postgres" else f"sqlite:///{workdir}/bench.db"
    sim = start_subprocess(access_token=seed.TOKEN)
    stack = Stack.configure(workdir, database_url=url, redis_url=args.redis_url, line_api_base_url=sim.base_url,
                            channel_secret=seed.SECRET, access_token=seed.TOKEN, admin_token=seed.ADMIN)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        redis.Redis.from_url(args.redis_url).flushdb()
        stack.release()
        stack.start_web(workers=2, threads=8)
        worker = stack.start_worker()
        files = [{"name": f"bench-s{i}.yaml", "text": seed._scenario(i)} for i in range(seed.SCENARIOS)]
        seed._admin(stack, "POST", "scenarios", json.dumps({"files": files}).encode(), "application/json")
        for i in range(seed.RULESETS):
            seed._admin(stack, "PUT", f"rulesets/bench-t{i}", seed._ruleset(i).encode(), "application/yaml")
        users = [f"U{i:032x}" for i in range(FRIENDS)]
        follows = [seed._signed(seed._event("follow", user, None)) for user in users]
        asyncio.run(seed._paced(stack.base_url + "/callback", follows, 400.0))
        seed._wait(lambda: seed._count(engine, "SELECT count(*) FROM enrollments") >= FRIENDS * seed.SCENARIOS,
                   600, "every friend enrolled")
        time.sleep(1.0)
        worker.stop()  # the messages wait in the ledger for this process to drain them

        rng = random.Random(7)
        keywords = [f"s{i}r{r}" for i in range(seed.SCENARIOS) for r in range(seed.RULES_EACH)] + \
                   [f"t{i}r{r}" for i in range(seed.RULESETS) for r in range(seed.RULES_EACH)]
        per_user = -(-args.messages // FRIENDS)
        tokens = {u: sim.control("POST", "reply_tokens", {"userId": u, "count": per_user})["replyTokens"]
                  for u in users}
        plan = [(users[i % FRIENDS], tokens[users[i % FRIENDS]][i // FRIENDS]) for i in range(args.messages)]
        bodies = [seed._signed(seed._event("message", user, token, rng.choice(keywords))) for user, token in plan]
        asyncio.run(seed._paced(stack.base_url + "/callback", bodies, 1000.0))
        seed._wait(lambda: seed._count(engine, "SELECT count(*) FROM webhook_events WHERE processed_at IS NULL")
                   >= args.messages, 120, "every message stored")

        os.environ.update(stack.env)
        from workers import event_jobs, event_signals
        from workers.runtime import boot

        boot()
        started, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
        done = sum(event_jobs.drain_friend_events(shard) for shard in range(event_signals.SHARDS))
        wall, cpu, own = time.perf_counter() - started, time.process_time() - cpu, time.thread_time() - own
        answered = int(sim.control("GET", "deliveries?endpoint=reply&limit=1")["count"])
        print(f"database={args.database} messages={done} answered={answered} in {wall:.1f} s "
              f"({done / wall:.0f} messages/s in one process)")
        report("worker CPU per message, all of it", cpu / done * 1e6, "µs", BUDGET_US, higher_is_better=False)
        print(f"  of which the job's own thread: {own / done * 1e6:,.0f} µs; the reply threads (LINE calls): "
              f"{(cpu - own) / done * 1e6:,.0f} µs")
    finally:
        stack.stop()
        sim.stop()
        engine.dispose()
        if args.database == "postgres":
            drop_database(url)


if __name__ == "__main__":
    main()
