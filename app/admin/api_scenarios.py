"""Admin HTTP API for scenarios (SPEC §2): thin views over ``app.services.scenarios``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.admin.api_errors import error_response
from app.admin.api_models import NamedEventRequest, UserIdsRequest, json_body, json_object
from app.admin.auth import requires
from app.admin.openapi import api_schema
from app.config import DEFAULT_CHANNEL
from app.current import current_settings
from app.errors import BadRequest
from app.models.base import utcnow
from app.scenarios.errors import ScenarioInvalid
from app.scenarios.timeline import parse_start
from app.scenarios.yamlpos import compose_only, locate
from app.services import scenarios as service
from app.services.named_events import record_named_event
from app.work import enroll_audiences

bp = Blueprint("admin_api_scenarios", __name__, url_prefix="/admin/api")


@bp.errorhandler(ScenarioInvalid)
def _invalid(exc: ScenarioInvalid) -> tuple[Response, int]:
    return error_response(422, "scenario is invalid", [issue.to_dict() for issue in exc.errors])


@bp.errorhandler(service.UnknownEvent)
def _unknown_event(exc: service.UnknownEvent) -> tuple[Response, int]:
    return error_response(422, str(exc), list(exc.details))


@bp.errorhandler(service.OverQuota)
def _over_quota(exc: service.OverQuota) -> tuple[Response, int]:
    """409 with the impact, at the top level and under ``impact`` (SPEC §11)."""
    impact = exc.impact.to_dict()
    return jsonify(error=str(exc), details=exc.details, impact=impact, **impact), 409


def _flag(name: str) -> bool:
    """``?dry_run=1`` / ``?force=true`` style flags."""
    return (request.args.get(name) or "").strip().lower() in ("1", "true", "yes", "on")


def configured_channels() -> list[str]:
    """Channels with credentials in the environment: the only ones a scenario may name."""
    return sorted(current_settings().channels)


def scenario_dict(scenario: service.ScenarioView, counts: dict[str, int] | None = None) -> dict[str, Any]:
    """The JSON shape of a scenario row (plus enrollment counts by status when given)."""
    data: dict[str, Any] = {
        "id": scenario.id, "name": scenario.name, "channel": scenario.channel, "status": scenario.status,
        "status_reason": scenario.status_reason, "priority": scenario.priority, "trigger": scenario.trigger,
        "version": scenario.version, "published_at": _iso(scenario.published_at),
        "created_at": _iso(scenario.created_at), "updated_at": _iso(scenario.updated_at),
    }
    if counts is not None:
        data["enrollments"] = counts
    return data


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _upload_item(item: service.ScenarioUpload) -> dict[str, Any]:
    measured = item.measured.to_dict() if item.measured else {}
    return {"scenario": scenario_dict(item.scenario), "action": item.action, "version": item.version,
            "changed": item.changed, "previous_status": item.previous_status, "status_change": item.status_change,
            "impact": [row.to_dict() for row in item.impact],
            "audience": _audience(item.needs_audience, item.audience_enrolled), **measured}


def _totals(impacts: list[dict[str, Any]]) -> dict[str, Any]:
    """One impact for a set of documents: sums, and the smallest quota left among their channels."""
    lefts = [i["quota_left"] for i in impacts if i.get("quota_left") is not None]
    return {"would_enroll": sum(i.get("would_enroll", 0) for i in impacts),
            "messages_due_now": sum(i.get("messages_due_now", 0) for i in impacts),
            "quota_left": min(lefts) if lefts else None}


def _dry_run_upload(files: list[tuple[str, str]]) -> dict[str, Any]:
    plans, warnings = service.upload_impact(files, utcnow(), channels=configured_channels())
    items = [plan.to_dict() for plan in plans]
    return {"dry_run": True, **_totals(items), "scenarios": items,
            "status_changes": [{"scenario_id": p.scenario_id, **p.status_change} for p in plans if p.status_change],
            "warnings": [w.to_dict() for w in warnings]}


def _audience(queued: bool, enrolled: int) -> dict[str, Any]:
    return {"queued": True} if queued else {"enrolled": enrolled}


def _upload(files: list[tuple[str, str]], expected_id: str | None = None) -> tuple[list[dict[str, Any]],
                                                                                    list[dict[str, Any]]]:
    """(one answer per scenario, warnings)."""
    if expected_id is not None:
        _check_url_id(files[0], expected_id)
    result = service.upload(files, utcnow(), force=_flag("force"), channels=configured_channels())
    enroll_audiences(result.audience_pending)  # after the commit: the job reads what was stored
    return [_upload_item(item) for item in result.scenarios], [w.to_dict() for w in result.warnings]


def _check_url_id(file: tuple[str, str], expected_id: str) -> None:
    (scn,) = service.validate([file])
    if scn.id != expected_id:
        node = locate(compose_only(file[1]), ["id"], at_key=False)
        raise BadRequest("scenario id does not match the URL", [{
            "file": file[0], "line": node.start_mark.line + 1 if node else None,
            "column": node.start_mark.column + 1 if node else None, "path": "id",
            "message": f"the document's id is {scn.id!r} but the URL names {expected_id!r}"}])


def _body_text() -> str:
    try:
        return request.get_data(cache=False).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("body is not UTF-8 text", [{"message": "send the YAML or JSON document as UTF-8"}]) from None


@bp.put("/scenarios/<scenario_id>")
@requires("admin")
def put_scenario(scenario_id: str) -> tuple[Response, int]:
    """Upload one scenario (YAML or JSON body, sniffed); 201 when created, 200 otherwise.

    ``?dry_run=1``: the same checks and the impact, nothing stored. ``?force=1``: publish even when
    the pushes due at once exceed the quota left (else 409 with the impact)."""
    text = _body_text()
    kind = "json" if "json" in (request.content_type or "") or text.lstrip().startswith("{") else "yaml"
    files = [(f"{scenario_id}.{kind}", text)]
    if _flag("dry_run"):
        _check_url_id(files[0], scenario_id)
        answer = _dry_run_upload(files)
        (plan,) = answer.pop("scenarios")
        return jsonify({**answer, **plan}), 200
    (item,), warnings = _upload(files, expected_id=scenario_id)
    return jsonify({**item, "warnings": warnings}), (201 if item["action"] == "created" else 200)


def _posted_files() -> list[tuple[str, str]]:
    if request.files:
        return [(storage.filename or key, storage.read().decode("utf-8", errors="replace"))
                for key, storage in request.files.items(multi=True)]
    payload = request.get_json(silent=True)
    entries = payload.get("files") if isinstance(payload, dict) else payload
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise BadRequest("expected files", [{"message": 'send multipart files or JSON [{"name": ..., "text": ...}]'}])
    files = []
    for index, entry in enumerate(entries):
        text = entry.get("text", entry.get("content"))
        if not isinstance(text, str):
            raise BadRequest("expected files", [{"path": f"[{index}].text", "message": "expected the file's text"}])
        files.append((str(entry.get("name") or f"file-{index + 1}"), text))
    return files


@bp.post("/scenarios")
@requires("admin")
def post_scenarios() -> Response:
    """Upload several files atomically (one invalid file changes nothing); ``?dry_run=1``, ``?force=1``
    as for one file."""
    files = _posted_files()
    if _flag("dry_run"):
        return jsonify(_dry_run_upload(files))
    items, warnings = _upload(files)
    return jsonify(scenarios=items, warnings=warnings, **_totals(items),
                   status_changes=[{"scenario_id": i["scenario"]["id"], **i["status_change"]}
                                   for i in items if i["status_change"]])


@bp.get("/scenarios")
@requires("viewer")
def list_scenarios() -> Response:
    rows = [scenario_dict(s, s.enrollments) for s in service.list_scenarios(request.args.get("channel"))]
    return jsonify(scenarios=rows)


@bp.get("/scenarios/<scenario_id>")
@requires("viewer")
def get_scenario(scenario_id: str) -> Response:
    detail = service.scenario_detail(scenario_id)
    scenario, versions = detail.scenario, detail.versions
    current = next(v for v in versions if v.version == scenario.version)
    return jsonify(
        scenario=scenario_dict(scenario, scenario.enrollments),
        definition=current.definition, source=current.source, source_name=current.source_name,
        versions=[{"version": v.version, "created_at": _iso(v.created_at), "source_name": v.source_name}
                  for v in versions])


@bp.get("/scenarios/<scenario_id>/preview")
@requires("viewer")
def preview(scenario_id: str) -> Response:
    """Timeline for ``start`` (ISO 8601; a time without offset is local to the scenario)."""
    try:
        start = parse_start(request.args.get("start"))
    except ValueError as exc:
        raise BadRequest("bad start", [{"path": "start", "message": str(exc)}]) from None
    try:
        attributes = json.loads(request.args.get("attributes") or "{}")
    except ValueError:
        attributes = None
    if not isinstance(attributes, dict):
        raise BadRequest("bad attributes", [{"path": "attributes", "message": "expected a JSON object"}])
    report = service.preview_report(scenario_id, start, attributes, channels=configured_channels())
    return jsonify(report.to_dict())


def _transition(scenario_id: str, action: str) -> Response:
    """Act (``?force=1`` past the quota guard), or with ``?dry_run=1`` only say what acting would do."""
    if _flag("dry_run"):
        plan = service.transition_impact(scenario_id, action, utcnow())
        return jsonify(dry_run=True, scenario_id=scenario_id, status_change=plan.status_change,
                       **plan.impact.to_dict())
    done = service.transition(scenario_id, action, utcnow(), force=_flag("force"))
    enroll_audiences([scenario_id] if done.needs_audience else [])  # after the commit
    return jsonify({"scenario": scenario_dict(done.scenario),
                    "audience": _audience(done.needs_audience, done.audience_enrolled),
                    "status_change": done.status_change, **(done.impact.to_dict() if done.impact else {})})


@bp.post("/scenarios/<scenario_id>/publish")
@requires("admin")
def publish(scenario_id: str) -> Response:
    return _transition(scenario_id, "publish")


@bp.post("/scenarios/<scenario_id>/pause")
@requires("admin")
def pause(scenario_id: str) -> Response:
    return _transition(scenario_id, "pause")


@bp.post("/scenarios/<scenario_id>/resume")
@requires("admin")
def resume(scenario_id: str) -> Response:
    return _transition(scenario_id, "resume")


@bp.post("/scenarios/<scenario_id>/duplicate")
@requires("admin")
def duplicate(scenario_id: str) -> tuple[Response, int]:
    new_id = json_object().get("id")
    copy = service.duplicate(scenario_id, new_id, utcnow())  # type: ignore[arg-type]
    return jsonify(scenario=scenario_dict(copy)), 201


@bp.delete("/scenarios/<scenario_id>")
@requires("admin")
def delete(scenario_id: str) -> Response:
    """Delete a non-live scenario; live scenarios that enrolled into it go to ``error``."""
    errored = service.delete(scenario_id, utcnow())
    return jsonify(deleted=scenario_id, errored=errored)


@bp.post("/scenarios/<scenario_id>/enroll")
@requires("admin")
@api_schema(request=UserIdsRequest)
def enroll(scenario_id: str) -> Response:
    user_ids = json_body(UserIdsRequest).user_ids
    entered = service.enroll_manual(scenario_id, user_ids, utcnow())
    return jsonify(enrolled=entered, requested=len(set(user_ids)))


@bp.post("/events")
@requires("operator")
@api_schema(request=NamedEventRequest)
def named_event() -> Response:
    """A named event for a friend: enrolls into live ``trigger: event:<name>`` scenarios and
    completes ``on: {event: <name>}`` goals."""
    payload = json_body(NamedEventRequest)
    try:
        at = parse_start(payload.at) if payload.at else None
    except ValueError as exc:
        raise BadRequest("bad at", [{"path": "at", "message": str(exc)}]) from None
    return jsonify(record_named_event(payload.channel or DEFAULT_CHANNEL, payload.user_id, payload.name, utcnow(),
                                      at=at))


@bp.get("/schema")
@requires("viewer")
def schema() -> Response:
    """JSON Schema of scenario documents (for editors)."""
    return jsonify(service.scenario_json_schema())
