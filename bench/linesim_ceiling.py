"""How many pushes per second the LINE simulator sinks (it must never bottleneck the 2,000/s
delivery benchmark). Starts ``python -m linesim`` in its own process, then hammers
``POST /v2/bot/message/push`` from client processes over keep-alive connections, each push a
validated text message with its own retry key. Prints figure, target and ratio.

    python bench/linesim_ceiling.py [--seconds 5] [--procs 2] [--concurrency 32] [--client aiohttp|sdk]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linesim.testing import start_subprocess  # noqa: E402

TARGET = 3000.0
TOKEN = "bench-token"


async def _aiohttp_worker(base_url: str, seconds: float, concurrency: int) -> tuple[int, int]:
    import aiohttp

    ok = failed = 0
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def loop(worker: int) -> None:
            nonlocal ok, failed
            n = 0
            while time.monotonic() < deadline:
                n += 1
                body = f'{{"to":"U{worker:04d}{n:027d}","messages":[{{"type":"text","text":"step {n} for you"}}]}}'
                async with session.post(f"{base_url}/v2/bot/message/push", data=body,
                                        headers={**headers, "X-Line-Retry-Key": str(uuid.uuid4())}) as response:
                    await response.read()
                    if response.status == 200:
                        ok += 1
                    else:
                        failed += 1

        await asyncio.gather(*(loop(i) for i in range(concurrency)))
    return ok, failed


def _sdk_worker(base_url: str, seconds: float, concurrency: int) -> tuple[int, int]:
    from concurrent.futures import ThreadPoolExecutor

    from app.line.client import LineClient

    client = LineClient(base_url, TOKEN, pool_size=concurrency)
    deadline = time.monotonic() + seconds

    def loop(worker: int) -> tuple[int, int]:
        ok = failed = n = 0
        while time.monotonic() < deadline:
            n += 1
            result = client.push(f"U{worker:04d}{n:027d}", [{"type": "text", "text": f"step {n}"}], str(uuid.uuid4()))
            ok, failed = (ok + 1, failed) if result.status == 200 else (ok, failed + 1)
        return ok, failed

    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(loop, range(concurrency)))
    return sum(r[0] for r in results), sum(r[1] for r in results)


def _run(client: str, base_url: str, seconds: float, concurrency: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    if client == "sdk":
        out.put(_sdk_worker(base_url, seconds, concurrency))
    else:
        out.put(asyncio.run(_aiohttp_worker(base_url, seconds, concurrency)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--procs", type=int, default=1, help="client processes (2 cores: 1 leaves one for the sim)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections per client process")
    parser.add_argument("--client", choices=("aiohttp", "sdk"), default="aiohttp")
    args = parser.parse_args()

    # Rates far above LINE's so the bench measures the simulator, not its limiter.
    sim = start_subprocess(tokens={"default": TOKEN}, push_rate=10**9)
    try:
        out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        procs = [mp.Process(target=_run, args=(args.client, sim.base_url, args.seconds, args.concurrency, out))
                 for _ in range(args.procs)]
        started = time.monotonic()
        for proc in procs:
            proc.start()
        results = [out.get() for _ in procs]
        elapsed = time.monotonic() - started
        for proc in procs:
            proc.join()
        stats = sim.stats()
    finally:
        sim.stop()
    ok, failed = sum(r[0] for r in results), sum(r[1] for r in results)
    rate = ok / elapsed
    print(f"linesim push ceiling: {rate:,.0f} req/s ({ok} accepted, {failed} other, {elapsed:.1f}s, "
          f"{args.procs}x{args.concurrency} {args.client} clients)")
    print(f"simulator recorded {stats['deliveries']} deliveries")
    print(f"target > {TARGET:,.0f} req/s: ratio {rate / TARGET:.2f} -> {'OK' if rate >= TARGET else 'BELOW TARGET'}")
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
