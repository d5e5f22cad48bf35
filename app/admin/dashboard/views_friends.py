"""Friends: search and filter, and one friend's tags, attributes, enrollments and history."""

from __future__ import annotations

from flask import abort, render_template
from flask_babel import gettext as _

from app.admin.auth import requires
from app.admin.dashboard.blueprint import bp
from app.admin.dashboard.queries_friends import friend_enrollments, friend_timeline, tags_by_friend
from app.extensions import db
from app.models.friends import Friend
from app.services import fields as fields_service
from app.services.conversations import friend_conversation_state


@bp.route("/friends/<int:friend_id>")
@requires("viewer")
def friend(friend_id: int) -> str:
    """One friend: profile, tags, attributes, enrollments and a merged event/delivery timeline."""
    with db.read() as session:
        row = session.get(Friend, friend_id)
        if row is None:
            abort(404, description=_("Friend %(id)s does not exist.", id=friend_id))
        tags = tags_by_friend(session, [friend_id]).get(friend_id, [])
        enrollments = friend_enrollments(session, friend_id)
        timeline = friend_timeline(session, row)
        fields = fields_service.list_fields(session)
        conversation = friend_conversation_state(session, row)
    return render_template("dashboard/friend.html", section="friends", friend=row, tags=tags,
                           enrollments=enrollments, timeline=timeline, fields=fields, **conversation)
