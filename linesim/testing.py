"""Start the simulator from tests and benchmarks, and drive its ``/_sim/`` control API.

A thread is fastest to start and shares nothing but a port; a subprocess gets its own GIL
(use it for benchmarks, so the simulator never competes with the code under test).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from linesim.server import SimOptions, create_app

REPO_ROOT = Path(__file__).resolve().parents[1]


class SimulatorHandle:
    """A running simulator: ``base_url`` for the LINE client, helpers for the control API."""

    def __init__(self, base_url: str, stop: Any) -> None:
        self.base_url = base_url
        self._stop = stop

    def stop(self) -> None:
        self._stop()

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base_url}/_sim/{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def api(self, method: str, path: str, body: Any = None, *, token: str | None = "test-token",
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        """Call a LINE endpoint directly: ``(status, lower-cased headers, parsed JSON body)``."""
        raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(f"{self.base_url}{path}", data=raw, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, answer_headers, content = response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            status, answer_headers, content = exc.code, exc.headers, exc.read()
        lowered = {k.lower(): v for k, v in answer_headers.items()}
        return status, lowered, json.loads(content) if content else None

    def config(self, **settings: Any) -> dict[str, Any]:
        """See ``linesim.control.config``: latency_ms, faults, push_rate, quota_limit, channel, ..."""
        return dict(self.control("POST", "config", settings))

    def reset(self) -> None:
        self.control("POST", "reset", {})

    def stats(self) -> dict[str, Any]:
        return dict(self.control("GET", "stats"))

    def deliveries(self, to: str | None = None, **filters: str) -> list[dict[str, Any]]:
        query = {**filters, **({"to": to} if to else {})}
        path = "deliveries" + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
        return list(self.control("GET", path)["deliveries"])

    def users(self, display_names: dict[str, str] | None = None, blocked: list[str] | None = None,
              unblocked: list[str] | None = None) -> dict[str, Any]:
        body = {"display_names": display_names or {}, "blocked": blocked or [], "unblocked": unblocked or []}
        return dict(self.control("POST", "users", body))

    def reply_token(self, user_id: str) -> str:
        return str(self.control("POST", "reply_tokens", {"userId": user_id})["replyTokens"][0])

    def login(self, **settings: Any) -> dict[str, Any]:
        """See ``linesim.login.configure``: the login channel, the user who logs in, the follow webhook."""
        return dict(self.control("POST", "login", settings))

    def webhook(self, events: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
        """Send signed events to the bot (``url``, ``channel_secret``, ``redeliver``, ``duplicate``)."""
        return dict(self.control("POST", "webhook", {"events": events, **options}))


def _options(options: dict[str, Any]) -> SimOptions:
    tokens = options.pop("tokens", None)
    token = options.pop("access_token", None)
    if tokens is None:
        tokens = {"default": token or "test-token"}
    return SimOptions(tokens=dict(tokens), **options)


def start_in_thread(port: int = 0, host: str = "127.0.0.1", **options: Any) -> SimulatorHandle:
    """Serve from a daemon thread with its own event loop; ``handle.stop()`` shuts it down."""
    sim_options = _options(dict(options))
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def start() -> None:
        runner = web.AppRunner(create_app(sim_options), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        box["runner"], box["port"] = runner, runner.addresses[0][1]

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as exc:  # surfaced to the caller below
            box["error"] = exc
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(box["runner"].cleanup())
        loop.close()

    thread = threading.Thread(target=run, name="linesim", daemon=True)
    thread.start()
    if not ready.wait(30) or "error" in box:
        raise RuntimeError(f"simulator did not start: {box.get('error')!r}")

    def stop() -> None:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)

    return SimulatorHandle(f"http://{host}:{box['port']}", stop)


def _cli_args(options: dict[str, Any]) -> list[str]:
    args: list[str] = []
    tokens = options.pop("tokens", None) or {"default": options.pop("access_token", None) or "test-token"}
    for name, token in dict(tokens).items():
        args += ["--access-token", f"{name}={token}"]
    for key, value in options.items():
        if value is not None:
            args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def start_subprocess(port: int = 0, host: str = "127.0.0.1", **options: Any) -> SimulatorHandle:
    """Serve from ``python -m linesim`` (own process, own GIL); ``handle.stop()`` terminates it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "linesim", "--host", host, "--port", str(port), *_cli_args(dict(options))]
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until bound (or the process died)
    if "listening on " not in line:
        process.kill()
        raise RuntimeError(f"simulator did not start (exit {process.wait()}): {line!r}")

    def stop() -> None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    return SimulatorHandle(line.split("listening on ", 1)[1].strip(), stop)


@contextmanager
def run_simulator(port: int = 0, *, subprocess: bool = False, **options: Any) -> Iterator[SimulatorHandle]:
    """``with run_simulator(quota=100) as sim: LineClient(sim.base_url, "test-token")``."""
    handle = (start_subprocess if subprocess else start_in_thread)(port, **options)
    try:
        yield handle
    finally:
        handle.stop()
