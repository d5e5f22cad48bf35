"""Keyword replies end to end: webhook receipt → reply API call, at a steady incoming rate.

    python -m bench.replies [--rate 500] [--seconds 20] [--friends 1000] [--workers 4]
                            [--database postgres|sqlite]

1. Starts the LINE simulator (its own process) and the real web, RQ workers and scheduler (devstack Stack).
2. Loads 1,000 live rules: 10 follow scenarios × 50 rules (their one step is years away, so
   nothing is pushed) and 10 rule sets × 50 rules, through the admin API. Every friend follows
   first and is enrolled in all 10 scenarios, so each message is matched against its scenarios'
   rules, then the rule sets' (keywords are drawn uniformly: half answer from a scenario, half
   from a rule set; the matcher walks on average half the 1,000 rules).
3. Sends ``--rate`` signed single-message webhooks per second for ``--seconds`` (each event with
   its own simulator-issued reply token), then waits for the replies.
4. From the simulator's log: latency = reply received at LINE − webhook sent (p50, p99) per
   reply token; lost = tokens never answered; twice = tokens answered more than once.
   From the ledger, where the time goes: webhook sent → stored, stored → its batch taken by a
   worker, batch → reply at LINE (p50, p99 each).

Target: p99 ≤ 300 ms, no reply lost, none twice. The machine is shared: the figure is what this
run saw, not a ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import redis
import sqlalchemy as sa

from app.line.signature import compute_signature
from app.models.events import WebhookEvent
from bench.common import drop_database, fresh_postgres_database, percentile, report
from devstack.processes import Stack
from linesim.testing import SimulatorHandle, start_subprocess

TOKEN = "bench-replies-token"
SECRET = "bench-replies-secret"
ADMIN = "bench-admin"
SCENARIOS, RULESETS, RULES_EACH = 10, 10, 50


def _scenario(i: int) -> str:
    rules = "\n".join(f"  - when: {{keyword: [s{i}r{r}], match: exact}}\n"
                      f"    do: [{{reply: [{{text: \"scenario {i} rule {r}\"}}]}}]" for r in range(RULES_EACH))
    return (f"id: bench-s{i}\nname: bench {i}\nstatus: live\npriority: {i}\n"
            "start: {trigger: follow, from: followed_at, audience: new}\n"
            "steps:\n  - id: later\n    at: {after: 3650d}\n    messages: [{text: later}]\n"
            f"rules:\n{rules}\n")


def _ruleset(i: int) -> str:
    rules = "\n".join(f"  - when: {{keyword: [t{i}r{r}], match: exact}}\n"
                      f"    do: [{{reply: [{{text: \"ruleset {i} rule {r}\"}}]}}]" for r in range(RULES_EACH))
    return f"id: bench-t{i}\nname: bench rules {i}\nstatus: live\npriority: {i}\nrules:\n{rules}\n"


def _admin(stack: Stack, method: str, path: str, body: bytes, content_type: str) -> Any:
    request = urllib.request.Request(f"{stack.base_url}/admin/api/{path}", data=body, method=method,
                                     headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def _event(kind: str, user_id: str, token: str | None, text: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": kind, "mode": "active", "timestamp": int(time.time() * 1000),
                             "source": {"type": "user", "userId": user_id},
                             "webhookEventId": f"01R{uuid.uuid4().hex[:23].upper()}",
                             "deliveryContext": {"isRedelivery": False}}
    if token:
        event["replyToken"] = token
    if kind == "follow":
        event["follow"] = {"isUnblocked": False}
    else:
        event["message"] = {"type": "text", "id": uuid.uuid4().hex[:18], "text": text}
    return event


def _signed(event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps({"destination": "Ubench", "events": [event]}).encode()
    return raw, {"Content-Type": "application/json", "X-Line-Signature": compute_signature(raw, SECRET)}


async def _paced(url: str, bodies: list[tuple[bytes, dict[str, str]]], rate: float) -> tuple[list[float], int]:
    """POST each body at its slot (start + i / rate); the wall-clock send times (ms) and failures."""
    sent_at = [0.0] * len(bodies)
    failures = 0
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()

        async def one(i: int) -> None:
            nonlocal failures
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            raw, headers = bodies[i]
            sent_at[i] = time.time() * 1000
            try:
                async with session.post(url, data=raw, headers=headers) as response:
                    await response.read()
                    failures += response.status != 200
            except aiohttp.ClientError:
                failures += 1

        await asyncio.gather(*(one(i) for i in range(len(bodies))))
    return sent_at, failures


def _wait(predicate: Any, timeout: float, what: str, *, fatal: bool = True) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            if fatal:
                raise SystemExit(f"timed out waiting for {what}")
            print(f"timed out after {timeout:.0f} s waiting for {what}: reporting what arrived")
            return False
        time.sleep(0.5)
    return True


def _count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text(sql)).scalar_one())


@dataclass
class Seeded:
    """The running stack with every friend enrolled (what both reply benches start from)."""

    stack: Stack
    sim: SimulatorHandle
    engine: sa.Engine
    users: list[str]


@contextmanager
def seeded(database: str, redis_url: str, friends: int, *, workers: int, web_workers: int = 2,
           scheduler: bool = True) -> Iterator[Seeded]:
    """Start the simulator and the stack, load the 1,000 live rules through the admin API and let
    ``friends`` friends follow (each enrolled in every scenario); stop and drop it all afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="stepline-bench-replies-"))
    url = fresh_postgres_database() if database == "postgres" else f"sqlite:///{workdir}/bench.db"
    sim: SimulatorHandle = start_subprocess(access_token=TOKEN)
    stack = Stack.configure(workdir, database_url=url, redis_url=redis_url, line_api_base_url=sim.base_url,
                            channel_secret=SECRET, access_token=TOKEN, admin_token=ADMIN)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        redis.Redis.from_url(redis_url).flushdb()
        stack.release()
        stack.start_web(workers=web_workers, threads=8)
        for _ in range(workers):
            stack.start_worker()
        if scheduler:
            stack.start_scheduler()  # as deployed (Procfile): its event sweep re-signals friends a lost job left
        files = [{"name": f"bench-s{i}.yaml", "text": _scenario(i)} for i in range(SCENARIOS)]
        _admin(stack, "POST", "scenarios", json.dumps({"files": files}).encode(), "application/json")
        for i in range(RULESETS):
            _admin(stack, "PUT", f"rulesets/bench-t{i}", _ruleset(i).encode(), "application/yaml")
        users = [f"U{i:032x}" for i in range(friends)]
        follows = [_signed(_event("follow", user, None)) for user in users]
        asyncio.run(_paced(stack.base_url + "/callback", follows, 400.0))
        _wait(lambda: _count(engine, "SELECT count(*) FROM enrollments") >= friends * SCENARIOS, 600,
              "every friend enrolled")
        print(f"seeded: {SCENARIOS * RULES_EACH + RULESETS * RULES_EACH} live rules, {friends} friends "
              f"× {SCENARIOS} enrollments")
        yield Seeded(stack, sim, engine, users)
    finally:
        stack.stop()
        sim.stop()
        engine.dispose()
        if database == "postgres":
            drop_database(url)


