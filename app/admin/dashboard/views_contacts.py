"""Dashboard pages for contact management (SPEC §8): the friend list with its filter builder, bulk
actions (impact first), inline edit, fields, segments and CSV import. Thin over app.services."""

from __future__ import annotations

import json
from typing import Any

import yaml
from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.admin.api_friends import IMPORT_MAX_BYTES
from app.admin.auth import audit_note, requires
from app.admin.dashboard.blueprint import bp
from app.admin.dashboard.filter_form import ATTRIBUTE_OPS, FIELD_NAMES, KINDS, MEMBER_OPS, Builder, from_form
from app.errors import SteplineError
from app.friends.segments import SEGMENT_ID
from app.models.base import utcnow
from app.models.contacts import FIELD_TYPES
from app.services import contacts, friend_import
from app.services import fields as fields_service
from app.services import segments as segments_service

PER_PAGE = 100
LONG_QUERY = 1500  # longer searches (pasted id lists) travel by POST, not in the URL


def _legacy_nodes(values: Any) -> list[dict[str, Any]]:
    """The old quick filters (``tag``, ``attribute=key=value``, ``status``) as filter nodes."""
    nodes: list[dict[str, Any]] = []
    if values.get("tag"):
        nodes.append({"tag": values["tag"].strip()})
    key, sep, raw = values.get("attribute", "").partition("=")
    if sep and key.strip():
        try:
            value = json.loads(raw.strip())
        except ValueError:
            value = raw.strip()
        nodes.append({"attribute": key.strip(), "eq": value if isinstance(value, str | int | float | bool) else raw})
    if values.get("status") in ("active", "blocked", "test"):
        nodes.append({"field": "status", "eq": values["status"]})
    return nodes


def _tree(builder: Builder, values: Any) -> dict[str, Any] | None:
    """The builder's tree, the raw filter box and the quick filters, ANDed."""
    parts = [t for t in (builder.tree(),) if t] + _legacy_nodes(values)
    raw = values.get("filter", "").strip()
    if raw:
        parsed = yaml.safe_load(raw)
        if parsed:
            parts.append(parsed)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"all": parts}


def _state(builder: Builder, values: Any) -> dict[str, str]:
    """The form fields that reproduce this search (pager, bulk forms)."""
    state = {"q": values.get("q", ""), "filter": values.get("filter", ""), "match": builder.match,
             "rows": str(len(builder.rows)), "tag": values.get("tag", ""), "attribute": values.get("attribute", ""),
             "status": values.get("status", "")}
    for i, row in enumerate(builder.rows):
        state.update({f"k{i}": row.kind, f"n{i}": row.name, f"o{i}": row.op, f"v{i}": row.value})
    return {k: v for k, v in state.items() if v}


def _query(values: Any) -> tuple[contacts.FriendQuery, Builder]:
    """The search the form asks for (its filter's segments are checked by the use case)."""
    builder = from_form(values)
    return contacts.FriendQuery(values.get("q"), _tree(builder, values), values.get("segment")), builder


@bp.route("/friends", methods=["GET", "POST"])
@requires("viewer")
def friends() -> tuple[str, int]:
    """The friend list: bulk search by pasted ids or names, the AND/OR builder, a count, 100 a page."""
    values = request.values
    page = 1
    query: contacts.FriendQuery | None = None
    refused: Exception | None = None
    builder = from_form(values)
    try:
        page, _ = contacts.page_numbers(values.get("page"), PER_PAGE)
        query, builder = _query(values)
    except (SteplineError, yaml.YAMLError) as exc:
        refused = exc
    listing = contacts.friend_list(query, page, PER_PAGE, utcnow())
    refused = refused or listing.error
    error = str(refused) if refused is not None else None
    details: list[Any] = list(getattr(refused, "details", []) or [])
    status = 200 if refused is None else 400
    total = listing.total
    state = _state(builder, values)
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    method = "post" if len(values.get("q", "")) > LONG_QUERY else "get"
    return render_template("dashboard/friends.html", section="friends", total=total, rows=listing.rows, page=page,
                           hidden=listing.hidden, builder=builder,
                           state=state, pages=pages, method=method, error=error, details=details,
                           everyone=listing.everyone, tags=listing.tags, segments=listing.segments,
                           fields=listing.fields, kinds=KINDS,
                           attribute_ops=ATTRIBUTE_OPS, member_ops=MEMBER_OPS, field_names=FIELD_NAMES,
                           actions=contacts.BULK_ACTIONS, values=values), status


@bp.route("/friends/bulk", methods=["POST"])
@requires("operator")
def friends_bulk() -> Response | str:
    """A bulk action on the ticked friends or on all N matching: the impact first, then on confirm, the action."""
    form = request.form
    body = {"action": form.get("action"), "value": form.get("value") or None}
    user_ids = form.getlist("user_id")
    try:
        query = _query(form)[0] if form.get("all_matching") else contacts.FriendQuery(user_ids=user_ids)
        if not form.get("confirm"):
            impact = contacts.bulk(body, utcnow(), dry_run=True, query=query)
            return render_template("dashboard/friends_bulk.html", section="friends", impact=impact, body=body,
                                   form=form, user_ids=user_ids)
        result = contacts.bulk(body, utcnow(), query=query)
    except SteplineError as exc:
        flash(f"{body['action']}: {exc}", "error")
        return redirect(url_for("dashboard.friends"))
    audit_note(action=body["action"], value=body["value"], matched=result["matched"], changed=result["changed"])
    flash(f"{body['action']}: {result['matched']} matched, {result['changed']} changed.", "success")
    return redirect(url_for("dashboard.friends"))


