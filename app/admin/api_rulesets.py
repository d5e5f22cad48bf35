"""Admin HTTP API for rule sets (SPEC §9): thin views over ``app.services.rulesets``."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.admin.api_errors import error_response
from app.admin.auth import audit_note, requires
from app.current import current_settings
from app.errors import BadRequest
from app.models.base import utcnow
from app.scenarios.errors import ScenarioInvalid
from app.services import rulesets as service

bp = Blueprint("admin_api_rulesets", __name__, url_prefix="/admin/api")
MAX_DOCUMENT_BYTES = 256 * 1024  # SPEC §12: a rule document over 256 KiB answers 413


@bp.errorhandler(ScenarioInvalid)
def _invalid(exc: ScenarioInvalid) -> tuple[Response, int]:
    return error_response(422, "rule set is invalid", [issue.to_dict() for issue in exc.errors])


def _channels() -> set[str]:
    return set(current_settings().channels)


@bp.put("/rulesets/<ruleset_id>")
@requires("admin")
def put_ruleset(ruleset_id: str) -> tuple[Response, int]:
    """Upload one rule set (YAML or JSON body); 201 when created, 200 otherwise."""
    raw = request.get_data(cache=False)
    if len(raw) > MAX_DOCUMENT_BYTES:
        return error_response(413, "rule set document too large", [{"message": "at most 256 KiB"}])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("body is not UTF-8 text", [{"message": "send the YAML or JSON document as UTF-8"}]) from None
    kind = "json" if text.lstrip().startswith("{") else "yaml"
    name = f"{ruleset_id}.{kind}"
    (parsed,) = service.parse([(name, text)])
    if parsed.id != ruleset_id:
        raise BadRequest("rule set id does not match the URL", [{
            "file": name, "path": "id", "message": f"the document's id is {parsed.id!r} but the URL names "
                                                   f"{ruleset_id!r}"}])
    if _dry_run():
        return jsonify(service.upload_impact([(name, text)], utcnow(), _channels())), 200
    (item,) = service.upload([(name, text)], utcnow(), _channels())
    body = {"ruleset": item.ruleset, "action": item.action, "version": item.version}
    audit_note(version=item.version, action=item.action)
    return jsonify(body), (201 if item.action == "created" else 200)


@bp.get("/rulesets")
@requires("viewer")
def list_rulesets() -> Response:
    return jsonify(rulesets=service.list_rulesets(request.args.get("channel")))


@bp.get("/rulesets/<ruleset_id>")
@requires("viewer")
def get_ruleset(ruleset_id: str) -> Response:
    return jsonify(**service.ruleset_detail(ruleset_id))


def _dry_run() -> bool:
    return request.args.get("dry_run", "").lower() in ("1", "true", "yes")


@bp.post("/rulesets/<ruleset_id>/publish")
@requires("admin")
def publish(ruleset_id: str) -> Response:
    if _dry_run():
        return jsonify(service.publish_impact(ruleset_id, utcnow()))
    return jsonify(ruleset=service.set_status(ruleset_id, True, utcnow()))


@bp.post("/rulesets/<ruleset_id>/pause")
@requires("admin")
def pause(ruleset_id: str) -> Response:
    return jsonify(ruleset=service.set_status(ruleset_id, False, utcnow()))


@bp.post("/rulesets/<ruleset_id>/resume")
@requires("admin")
def resume(ruleset_id: str) -> Response:
    return publish(ruleset_id)


@bp.delete("/rulesets/<ruleset_id>")
@requires("admin")
def delete(ruleset_id: str) -> Response:
    service.delete(ruleset_id)
    return jsonify(deleted=ruleset_id)
