"""The audit log page: newest first, filter by actor, page back with ``before``."""

from __future__ import annotations

from flask import abort, render_template, request

from app.admin.auth import requires
from app.admin.dashboard.blueprint import bp
from app.services import audit

PAGE = 100


@bp.route("/audit")
@requires("admin")
def audit_log() -> str:
    actor = request.args.get("actor", "").strip() or None
    before_raw = request.args.get("before", "")
    if before_raw and (not before_raw.isdigit() or len(before_raw) > 18):
        abort(400, description="before must be an entry id")
    rows = audit.entries(limit=PAGE, actor=actor, before_id=int(before_raw) if before_raw else None)
    older = rows[-1]["id"] if len(rows) == PAGE else None
    return render_template("dashboard/audit.html", section="audit", rows=rows, actor=actor or "", older=older)
