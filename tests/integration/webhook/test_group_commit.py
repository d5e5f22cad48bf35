"""The webhook's group commit (app/services/webhook_intake.py) and its hand-off to the workers: a
slow Redis round trip never holds up the next batch's insert nor the other requests' answers, a
hand-off in flight takes the friends queued meanwhile, and a lone request answers only after its
friends are handed off."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from app.extensions import db
from app.services.webhook_intake import GroupCommit

NOW = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)


def _follow(user: str) -> dict[str, object]:
    return {"type": "follow", "webhookEventId": f"01GC{user}", "timestamp": 1_777_000_000_000,
            "mode": "active", "source": {"type": "user", "userId": user}, "replyToken": "r" * 32,
            "deliveryContext": {"isRedelivery": False}}


class _SlowHandOff:
    """Records each hand-off; the first one waits until released."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, str]]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, friends: list[tuple[str, str]]) -> None:
        self.calls.append(friends)
        if len(self.calls) == 1:
            self.entered.set()
            assert self.release.wait(10)


def test_a_slow_hand_off_holds_up_neither_the_next_insert_nor_its_answer(app) -> None:
    hand_off = _SlowHandOff()
    writer = GroupCommit(db.webhook_write, hand_off)
    first: dict[str, object] = {}
    thread = threading.Thread(target=lambda: first.update(
        answer=writer.record("default", [_follow("Ufirst")], NOW, 5)))
    thread.start()
    assert hand_off.entered.wait(10)  # Ufirst is stored; its hand-off hangs on Redis

    second = writer.record("default", [_follow("Usecond")], NOW, 5)  # inserted and answered meanwhile

    assert second.stored == 1 and second.friends == {"Usecond"}
    assert thread.is_alive() and hand_off.calls == [[("default", "Ufirst")]]
    hand_off.release.set()
    thread.join(10)
    assert first["answer"].stored == 1  # type: ignore[union-attr]
    # the hand-off in flight took the friends queued while it hung: nobody is left unsignalled
    assert hand_off.calls == [[("default", "Ufirst")], [("default", "Usecond")]]


def test_a_lone_request_answers_after_its_friends_are_handed_off(app) -> None:
    calls: list[list[tuple[str, str]]] = []
    writer = GroupCommit(db.webhook_write, calls.append)
    answer = writer.record("default", [_follow("Ualone"), _follow("Ualone2")], NOW, 5)
    assert answer.stored == 2
    assert calls == [[("default", "Ualone"), ("default", "Ualone2")]]
    again = writer.record("default", [_follow("Ualone")], NOW, 5)  # a redelivery: nothing new to hand off
    assert again.duplicates == 1 and calls == [[("default", "Ualone"), ("default", "Ualone2")]]


def test_a_failing_hand_off_still_answers_the_stored_events(app) -> None:
    def broken(_friends: list[tuple[str, str]]) -> None:
        raise ConnectionError("redis is down")

    writer = GroupCommit(db.webhook_write, broken)
    assert writer.record("default", [_follow("Udown")], NOW, 5).stored == 1  # the sweep signals it later
