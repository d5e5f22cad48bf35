"""``./stepline demo``: simulator + web + worker + scheduler + example scenarios + demo friends.

Everything runs on loopback with SQLite (``DATABASE_URL`` to change) and the Redis the
``stepline`` script found. The demo quota is small so the hold-and-resume path shows up.
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

from demo.friends import DemoFriends
from devstack.processes import ROOT, Stack
from linesim.testing import SimulatorHandle, start_subprocess

SECRET = "demo-channel-secret"
TOKEN = "demo-channel-token"


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
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--quota", type=int, default=40, help="the demo channel's monthly message limit")
    parser.add_argument("--minutes", type=float, default=4.0, help="how long the demo friends stay active")
    args = parser.parse_args(argv)

    state = ROOT / ".stepline" / "demo"
    state.mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{state / 'demo.db'}"
    if database_url.startswith("sqlite:///") and not os.environ.get("DATABASE_URL"):
        Path(database_url.removeprefix("sqlite:///")).unlink(missing_ok=True)  # a fresh demo each run
    admin_token = os.environ.get("ADMIN_TOKEN") or secrets.token_urlsafe(16)
    admin_password = os.environ.get("ADMIN_PASSWORD") or "stepline-demo"

    print("==> starting the LINE platform simulator")
    sim = start_subprocess(access_token=TOKEN, quota=args.quota)
    stack = Stack.configure(state, database_url=database_url, redis_url=os.environ["REDIS_URL"],
                            line_api_base_url=sim.base_url, channel_secret=SECRET, access_token=TOKEN,
                            admin_token=admin_token, admin_password=admin_password)
    stack.web_port = args.port
    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        print("==> migrating the database")
        stack.release()
        print("==> starting web, worker and scheduler")
        stack.start_web()
        stack.start_worker()
        stack.start_worker()
        stack.start_scheduler()
        print("==> loading scenarios/*.yaml through the admin API")
        _upload_scenarios(stack, admin_token)
        _upload_rulesets(stack, admin_token)
        print(f"""
  Dashboard:   {stack.base_url}/admin      (password: {admin_password})
  Admin API:   {stack.base_url}/admin/api/scenarios   (Authorization: Bearer {admin_token})
  Metrics:     {stack.base_url}/metrics
  Simulator:   {sim.base_url}/_sim/deliveries   (what LINE received)
  Logs:        {state}/*.log
  Demo quota:  {args.quota} messages this month — watch deliveries get held when it runs out.
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
