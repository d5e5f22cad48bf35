"""Admin API for the delivery engine: test send, scenario statistics, deliveries list and retry."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from app import current_settings
from app.admin.auth import require_admin
from app.delivery import stats
from app.delivery.retry import delivery_dict, list_deliveries, requeue_failed
from app.delivery.test_send import send_test
from app.errors import BadRequest
from app.extensions import db
from app.limits import parse_count
from app.models.base import utcnow
from app.services.line_edge import line_client
from workers.delivery_jobs import enqueue_send

bp = Blueprint("admin_api_delivery", __name__, url_prefix="/admin/api")


def _json_object() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object body", [{"path": "", "message": "expected an object"}])
    return body


@bp.post("/scenarios/<scenario_id>/test-send")
@require_admin
def test_send(scenario_id: str) -> Response:
    """``{"user_ids": ["U…"], "step": "id" | null}``: push now, one step or all steps in order."""
    body = _json_object()
    user_ids, step = body.get("user_ids"), body.get("step")
    if not isinstance(user_ids, list) or (step is not None and not isinstance(step, str)):
        raise BadRequest("expected user_ids: [...] and step: id or null",
                         [{"path": "user_ids", "message": "expected a list of user ids"}])
    settings = current_settings()
    result = send_test(lambda channel: line_client(settings, channel), scenario_id, user_ids, step)
    return jsonify(result.as_dict())


@bp.get("/scenarios/<scenario_id>/stats")
@require_admin
def scenario_stats(scenario_id: str) -> Response:
    with db.read() as session:
        return jsonify(stats.stats_for(session, scenario_id).as_dict())


@bp.get("/deliveries")
@require_admin
def deliveries() -> Response:
    """``?status=failed&scenario=<id>&limit=100&before=<id>`` newest first."""
    limit = parse_count(request.args.get("limit"), "limit", default=100)
    before = parse_count(request.args.get("before"), "before", default=0) or None
    with db.read() as session:
        rows = list_deliveries(session, status=request.args.get("status"), scenario_id=request.args.get("scenario"),
                               limit=limit, before_id=before)
    return jsonify(deliveries=rows)


@bp.post("/deliveries/<int:delivery_id>/retry")
@require_admin
def retry(delivery_id: int) -> Response:
    """A failed delivery goes out again under a new retry key (LINE refused the old request)."""
    with db.transaction() as session:
        delivery = requeue_failed(session, delivery_id, utcnow())
        answer = delivery_dict(delivery)
    answer["enqueued"] = enqueue_send([delivery_id])
    return jsonify(answer)
