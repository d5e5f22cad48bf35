"""``./stepline friend follow|say|postback|block|unblock NAME [TEXT]``: be a friend of the running demo.

The demo's simulator knows the bot's webhook URL and channel secret, so each command is one
signed webhook event, exactly what LINE would send when that friend acts on their phone.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error

from demo.friends import user_id_for
from demo.state import STATE_DIR, running_demo
from linesim.testing import SimulatorHandle

ACTIONS = ("follow", "say", "postback", "block", "unblock")


def event_for(action: str, user_id: str, text: str | None) -> dict[str, object]:
    """The webhook event spec (the simulator fills ids, timestamps and reply tokens)."""
    if action == "follow":
        return {"type": "follow", "userId": user_id}
    if action == "unblock":
        return {"type": "follow", "userId": user_id, "isUnblocked": True}
    if action == "block":
        return {"type": "unfollow", "userId": user_id}
    if not text:
        raise SystemExit(f"stepline friend {action}: give the {'text' if action == 'say' else 'postback data'} "
                         "after the name")
    if action == "say":
        return {"type": "message", "userId": user_id, "text": text}
    return {"type": "postback", "userId": user_id, "data": text}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./stepline friend", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("name", help="the friend's display name (new names become new friends)")
    parser.add_argument("text", nargs="*", help="what they say (say) or the postback data (postback)")
    args = parser.parse_args(argv)
    demo = running_demo(STATE_DIR)
    if demo is None:
        print("stepline friend: no demo is running — start one with ./stepline demo", file=sys.stderr)
        return 2
    sim = SimulatorHandle(str(demo["simulator"]), stop=None)
    user_id = user_id_for(args.name)
    sim.users(display_names={user_id: args.name})  # so the bot's profile lookup finds the name
    try:
        answer = sim.webhook([event_for(args.action, user_id, " ".join(args.text) or None)])
    except urllib.error.HTTPError as exc:
        print(f"stepline friend: the simulator refused: {exc.code} {exc.read().decode()[:300]}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"stepline friend: the demo's simulator at {demo['simulator']} does not answer ({exc.reason})",
              file=sys.stderr)
        return 1
    statuses = answer.get("statuses") or answer.get("status")
    print(f"{args.name} ({user_id}): {args.action} sent to the bot -> {json.dumps(statuses, ensure_ascii=False)}")
    print(f"  see {demo['dashboard']}/friends?q={user_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
