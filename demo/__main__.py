"""``./stepline demo``: simulator + web + worker + scheduler + example scenarios + demo friends.

Everything runs on loopback with SQLite (``DATABASE_URL`` to change) and the Redis the
``stepline`` script found. The demo quota is small so the hold-and-resume path shows up.
The admin token, ports and database stay in ``.stepline/demo`` across runs (``--fresh`` starts
over); a second demo refuses to start while one runs. ``./stepline friend ...`` acts as a friend.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from demo import state as demo_state
from demo.friends import DemoFriends
from demo.staff import create_demo_staff, logins_text
from devstack.processes import ROOT, Stack
from linesim.testing import SimulatorHandle, start_subprocess

SECRET = demo_state.SECRET
TOKEN = demo_state.TOKEN


def _demo_route(stack: Stack, sim: SimulatorHandle, admin_token: str) -> str:
    """A friend-add route (SPEC §10) whose LINE Login is the simulator's: the demo user it signs in
    adds the bot (a signed follow webhook) and gets the route's tag."""
    sim.login(webhook_url=f"{stack.base_url}/callback", webhook_secret=SECRET, user_id="U" + "d" * 32,
              display_name="QRから来た友だち")
    body = {"name": "デモのチラシ", "actions": [{"tag": "from-flyer"}]}
    request = urllib.request.Request(
        f"{stack.base_url}/admin/api/routes/demo-flyer", data=json.dumps(body).encode(), method="PUT",
        headers={"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["url"])


def _upload_scenarios(stack: Stack, admin_token: str) -> None:
    """One atomic upload of every example (they reference each other), as an admin would."""
    files = [{"name": f"scenarios/{path.name}", "text": path.read_text(encoding="utf-8")}
             for path in sorted((ROOT / "scenarios").glob("*.yaml"))]
    request = urllib.request.Request(
        f"{stack.base_url}/admin/api/scenarios", data=json.dumps({"files": files}).encode(), method="POST",
        headers={"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            for item in json.loads(response.read())["scenarios"]:
                print(f"  {item['scenario']['id']}: {item['action']} (v{item['version']})")
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"the example scenarios were rejected: {exc.read().decode()}") from exc


def _upload_rulesets(stack: Stack, admin_token: str) -> None:
    """The account-wide auto-replies under ``rules/`` (配信再開, メニュー, 担当者 → handoff)."""
    for path in sorted((ROOT / "rules").glob("*.yaml")):
        request = urllib.request.Request(
            f"{stack.base_url}/admin/api/rulesets/{path.stem}", data=path.read_bytes(), method="PUT",
            headers={"Authorization": f"Bearer {admin_token}", "Content-Type": "application/yaml"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                item = json.loads(response.read())
                print(f"  rule set {item['ruleset']['id']}: {item['action']} (v{item['version']})")
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"the example rule sets were rejected: {exc.read().decode()}") from exc


def _upgrade_plan(sim: SimulatorHandle, stack: Stack, admin_token: str, limit: int) -> None:
    """The account owner upgrades the plan mid-month: held deliveries resume on their own."""
    sim.config(quota_limit=limit)
    request = urllib.request.Request(f"{stack.base_url}/admin/api/quota/sync", data=b"", method="POST",
                                     headers={"Authorization": f"Bearer {admin_token}"})
    with urllib.request.urlopen(request, timeout=30):
        pass
    print(f"==> the LINE plan was upgraded to {limit} messages: held deliveries resume now")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./stepline demo", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ["PORT"]) if os.environ.get("PORT") else None,
                        help="the dashboard's port (default: the last run's, else 8000)")
    parser.add_argument("--fresh", action="store_true", help="start over: forget the demo's database and token")
    parser.add_argument("--quota", type=int, default=40, help="the demo channel's monthly message limit")
    parser.add_argument("--minutes", type=float, default=4.0, help="how long the demo friends stay active")
    args = parser.parse_args(argv)

    state = demo_state.STATE_DIR
    saved = _prepare_state(state, args)
    database_url, admin_token = saved.database_url, saved.admin_token
    admin_password = os.environ.get("ADMIN_PASSWORD") or "stepline-demo"
    redis_url = os.environ["REDIS_URL"]
    demo_state.claim(state, {"dashboard": f"{saved.base_url}/admin", "simulator": saved.sim_url})

    print("==> starting the LINE platform simulator")
    try:
        sim = start_subprocess(saved.sim_port, access_token=TOKEN, quota=args.quota,
                               webhook_url=f"{saved.base_url}/callback", channel_secret=SECRET)
    except BaseException:
        demo_state.release(state)
        raise
    measurement = {  # tracked links and friend-add routes, LINE Login served by the simulator
        "PUBLIC_URL": saved.base_url, "LINK_SIGNING_KEY": secrets.token_urlsafe(32),
        "LINE_LOGIN_CHANNEL_ID": "1650000000", "LINE_LOGIN_CHANNEL_SECRET": "test-login-secret",
        "LINE_LOGIN_AUTHORIZE_URL": f"{sim.base_url}/oauth2/v2.1/authorize",
        "LINE_ADD_FRIEND_URL": f"{saved.base_url}/admin/friends",
    }
    stack = Stack.configure(state, database_url=database_url, redis_url=redis_url,
                            line_api_base_url=sim.base_url, channel_secret=SECRET, access_token=TOKEN,
                            admin_token=admin_token, admin_password=admin_password, extra=measurement)
    stack.web_port = saved.web_port
    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        print("==> migrating the database")
        stack.release()
        staff = create_demo_staff(stack)
        print("==> starting web, worker and scheduler")
        stack.start_web()
        stack.start_worker()
        stack.start_worker()
        stack.start_scheduler()
        cli_env = demo_state.cli_environment(saved, redis_url)
        demo_state.write_env_file(state, cli_env)
        print("==> loading scenarios/*.yaml through the admin API")
        _upload_scenarios(stack, admin_token)
        route_url = _demo_route(stack, sim, admin_token)
        _upload_rulesets(stack, admin_token)
        print(f"""
  Dashboard:   {stack.base_url}/admin      (login admin / {admin_password}, or staff:)
{logins_text(staff)}
  Admin API:   {stack.base_url}/admin/api/scenarios   (Authorization: Bearer {admin_token})
  Metrics:     {stack.base_url}/metrics
  Route (QR):  {route_url}  (open it: the simulator's LINE Login adds a demo friend tagged from-flyer)
  Simulator:   {sim.base_url}/_sim/deliveries   (what LINE received)
  Logs:        {state}/*.log   (times in UTC)
  Demo quota:  {args.quota} messages this month — watch deliveries get held when it runs out.
  Database:    {database_url}   (kept across runs; ./stepline demo --fresh starts over)
  Redis:       {redis_url}

  Be a friend:  ./stepline friend follow たろう · ./stepline friend say たろう メニュー
                ./stepline friend postback たろう demo=like · ./stepline friend block たろう
  The CLI on this demo, from another terminal (or: source {state}/env.sh):
{_indent(demo_state.export_block(cli_env))}
    .venv/bin/flask --app wsgi scenarios test-send welcome --to {DemoFriends.first_user_id()}
  Press Ctrl-C to stop.
""")
        friends = DemoFriends(sim, stack.base_url, SECRET, admin_token)
        started = time.monotonic()
        deadline = started + args.minutes * 60
        upgraded = False
        while not stopping and time.monotonic() < deadline:
            if not upgraded and time.monotonic() - started > 0.6 * args.minutes * 60:
                upgraded = True
                _upgrade_plan(sim, stack, admin_token, args.quota * 5)
            pause_until = time.monotonic() + friends.step()
            while not stopping and time.monotonic() < pause_until:
                time.sleep(0.2)
        if not stopping:
            print("==> demo friends are done; the servers keep running (Ctrl-C to stop)")
        while not stopping:
            time.sleep(0.5)
    finally:
        print("==> stopping")
        stack.stop()
        sim.stop()
        demo_state.release(state)
    return 0


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _prepare_state(directory: Path, args: argparse.Namespace) -> demo_state.DemoState:
    """Refuse early when a demo runs; ``--fresh`` forgets the saved database and token first."""
    running = demo_state.running_demo(directory)
    if running is not None:
        demo_state.claim(directory, {})  # exits with the running demo's URL
    if args.fresh:
        for name in ("state.json", "demo.db", "demo.db-wal", "demo.db-shm"):
            (directory / name).unlink(missing_ok=True)
    return demo_state.load_or_create(directory, web_port=args.port)


if __name__ == "__main__":
    sys.exit(main())