def keyword_messages(seed: Seeded, total: int) -> tuple[list[tuple[str, str]], list[tuple[bytes, dict[str, str]]]]:
    """``total`` signed keyword messages spread over the friends, each with its own simulator-issued
    reply token (keywords drawn uniformly from every rule): the (user, token) plan and the bodies."""
    rng = random.Random(7)
    keywords = [f"s{i}r{r}" for i in range(SCENARIOS) for r in range(RULES_EACH)] + \
               [f"t{i}r{r}" for i in range(RULESETS) for r in range(RULES_EACH)]
    users = seed.users
    per_user = -(-total // len(users))
    tokens: dict[str, list[str]] = {u: seed.sim.control("POST", "reply_tokens", {"userId": u, "count": per_user})
                                    ["replyTokens"] for u in users}
    plan = [(users[i % len(users)], tokens[users[i % len(users)]][i // len(users)]) for i in range(total)]
    return plan, [_signed(_event("message", user, token, rng.choice(keywords))) for user, token in plan]


def _print_stages(engine: sa.Engine, sent_at: list[float], plan: list[tuple[str, str]],
                  received: dict[str, float]) -> None:
    """Where the latency goes, from the ledger's times: webhook sent → stored (the web tier), stored →
    its batch taken by a worker (``processed_at`` is the batch's clock), taken → reply at LINE."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(WebhookEvent.payload, WebhookEvent.received_at, WebhookEvent.processed_at)
                                  .where(WebhookEvent.type == "message")).all()
    times = {(row.payload or {}).get("replyToken"): (row.received_at, row.processed_at) for row in rows}
    stages: dict[str, list[float]] = {"web (sent → stored)": [], "queue (stored → batch)": [],
                                      "batch → reply at LINE": []}
    for i, (_user, token) in enumerate(plan):
        if token not in times or token not in received or times[token][1] is None:
            continue
        stored, taken = (moment.timestamp() * 1000 for moment in times[token])
        for name, ms in zip(stages, (stored - sent_at[i], taken - stored, received[token] - taken), strict=True):
            stages[name].append(ms)
    for name, values in stages.items():
        if values:
            print(f"  {name}: p50 {percentile(values, 50):.1f} ms, p99 {percentile(values, 99):.1f} ms")
    batches = Counter(processed for _received, processed in times.values() if processed is not None)
    if batches:  # the events of one write transaction share its clock
        sizes = sorted(batches.values())
        print(f"  messages per write transaction: p50 {percentile(sizes, 50):.0f}, p99 {percentile(sizes, 99):.0f} "
              f"({len(sizes)} transactions)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500.0, help="incoming messages per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--friends", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4, help="RQ worker processes")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--drain-timeout", type=float, default=180.0, help="seconds to wait for the last replies")
    args = parser.parse_args()

    with seeded(args.database, args.redis_url, args.friends, workers=args.workers,
                web_workers=args.web_workers) as seed:
        sim = seed.sim
        total = int(args.rate * args.seconds)
        plan, bodies = keyword_messages(seed, total)

        def reply_count() -> int:
            return int(sim.control("GET", "deliveries?endpoint=reply&limit=1")["count"])

        sim_replies_before = reply_count()
        sent_at, failures = asyncio.run(_paced(seed.stack.base_url + "/callback", bodies, args.rate))
        _wait(lambda: reply_count() - sim_replies_before >= total, args.drain_timeout, "every reply", fatal=False)
        time.sleep(2.0)  # a duplicate would arrive after the last reply
        replies = [d for d in sim.deliveries(endpoint="reply") if d.get("reply_token")]
        answered = Counter(d["reply_token"] for d in replies)
        received = {d["reply_token"]: d["received_at"] for d in replies}
        latencies = [(received[token] - sent_at[i]) / 1000 for i, (_user, token) in enumerate(plan)
                     if token in received]
        lost = sum(1 for _user, token in plan if token not in answered)
        twice = sum(1 for n in answered.values() if n > 1)
        print(f"database={args.database} workers={args.workers} messages={total} at {args.rate:.0f}/s "
              f"webhook failures={failures}")
        if latencies:
            print(f"latency p50: {percentile(latencies, 50) * 1000:.1f} ms")
            report("webhook → reply latency p99", percentile(latencies, 99) * 1000, "ms", 300, higher_is_better=False)
        _print_stages(seed.engine, sent_at, plan, received)
        rejected = sim.stats()["endpoints"].get("reply", {}).get("invalid_token", 0)
        print(f"replies lost: {lost} (target 0; {rejected} refused by LINE as expired tokens) · "
              f"answered twice: {twice} (target 0)")


if __name__ == "__main__":
    main()
