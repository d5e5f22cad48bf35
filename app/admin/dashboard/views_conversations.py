"""Conversations on the dashboard (SPEC §9): a friend's chat and send form, the handoff inbox, rule sets."""

from __future__ import annotations

import secrets
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.admin.auth import current_actor, requires
from app.admin.dashboard.blueprint import bp
from app.current import current_settings
from app.errors import SteplineError
from app.models.base import utcnow
from app.services import chats
from app.services import conversations as service
from app.services import rulesets as ruleset_service
from app.work import current_work

CHAT_PAGE = 100



@bp.app_context_processor
def _waiting_badge() -> dict[str, Any]:
    """The inbox badge on every page: how many friends wait for staff."""
    if request.blueprint != "dashboard" or request.endpoint in ("dashboard.login", "dashboard.static"):
        return {}
    return {"handoffs_waiting": chats.waiting_count()}


@bp.route("/friends/<int:friend_id>/chat")
@requires("viewer")
def chat(friend_id: int) -> str:
    """The friend's conversation, oldest first, with who sent what; a form to answer."""
    try:
        found = chats.chat(friend_id, CHAT_PAGE)
    except chats.UnknownFriend as exc:
        abort(404, description=str(exc))
    return render_template("dashboard/chat.html", section="inbox", friend=found.friend, entries=found.entries,
                           handoff=found.handoff, rich_menu=found.rich_menu, nonce=secrets.token_urlsafe(16))


@bp.route("/friends/<int:friend_id>/chat", methods=["POST"])
@requires("operator")
def chat_send(friend_id: int) -> Response:
    """Send the typed text; the form's nonce is the idempotency key (a double submit sends once)."""
    text = request.form.get("text", "").strip()
    try:
        user_id = chats.user_id_of(friend_id)
    except chats.UnknownFriend as exc:
        abort(404, description=str(exc))
    if not text:
        flash("Type a message first.", "error")
        return redirect(url_for("dashboard.chat", friend_id=friend_id))
    try:
        result = service.submit_operator_message(
            user_id, [{"text": text}], idempotency_key=request.form.get("nonce", ""), staff=current_actor(),
            settings=current_settings(), now=utcnow(), enqueue=current_work().send_operator_message)
    except SteplineError as exc:
        details = "; ".join(str(d.get("message", d)) if isinstance(d, dict) else str(d)
                            for d in getattr(exc, "details", []) or [])
        flash(f"{exc}{': ' + details if details else ''}", "error")
    else:
        flash(f"Sent by {result.via}." if result.status == "sent" else f"Message {result.status}: {result.error or ''}",
              "success" if result.status == "sent" else "error")
    return redirect(url_for("dashboard.chat", friend_id=friend_id))


@bp.route("/friends/<int:friend_id>/handoff/close", methods=["POST"])
@requires("operator")
def handoff_close(friend_id: int) -> Response:
    """Give the friend back to the bot."""
    try:
        chats.close_friend_handoff(friend_id, current_actor(), utcnow())
        flash("The bot answers this friend again.", "success")
    except chats.UnknownFriend as exc:
        abort(404, description=str(exc))
    except SteplineError as exc:
        flash(str(exc), "error")
    return redirect(request.form.get("next") or url_for("dashboard.chat", friend_id=friend_id))


@bp.route("/inbox")
@requires("viewer")
def inbox() -> str:
    """Open handoffs, the longest waiting first."""
    found = chats.inbox()
    return render_template("dashboard/inbox.html", section="inbox", waiting=found.waiting,
                           friend_ids=found.friend_ids)


@bp.route("/rulesets")
@requires("viewer")
def rulesets() -> str:
    """Rule sets (自動応答) and rich menus."""
    rows, menus = ruleset_service.rulesets_and_menus()
    return render_template("dashboard/rulesets.html", section="rulesets", rulesets=rows, menus=menus)


@bp.route("/rulesets/<ruleset_id>/<action>", methods=["POST"])
@requires("admin")
def ruleset_action(ruleset_id: str, action: str) -> Response:
    """Pause or publish a rule set."""
    if action not in ("pause", "publish"):
        abort(404)
    try:
        ruleset_service.set_status(ruleset_id, action == "publish", utcnow())
        flash(f"Rule set {ruleset_id}: {'live' if action == 'publish' else 'paused'}.", "success")
    except SteplineError as exc:
        flash(str(exc), "error")
    return redirect(url_for("dashboard.rulesets"))