@bp.route("/friends/<int:friend_id>/edit", methods=["POST"])
@requires("operator")
def friend_edit(friend_id: int) -> Response:
    """Inline edit of a friend's fields, free attributes, tags and opt-out."""
    form = request.form
    attributes: dict[str, Any] = {}
    for key in form:
        if key.startswith("attr:"):
            value = form[key].strip()
            attributes[key[5:]] = value if value else None
    if form.get("new_name", "").strip():
        raw = form.get("new_value", "").strip()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw
        attributes[form["new_name"].strip()] = parsed if isinstance(parsed, str | int | float | bool) else raw
    body: dict[str, Any] = {"attributes": attributes,
                            "add_tags": [t.strip() for t in form.get("add_tags", "").split(",") if t.strip()],
                            "remove_tags": form.getlist("remove_tag"), "opted_out": bool(form.get("opted_out"))}
    try:
        user_id = contacts.edit_friend(friend_id, body, utcnow())
    except SteplineError as exc:
        details = "; ".join(f"{d.get('field', d.get('path', ''))}: {d.get('message')}"
                            for d in getattr(exc, "details", []) if isinstance(d, dict))
        flash(f"{exc}{' — ' + details if details else ''}", "error")
    else:
        if user_id is None:
            abort(404)
        audit_note(user_id=user_id, changed=sorted(k for k, v in body.items() if v))
        flash("Saved.", "success")
    return redirect(url_for("dashboard.friend", friend_id=friend_id))


@bp.route("/fields")
@requires("viewer")
def fields_page() -> str:
    rows = fields_service.list_fields(include_archived=True)
    return render_template("dashboard/fields.html", section="fields", fields=rows, types=FIELD_TYPES)


@bp.route("/fields", methods=["POST"])
@requires("admin")
def fields_save() -> Response:
    form = request.form
    name = form.get("name", "").strip()
    body: dict[str, Any] = {"type": form.get("type"), "label": form.get("label") or None,
                            "choices": [c.strip() for c in form.get("choices", "").split(",") if c.strip()]}
    if form.get("position", "").strip():
        try:
            body["position"] = int(form["position"])
        except ValueError:
            body["position"] = form["position"]
    try:
        fields_service.put_field(name, body, utcnow())
    except SteplineError as exc:
        flash(f"{name}: {exc} " + "; ".join(str(d.get("message")) for d in getattr(exc, "details", [])), "error")
    else:
        audit_note(field=name)
        flash(f"Field {name} saved.", "success")
    return redirect(url_for("dashboard.fields_page"))


@bp.route("/fields/<name>/<action>", methods=["POST"])
@requires("admin")
def fields_archive(name: str, action: str) -> Response:
    if action not in ("archive", "restore"):
        abort(404)
    try:
        fields_service.set_archived(name, action == "archive", utcnow())
    except SteplineError as exc:
        flash(str(exc), "error")
    else:
        audit_note(field=name, action=action)
        flash(f"Field {name}: {action} done.", "success")
    return redirect(url_for("dashboard.fields_page"))


@bp.route("/segments")
@requires("viewer")
def segments_page() -> str:
    rows = segments_service.list_segments(utcnow())
    return render_template("dashboard/segments.html", section="segments", segments=rows, id_pattern=SEGMENT_ID.pattern)


@bp.route("/segments", methods=["POST"])
@requires("admin")
def segments_save() -> Response:
    form = request.form
    segment_id = form.get("id", "").strip()
    try:
        document = {"name": form.get("name", "").strip() or segment_id,
                    "filter": segments_service.parse_document(form.get("filter", ""))}
        segments_service.put_segment(segment_id, document, utcnow(), with_count=False)
    except SteplineError as exc:
        flash(f"{segment_id}: {exc} " + "; ".join(str(d.get("message")) for d in getattr(exc, "details", [])), "error")
    else:
        audit_note(segment=segment_id)
        flash(f"Segment {segment_id} saved.", "success")
    return redirect(url_for("dashboard.segments_page"))


@bp.route("/segments/<segment_id>/delete", methods=["POST"])
@requires("admin")
def segments_delete(segment_id: str) -> Response:
    try:
        segments_service.delete_segment(segment_id)
    except SteplineError as exc:
        flash(str(exc), "error")
    else:
        audit_note(segment=segment_id)
        flash(f"Segment {segment_id} deleted.", "success")
    return redirect(url_for("dashboard.segments_page"))


@bp.route("/friends/import", methods=["GET", "POST"])
@requires("operator")
def friends_import() -> tuple[str, int]:
    """Upload a CSV: the counts, or every bad cell (and nothing changed)."""
    if request.method == "GET":
        return render_template("dashboard/friends_import.html", section="friends"), 200
    request.max_content_length = IMPORT_MAX_BYTES
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_template("dashboard/friends_import.html", section="friends",
                               message="Choose a CSV file."), 400
    try:
        result = friend_import.import_csv(friend_import.text_lines(upload.stream), utcnow())  # type: ignore[arg-type]
    except SteplineError as exc:
        return render_template("dashboard/friends_import.html", section="friends", message=str(exc),
                               errors=list(getattr(exc, "details", []))[:500]), 422
    audit_note(**result.to_dict())
    return render_template("dashboard/friends_import.html", section="friends", result=result.to_dict()), 200
