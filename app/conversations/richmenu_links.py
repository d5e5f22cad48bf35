"""Which rich menu a friend has: rows of ``friend_rich_menus`` (no row: the channel default); the loaded menus."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.dialect import insert_for
from app.models.conversations import FriendRichMenu, RichMenu

log = logging.getLogger(__name__)
DEFAULT = "default"


def link_in_db(session: Session, friend_id: int, menu_id: str, now: datetime) -> bool:
    """Record the link (``default``: remove it); False when the menu is not loaded."""
    if menu_id == DEFAULT:
        session.execute(sa.delete(FriendRichMenu).where(FriendRichMenu.friend_id == friend_id))
        return True
    if session.get(RichMenu, menu_id) is None:
        log.warning("rich menu %s is not loaded; friend %s keeps their menu", menu_id, friend_id)
        return False
    session.execute(insert_for(session)(FriendRichMenu).values(friend_id=friend_id, rich_menu_id=menu_id, linked_at=now)
                    .on_conflict_do_update(index_elements=["friend_id"],
                                           set_={"rich_menu_id": menu_id, "linked_at": now}))
    return True


def rich_menu_of(session: Session, friend_id: int) -> str | None:
    """The friend JSON's ``rich_menu``: the linked menu's id, or None (the channel default)."""
    return session.scalar(sa.select(FriendRichMenu.rich_menu_id).where(FriendRichMenu.friend_id == friend_id))


def rich_menus_of(session: Session, friend_ids: list[int]) -> dict[int, str]:
    """:func:`rich_menu_of` of many friends in one query: those with a linked menu, by friend id."""
    if not friend_ids:
        return {}
    links = sa.select(FriendRichMenu.friend_id, FriendRichMenu.rich_menu_id).where(
        FriendRichMenu.friend_id.in_(friend_ids))
    return {friend_id: menu for friend_id, menu in session.execute(links)}


def menu_summaries(session: Session) -> list[dict[str, Any]]:
    """Every loaded rich menu with how many friends have it linked (the API's and dashboard's list)."""
    counts: dict[str, int] = {menu_id: int(n) for menu_id, n in session.execute(
        sa.select(FriendRichMenu.rich_menu_id, sa.func.count()).group_by(FriendRichMenu.rich_menu_id)).all()}
    return [{"id": m.id, "name": m.name, "channel": m.channel, "line_id": m.line_id, "default": m.is_default,
             "version": m.version, "updated_at": m.updated_at.isoformat(), "friends": counts.get(m.id, 0)}
            for m in session.scalars(sa.select(RichMenu).order_by(RichMenu.id))]
