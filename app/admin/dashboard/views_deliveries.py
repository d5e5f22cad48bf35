"""Deliveries by status (failed by default) with LINE's error and a retry button."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.admin.dashboard import bp, queries
from app.admin.dashboard.formatting import page_arg
from app.delivery.retry import retry_delivery
from app.errors import SteplineError
from app.extensions import db
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

STATUSES = (DELIVERY_FAILED, DELIVERY_HELD, DELIVERY_QUEUED, DELIVERY_SENDING, DELIVERY_SENT, DELIVERY_SKIPPED,
            DELIVERY_CANCELLED)


def _page_number() -> int:
    return page_arg()


@bp.route("/deliveries")
def deliveries() -> str:
    """``?status=failed`` (default): what LINE answered, for whom, which step, how many attempts."""
    status = request.args.get("status", DELIVERY_FAILED)
    if status not in STATUSES:
        abort(400, description=f"status must be one of {', '.join(STATUSES)}")
    with db.read() as session:
        page = queries.deliveries_by_status(session, status, _page_number())
    return render_template("dashboard/deliveries.html", section="deliveries", page=page, status=status,
                           statuses=STATUSES)


@bp.route("/deliveries/<int:delivery_id>/retry", methods=["POST"])
def retry(delivery_id: int) -> Response:
    """Queue a failed delivery again (under a new retry key: LINE refused the old request)."""
    try:
        retry_delivery(delivery_id, utcnow())
    except SteplineError as exc:
        flash(f"Delivery {delivery_id}: {exc}", "error")
    else:
        flash(f"Delivery {delivery_id} queued for another attempt.", "success")
    return redirect(url_for("dashboard.deliveries", status=request.form.get("status", DELIVERY_FAILED)))
