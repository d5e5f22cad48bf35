"""What the demo keeps in ``.stepline/demo`` across runs: its admin token, ports and database,
and a ``running.json`` that stops a second demo from starting over the first one."""

from __future__ import annotations

import json
import os
import secrets
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path

from devstack.ports import free_port
from devstack.processes import ROOT

STATE_DIR = ROOT / ".stepline" / "demo"
SECRET = "demo-channel-secret"
TOKEN = "demo-channel-token"


@dataclass
class DemoState:
    """Settings chosen on the first run and reused (the dashboard URL and token stay the same)."""

    admin_token: str
    web_port: int
    sim_port: int
    database_url: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"


def _path(directory: Path) -> Path:
    return directory / "state.json"


def load_or_create(directory: Path = STATE_DIR, *, web_port: int | None = None) -> DemoState:
    """The saved state, or a new one (``ADMIN_TOKEN``/``DATABASE_URL``/``--port`` win when given)."""
    directory.mkdir(parents=True, exist_ok=True)
    saved = json.loads(_path(directory).read_text()) if _path(directory).exists() else {}
    state = DemoState(
        admin_token=os.environ.get("ADMIN_TOKEN") or saved.get("admin_token") or secrets.token_urlsafe(16),
        web_port=web_port or int(saved.get("web_port") or 8000),
        sim_port=int(saved.get("sim_port") or free_port()),
        database_url=os.environ.get("DATABASE_URL") or saved.get("database_url")
        or f"sqlite:///{directory / 'demo.db'}",
    )
    _path(directory).write_text(json.dumps(asdict(state), indent=2))
    return state


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_demo(directory: Path = STATE_DIR) -> dict[str, object] | None:
    """The demo that is running now (``pid``, ``dashboard``, ...), or None (a stale file is removed)."""
    path = directory / "running.json"
    if not path.exists():
        return None
    try:
        info = json.loads(path.read_text())
        pid = int(info["pid"])
    except (ValueError, KeyError, TypeError):
        path.unlink(missing_ok=True)
        return None
    if not pid_alive(pid):
        path.unlink(missing_ok=True)
        return None
    return dict(info)


def claim(directory: Path, info: dict[str, object]) -> None:
    """Write ``running.json`` for this process; raise SystemExit when another demo holds it."""
    other = running_demo(directory)
    if other is not None:
        raise SystemExit(
            f"stepline: a demo is already running (pid {other['pid']}): dashboard {other.get('dashboard')}\n"
            f"  Use that one, or stop it first (Ctrl-C in its terminal, or: kill {other['pid']})."
        )
    path = directory / "running.json"
    try:
        with open(path, "x") as handle:  # exclusive: two demos starting at the same instant cannot both win
            json.dump({"pid": os.getpid(), **info}, handle)
    except FileExistsError:
        claim(directory, info)


def release(directory: Path = STATE_DIR) -> None:
    """Remove ``running.json`` if it is ours."""
    path = directory / "running.json"
    info = running_demo(directory)
    if info is not None and int(str(info["pid"])) == os.getpid():
        path.unlink(missing_ok=True)


def cli_environment(state: DemoState, redis_url: str) -> dict[str, str]:
    """What ``flask --app wsgi ...`` needs to act on the running demo."""
    return {
        "DATABASE_URL": state.database_url,
        "REDIS_URL": redis_url,
        "LINE_API_BASE_URL": state.sim_url,
        "LINE_CHANNEL_SECRET": SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": TOKEN,
        "ADMIN_TOKEN": state.admin_token,
    }


def export_block(environment: dict[str, str]) -> str:
    """``export NAME=value`` lines, shell-quoted, to paste into another terminal."""
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in environment.items())


def write_env_file(directory: Path, environment: dict[str, str]) -> Path:
    """``.stepline/demo/env.sh``: ``source`` it instead of pasting the block."""
    path = directory / "env.sh"
    path.write_text("# written by ./stepline demo\n" + export_block(environment) + "\n")
    return path
