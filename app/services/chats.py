"""A friend's chat and the handoff inbox as staff see them (SPEC §9): the chat log, who waits for
staff, giving a friend back to the bot. Each use case owns its transaction; sending is
:mod:`app.services.conversations` (the operator-message outbox)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.conversations import handoffs
from app.conversations import log as conversation_log
from app.errors import NotFound
from app.extensions import db
from app.models.friends import Friend
from app.scenarios import store as definitions
from app.services.conversations import find_friend, friend_conversation_state


class UnknownFriend(NotFound):
    """No friend has this id (the dashboard answers its 404 page)."""


def _step_text(session: Session) -> Callable[[str, int, str, Friend], str | None]:
    def text(scenario_id: str, version: int, step_id: str, friend: Friend) -> str | None:
        try:
            definition = definitions.definition_for(session, scenario_id, version)
        except NotFound:
            return None
        return conversation_log.render_step_text(definition, step_id, friend)

    return text


def messages_of(user_id: str, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` chat entries of the friend, oldest first (SPEC §9)."""
    with db.read() as session:
        return _messages(session, find_friend(session, user_id), limit)


def _messages(session: Session, friend: Friend, limit: int) -> list[dict[str, Any]]:
    return [e.to_dict() for e in conversation_log.history(session, friend, limit, _step_text(session))]


def conversation_of(user_id: str) -> dict[str, Any]:
    """The friend's ``user_id`` with :func:`friend_conversation_state`; NotFound for an unknown friend."""
    with db.read() as session:
        friend = find_friend(session, user_id)
        return {"user_id": friend.user_id, **friend_conversation_state(session, friend)}


def _friend_by_id(session: Session, friend_id: int, *, lock: bool = False) -> Friend:
    friend = session.get(Friend, friend_id, with_for_update=lock)
    if friend is None:
        raise UnknownFriend(f"friend {friend_id} does not exist")
    return friend


@dataclass(frozen=True)
class Chat:
    """The dashboard's chat page: the friend, their newest entries (oldest first), handoff and menu."""

    friend: Friend
    entries: list[dict[str, Any]]
    handoff: dict[str, Any] | None
    rich_menu: str | None


def chat(friend_id: int, limit: int) -> Chat:
    """The friend's chat as the dashboard shows it; :class:`UnknownFriend` when there is none."""
    with db.read() as session:
        friend = _friend_by_id(session, friend_id)
        state = friend_conversation_state(session, friend)
        return Chat(friend, _messages(session, friend, limit), state["handoff"], state["rich_menu"])


def user_id_of(friend_id: int) -> str:
    """The LINE user id of a friend row (the dashboard sends by it); :class:`UnknownFriend` otherwise."""
    with db.read() as session:
        return _friend_by_id(session, friend_id).user_id


def open_handoffs() -> list[dict[str, Any]]:
    """Open handoffs, the longest waiting first."""
    with db.read() as session:
        return _open_handoffs(session)


def _open_handoffs(session: Session) -> list[dict[str, Any]]:
    return [{"user_id": friend.user_id, "display_name": friend.display_name, "channel": friend.channel,
             **handoffs.state_dict(handoff)} for handoff, friend in handoffs.open_handoffs(session)]


@dataclass(frozen=True)
class Inbox:
    """The dashboard's inbox: :func:`open_handoffs` and the friend id each user id links to."""

    waiting: list[dict[str, Any]]
    friend_ids: dict[str, int]


def inbox() -> Inbox:
    """Open handoffs, the longest waiting first, with the friend ids the page links to."""
    with db.read() as session:
        waiting = _open_handoffs(session)
        ids = {user_id: friend_id for friend_id, user_id in session.execute(
            sa.select(Friend.id, Friend.user_id).where(Friend.user_id.in_([w["user_id"] for w in waiting])))}
    return Inbox(waiting, ids)


def waiting_count() -> int:
    """How many friends wait for staff (the dashboard's inbox badge)."""
    with db.read() as session:
        return handoffs.count_open(session)


def close_handoff(user_id: str, staff: str, now: datetime) -> dict[str, Any]:
    """Give the friend back to the bot; 404 when no handoff is open."""
    with db.transaction() as session:
        return _close(session, find_friend(session, user_id, lock=True), staff, now)


def close_friend_handoff(friend_id: int, staff: str, now: datetime) -> dict[str, Any]:
    """:func:`close_handoff` by friend row; :class:`UnknownFriend` when the friend does not exist."""
    with db.transaction() as session:
        return _close(session, _friend_by_id(session, friend_id, lock=True), staff, now)


def _close(session: Session, friend: Friend, staff: str, now: datetime) -> dict[str, Any]:
    if handoffs.close(session, friend, staff=staff, now=now) is None:
        raise NotFound(f"friend {friend.user_id!r} has no open handoff")
    return {"user_id": friend.user_id, "closed_at": now.isoformat(), "closed_by": staff}
