"""Start, kill and restart Stepline's processes (as the Procfile declares them) on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from devstack.ports import free_port, wait_for_http, wait_for_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Process:
    """One child process with its log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it until it exits
        self.popen = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        log.close()
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive and self.popen is not None:
            os.killpg(self.popen.pid, signum)

    def kill(self) -> None:
        """SIGKILL, as a crash would: no cleanup runs."""
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        if not self.alive or self.popen is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


class RedisServer:
    """A private redis-server (for tests that stop and restart Redis)."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.workdir)]
        self.process = Process("redis", argv, dict(os.environ), self.workdir / f"redis-{self.port}.log").start()
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.process:
            self.process.kill()


@dataclass
class Stack:
    """Web, workers, scheduler (and optionally the simulator) wired with SPEC §6's variables."""

    workdir: Path
    env: dict[str, str]
    processes: list[Process] = field(default_factory=list)
    web_port: int = 0

    @classmethod
    def configure(cls, workdir: Path, *, database_url: str, redis_url: str, line_api_base_url: str,
                  channel_secret: str, access_token: str, admin_token: str = "admin-token",
                  admin_password: str = "admin-password", extra: dict[str, str] | None = None) -> Stack:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_CHANNEL_", "STEPLINE_TEST"))}
        env.update({
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "LINE_API_BASE_URL": line_api_base_url,
            "LINE_CHANNEL_SECRET": channel_secret,
            "LINE_CHANNEL_ACCESS_TOKEN": access_token,
            "ADMIN_TOKEN": admin_token,
            "ADMIN_PASSWORD": admin_password,
            "PYTHONUNBUFFERED": "1",
            **(extra or {}),
        })
        workdir.mkdir(parents=True, exist_ok=True)
        return cls(workdir=workdir, env=env)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def _spawn(self, name: str, argv: list[str]) -> Process:
        index = sum(1 for p in self.processes if p.name == name)
        process = Process(name, argv, dict(self.env), self.workdir / f"{name}-{index}.log").start()
        self.processes.append(process)
        return process

    def release(self) -> None:
        """The Procfile ``release`` step (migrations), run to completion."""
        subprocess.run([sys.executable, "-m", "app.release"], cwd=ROOT, env=self.env, check=True)

    def start_web(self, workers: int = 2, threads: int = 4) -> Process:
        self.web_port = self.web_port or free_port()
        argv = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", str(threads),
                "--bind", f"127.0.0.1:{self.web_port}", "--timeout", "30", "wsgi:app"]
        process = self._spawn("web", argv)
        wait_for_http(self.base_url + "/healthz")
        return process

    def start_worker(self) -> Process:
        return self._spawn("worker", [sys.executable, "-m", "workers.worker"])

    def start_scheduler(self) -> Process:
        return self._spawn("scheduler", [sys.executable, "-m", "workers.scheduler"])

    def named(self, name: str) -> list[Process]:
        return [p for p in self.processes if p.name == name and p.alive]

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.log_path.name}\n{p.tail()}" for p in self.processes)
