"""Friends: one friend's tags, attributes, enrollments and history."""

from __future__ import annotations

from flask import abort, render_template
from flask_babel import gettext as _

from app.admin.auth import requires
from app.admin.dashboard.blueprint import bp
from app.services.friend_page import friend_page


@bp.route("/friends/<int:friend_id>")
@requires("viewer")
def friend(friend_id: int) -> str:
    """One friend: profile, tags, attributes, enrollments and a merged event/delivery timeline."""
    page = friend_page(friend_id)
    if page is None:
        abort(404, description=_("Friend %(id)s does not exist.", id=friend_id))
    return render_template("dashboard/friend.html", section="friends", friend=page.friend, tags=page.tags,
                           enrollments=page.enrollments, timeline=page.timeline, fields=page.fields,
                           **page.conversation)
