"""Deliveries by status (failed by default) with LINE's error and a retry button."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from app.admin.auth import audit_note, requires
from app.admin.dashboard.blueprint import bp
from app.admin.dashboard.formatting import page_arg
from app.errors import SteplineError
from app.models.base import utcnow
from app.models.delivery import (
    DELIVERY_CANCELLED,
    DELIVERY_FAILED,
    DELIVERY_HELD,
    DELIVERY_QUEUED,
    DELIVERY_SENDING,
    DELIVERY_SENT,
    DELIVERY_SKIPPED,
)
from app.services import monitoring
from app.services.delivery import retry_failed
from app.work import current_work

STATUSES = (DELIVERY_FAILED, DELIVERY_HELD, DELIVERY_QUEUED, DELIVERY_SENDING, DELIVERY_SENT, DELIVERY_SKIPPED,
            DELIVERY_CANCELLED)


def _page_number() -> int:
    return page_arg()


@bp.route("/deliveries")
@requires("viewer")
def deliveries() -> str:
    """``?status=failed`` (default): what LINE answered, for whom, which step, how many attempts."""
    status = request.args.get("status", DELIVERY_FAILED)
    if status not in STATUSES:
        abort(400, description=_("status must be one of %(statuses)s", statuses=", ".join(STATUSES)))
    page = monitoring.deliveries_page(status, _page_number())
    # the nav's "Failed deliveries" lights up on the failed list only, not on held or sent
    section = "failed" if status == DELIVERY_FAILED else "deliveries"
    return render_template("dashboard/deliveries.html", section=section, page=page, status=status,
                           statuses=STATUSES)


@bp.route("/deliveries/<int:delivery_id>/retry", methods=["POST"])
@requires("operator")
def retry(delivery_id: int) -> Response:
    """Queue a failed delivery again (under a new retry key: LINE refused the old request)."""
    try:
        retry_failed([delivery_id], utcnow(), current_work().send_deliveries)
    except SteplineError as exc:
        audit_note(error=str(exc))  # the redirect looks like success: say in the record that it was not
        flash(_("Delivery %(id)s: %(error)s", id=delivery_id, error=exc), "error")
    else:
        flash(_("Delivery %(id)s queued for another attempt.", id=delivery_id), "success")
    return redirect(url_for("dashboard.deliveries", status=request.form.get("status", DELIVERY_FAILED)))
