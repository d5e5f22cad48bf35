"""``python -m linesim --host 127.0.0.1 --port 8090 [--latency-ms N] [--quota N] ...``"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from aiohttp import web

from app.line import limits
from linesim.server import SimOptions, create_app


def parse_tokens(values: list[str] | None) -> dict[str, str]:
    """``--access-token TOKEN`` or ``--access-token NAME=TOKEN`` (repeatable); the first bare one is "default"."""
    tokens: dict[str, str] = {}
    for value in values or ["test-token"]:
        name, sep, token = value.partition("=")
        if not sep:
            name, token = ("default" if "default" not in tokens else value), value
        tokens[name] = token
    return tokens


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, SimOptions]:
    parser = argparse.ArgumentParser(prog="python -m linesim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--quota", type=int, default=None, help="monthly limit per channel (default: none)")
    parser.add_argument("--access-token", action="append", help="valid token, or NAME=TOKEN; repeatable")
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--channel-secret", default=None)
    parser.add_argument("--push-rate", type=float, default=limits.PUSH_RATE)
    parser.add_argument("--multicast-rate", type=float, default=limits.MULTICAST_RATE)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    options = SimOptions(tokens=parse_tokens(args.access_token), quota=args.quota, latency_ms=args.latency_ms,
                         webhook_url=args.webhook_url, channel_secret=args.channel_secret,
                         push_rate=args.push_rate, multicast_rate=args.multicast_rate, seed=args.seed)
    return args, options


async def serve(host: str, port: int, options: SimOptions) -> None:
    """Run until SIGINT/SIGTERM; prints ``linesim listening on http://host:port`` once bound."""
    runner = web.AppRunner(create_app(options), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"linesim listening on http://{host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args, options = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(serve(args.host, args.port, options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
