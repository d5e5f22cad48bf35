"""Admin API for the delivery engine: test send, scenario statistics, deliveries list and retry."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.admin.api_models import TestSendRequest, json_body
from app.admin.auth import requires
from app.admin.openapi import api_schema
from app.current import current_settings
from app.limits import parse_count
from app.line.channels import line_client
from app.models.base import utcnow
from app.services import monitoring
from app.services.delivery import retry_failed
from app.services.test_sends import send_test
from app.work import current_work

bp = Blueprint("admin_api_delivery", __name__, url_prefix="/admin/api")


@bp.post("/scenarios/<scenario_id>/test-send")
@requires("operator")
@api_schema(request=TestSendRequest)
def test_send(scenario_id: str) -> Response:
    """``{"user_ids": ["U…"], "step": "id" | null}``: push now, one step or all steps in order."""
    body = json_body(TestSendRequest)
    user_ids, step = body.user_ids, body.step
    settings = current_settings()
    result = send_test(lambda channel: line_client(settings, channel), scenario_id, user_ids, step)
    return jsonify(result.to_dict())


@bp.get("/scenarios/<scenario_id>/stats")
@requires("viewer")
def scenario_stats(scenario_id: str) -> Response:
    """Per step sent / clicks / replies / blocked_after / skipped, per scenario enrolled and conversions."""
    return jsonify(monitoring.scenario_stats(scenario_id).to_dict())


@bp.get("/deliveries")
@requires("viewer")
def deliveries() -> Response:
    """``?status=failed&scenario=<id>&limit=100&before=<id>`` newest first."""
    limit = parse_count(request.args.get("limit"), "limit", default=100)
    before = parse_count(request.args.get("before"), "before", default=0) or None
    return jsonify(deliveries=monitoring.deliveries(status=request.args.get("status"),
                                                    scenario_id=request.args.get("scenario"), limit=limit,
                                                    before_id=before))


@bp.post("/deliveries/<int:delivery_id>/retry")
@requires("operator")
def retry(delivery_id: int) -> Response:
    """A failed delivery goes out again under a new retry key (LINE refused the old request)."""
    [answer] = retry_failed([delivery_id], utcnow(), current_work().send_deliveries)
    return jsonify(answer)
