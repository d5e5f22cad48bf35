"""A lean HTTP/1.1 GET load generator for benchmarks on the server's own machine.

One thread, non-blocking keep-alive sockets and a selector, requests prebuilt as bytes: a few
tens of µs of CPU per request, where aiohttp spent several hundred that the server under test
then lacked (the client shares its cores). Open loop: request ``i`` is due at ``start + i / rate``
and goes out on the first idle connection; its latency counts from when it was due, so a server
that falls behind shows it (``rate`` 0: closed loop, as fast as the connections allow).
"""

from __future__ import annotations

import selectors
import socket
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)  # seconds, in completion order
    unexpected: int = 0  # answers whose status or Location differ from what was expected
    reconnects: int = 0  # connections the server closed between requests (reopened)
    elapsed: float = 0.0  # first due time → last answer

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


class _Conn:
    __slots__ = ("sock", "buf", "index", "due")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.index = -1
        self.due = 0.0


def _open(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    return sock


def _complete(buf: bytes) -> tuple[bytes, int] | None:
    """(head, total length) once a whole answer is in ``buf``, else None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end]
    length = 0
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        stop = lower.find(b"\r\n", at + 2)
        length = int(lower[at + 17:stop if stop >= 0 else len(lower)])
    total = end + 4 + length
    return (head, total) if len(buf) >= total else None


def run(host: str, port: int, paths: Sequence[str], *, rate: float, concurrency: int,
        status: int = 302, location: str | None = None, user_agent: str = "Mozilla/5.0 (bench)",
        timeout: float = 120.0) -> LoadResult:
    """GET every path once over ``concurrency`` keep-alive connections; the answers must have
    ``status`` (and ``Location: location`` when given)."""
    requests = [(f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: {user_agent}\r\n\r\n").encode("ascii")
                for p in paths]
    expect_status = f" {status} ".encode()
    expect_location = f"\r\nlocation: {location}".encode().lower() if location else None
    result = LoadResult()
    selector = selectors.DefaultSelector()
    idle: deque[_Conn] = deque()
    for _ in range(concurrency):
        conn = _Conn(_open(host, port))
        selector.register(conn.sock, selectors.EVENT_READ, conn)
        idle.append(conn)
    clock = time.perf_counter
    start = clock() + 0.05
    interval = 1.0 / rate if rate else 0.0
    deadline = start + timeout
    issued = done = 0
    total = len(requests)
    last = start

    def send(conn: _Conn, index: int, due: float) -> None:
        conn.index, conn.due, conn.buf = index, due if interval else clock(), b""
        conn.sock.send(requests[index])  # a few dozen bytes: fits an empty socket buffer

    while done < total:
        now = clock()
        if now > deadline:
            raise TimeoutError(f"{total - done} of {total} requests unanswered after {timeout:.0f}s")
        while idle and issued < total:
            due = start + issued * interval
            if due > now:
                break
            send(idle.popleft(), issued, due)
            issued += 1
        wait = 0.001
        if issued < total and idle:
            wait = max(0.0, min(wait, start + issued * interval - clock()))
        for key, _ in selector.select(wait):
            conn = key.data
            try:
                data = conn.sock.recv(65536)
            except BlockingIOError:
                continue
            if not data:  # closed by the server: reopen; a request in flight with no answer yet goes again
                selector.unregister(conn.sock)
                conn.sock.close()
                conn.sock = _open(host, port)
                selector.register(conn.sock, selectors.EVENT_READ, conn)
                result.reconnects += 1
                if conn.index >= 0:
                    send(conn, conn.index, conn.due)
                else:
                    idle.append(conn)
                continue
            conn.buf += data
            answer = _complete(conn.buf)
            if answer is None:
                continue
            head, _length = answer
            last = clock()
            result.latencies.append(last - conn.due)
            first_line = head[:head.find(b"\r\n")] if b"\r\n" in head else head
            if expect_status not in first_line + b" " or (
                    expect_location is not None and expect_location + b"\r\n" not in head.lower() + b"\r\n"):
                result.unexpected += 1
            conn.index, conn.buf = -1, b""
            done += 1
            if b"connection: close" in head.lower():
                selector.unregister(conn.sock)
                conn.sock.close()
                conn.sock = _open(host, port)
                selector.register(conn.sock, selectors.EVENT_READ, conn)
                result.reconnects += 1
            idle.append(conn)
    result.elapsed = last - start
    for key in list(selector.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    selector.close()
    return result
