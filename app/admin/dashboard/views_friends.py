"""Friends: search and filter, and one friend's tags, attributes, enrollments and history."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, render_template, request

from app.admin.dashboard import bp
from app.admin.dashboard.queries_friends import (
    FriendFilter,
    all_tags,
    friend_enrollments,
    friend_timeline,
    search_friends,
    tags_by_friend,
)
from app.extensions import db
from app.models.friends import FRIEND_ACTIVE, FRIEND_BLOCKED, Friend
from app.services.conversations import friend_conversation_state

STATUSES = (FRIEND_ACTIVE, FRIEND_BLOCKED)


@bp.route("/friends")
def friends() -> str:
    """Search by display name or user id; filter by tag, ``key=value`` attribute and status."""
    status = request.args.get("status", "")
    flt = FriendFilter(
        q=request.args.get("q", "").strip(),
        tag=request.args.get("tag", "").strip(),
        attribute=request.args.get("attribute", "").strip(),
        status=status if status in STATUSES else "",
    )
    try:
        page_number = max(int(request.args.get("page", "1")), 1)
    except ValueError:
        page_number = 1
    with db.session() as session:
        page = search_friends(session, flt, page_number)
        tags = all_tags(session)
        total = session.scalar(sa.select(sa.func.count()).select_from(Friend)) or 0
    args = {key: value for key, value in vars(flt).items() if value}
    return render_template("dashboard/friends.html", section="friends", page=page, flt=flt, tags=tags,
                           statuses=STATUSES, args=args, total_friends=total)


@bp.route("/friends/<int:friend_id>")
def friend(friend_id: int) -> str:
    """One friend: profile, tags, attributes, enrollments and a merged event/delivery timeline."""
    with db.session() as session:
        row = session.get(Friend, friend_id)
        if row is None:
            abort(404, description=f"friend {friend_id} does not exist")
        tags = tags_by_friend(session, [friend_id]).get(friend_id, [])
        enrollments = friend_enrollments(session, friend_id)
        timeline = friend_timeline(session, row)
        conversation = friend_conversation_state(session, row)
    return render_template("dashboard/friend.html", section="friends", friend=row, tags=tags,
                           enrollments=enrollments, timeline=timeline, **conversation)
