"""Simulated LINE friends for the demo: they follow, reply, press buttons, buy and block."""

from __future__ import annotations

import hashlib
import json
import random
import urllib.error
import urllib.request
from collections.abc import Callable

from linesim.testing import SimulatorHandle

NAMES = ["さくら", "ゆうと", "はるか", "れん", "みお", "そうた", "ひなた", "あおい", "こはる", "たくみ",
         "ゆい", "はると", "めい", "りく", "あかり", "かいと", "ののか", "そら", "ここな", "いつき"]


def user_id_for(name: str) -> str:
    """A LINE-shaped user id (U + 32 hex digits) for a demo friend: the demo's own friends get
    ``Ude30…`` ids by their place in :data:`NAMES`, any other name a stable hash of itself."""
    if name in NAMES:
        return f"Ude30{NAMES.index(name):028x}"
    return "U" + hashlib.sha256(name.encode()).hexdigest()[:32]


class DemoFriends:
    """Drives the simulator's signed webhooks and the admin events API like real friends would."""

    def __init__(self, sim: SimulatorHandle, bot_url: str, secret: str, admin_token: str,
                 say: Callable[[str], None] = print, seed: int = 1) -> None:
        self.sim, self.bot_url, self.secret, self.admin_token, self.say = sim, bot_url, secret, admin_token, say
        self.rng = random.Random(seed)
        self.followed = 0
        self.user_ids = [user_id_for(name) for name in NAMES]
        sim.users(display_names=dict(zip(self.user_ids, NAMES, strict=True)))

    @staticmethod
    def first_user_id() -> str:
        """The first demo friend's id (the README's test-send example uses it)."""
        return user_id_for(NAMES[0])

    def _send(self, events: list[dict[str, object]]) -> None:
        self.sim.webhook(events, url=self.bot_url + "/callback", channel_secret=self.secret)

    def _purchase(self, user_id: str) -> None:
        body = json.dumps({"user_id": user_id, "name": "purchase"}).encode()
        request = urllib.request.Request(self.bot_url + "/admin/api/events", data=body, method="POST", headers={
            "Authorization": f"Bearer {self.admin_token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except urllib.error.HTTPError as exc:
            self.say(f"  (the shop's purchase event was refused: {exc.code} {exc.read().decode()[:200]})")

    def step(self) -> float:
        """One friend does one thing (the first rounds are follows); returns seconds to wait."""
        if self.followed < len(self.user_ids):
            user_id = self.user_ids[self.followed]
            self._send([{"type": "follow", "userId": user_id}])
            self.say(f"friend {NAMES[self.followed]} followed the account")
            self.followed += 1
        if self.followed > 3 and self.rng.random() < 0.6:
            self._random_action()
        return self.rng.uniform(1.5, 5.0)

    def _random_action(self) -> None:
        user_id = self.rng.choice(self.user_ids[:self.followed])  # only friends who already followed
        name = NAMES[self.user_ids.index(user_id)]
        roll = self.rng.random()
        if roll < 0.30:
            self._send([{"type": "message", "userId": user_id, "text": "メニュー"}])
            self.say(f"{name} sent「メニュー」(keyword → free reply)")
        elif roll < 0.45:
            self._send([{"type": "postback", "userId": user_id, "data": "demo=like"}])
            self.say(f"{name} pressed いいね (postback → tag + goal)")
        elif roll < 0.60:
            self._purchase(user_id)
            self.say(f"{name} bought something (event:purchase → purchase follow-up)")
        elif roll < 0.70:
            self._send([{"type": "message", "userId": user_id, "text": "stop"}])
            self.say(f"{name} sent「stop」(stops the demo scenario)")
        elif roll < 0.78:
            self._send([{"type": "unfollow", "userId": user_id}])
            self.say(f"{name} blocked the account (nothing more is pushed)")
        elif roll < 0.85:
            self._send([{"type": "follow", "userId": user_id, "isUnblocked": True}])
            self.say(f"{name} unblocked the account")
        else:
            self._send([{"type": "message", "userId": user_id, "text": "こんにちは"}])
            self.say(f"{name} said こんにちは")
