"""Rich menus (SPEC §9): load definitions onto LINE (menu, image, alias, default), move linked
friends to a re-loaded menu, link and unlink friends. Each function opens its own transactions,
never holding one across a call to LINE."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.config import Settings
from app.conversations.richmenu_links import DEFAULT, menu_summaries
from app.conversations.richmenu_schema import RichMenuDef, image_problem
from app.errors import BadRequest
from app.extensions import db
from app.line.channels import line_client
from app.line.client import LineApiError
from app.models.conversations import FriendRichMenu, RichMenu
from app.models.friends import Friend
from app.scenarios.errors import Issue, ScenarioInvalid
from app.scenarios.loader import parse_documents
from app.scenarios.yamlpos import compose_only, locate

log = logging.getLogger(__name__)
BULK_LINK_MAX = 500


def _issue(name: str, text: str, path: list[str | int], message: str) -> Issue:
    node = locate(compose_only(text), path, at_key=False)
    return Issue(name, node.start_mark.line + 1 if node else None, node.start_mark.column + 1 if node else None,
                 ".".join(str(p) for p in path), message)


def validate(names: list[str], texts: list[str], images: list[bytes | None] | None = None,
             channels: set[str] | None = None) -> list[tuple[RichMenuDef, bytes, str]]:
    """Parse and check every definition and its image (LINE's limits), all or nothing:
    ``(menu, image bytes, content type)`` or :class:`ScenarioInvalid` with positioned errors."""
    defs = parse_documents(list(zip(names, texts, strict=True)), RichMenuDef, "rich menu")
    issues: list[Issue] = []
    out = []
    for i, (name, text, menu) in enumerate(zip(names, texts, defs, strict=True)):
        data = images[i] if images and images[i] is not None else None
        if data is None:
            path = Path(menu.image) if Path(menu.image).is_absolute() else Path(name).parent / menu.image
            try:
                data = path.read_bytes()
            except OSError as exc:
                issues.append(_issue(name, text, ["image"], f"cannot read image {str(path)!r}: {exc.strerror}"))
                continue
        kind, problem = image_problem(data, menu.size)
        if problem:
            issues.append(_issue(name, text, ["image"], problem))
            continue
        if channels is not None and menu.channel not in channels:
            issues.append(_issue(name, text, ["channel"], f"unknown channel {menu.channel!r}"))
            continue
        out.append((menu, data, str(kind)))
    if issues:
        raise ScenarioInvalid(issues)
    return out


def load(names: list[str], texts: list[str], *, images: list[bytes | None] | None = None, settings: Settings,
         now: datetime, expected_id: str | None = None) -> list[dict[str, Any]]:
    """Create each menu on LINE, upload its image, point its alias at it, move its friends, set the
    default; then remember it. Re-loading makes a new LINE menu (LINE menus cannot change)."""
    checked = validate(names, texts, images, set(settings.channels))
    if expected_id is not None and checked[0][0].id != expected_id:
        raise BadRequest("rich menu id does not match the URL", [{"path": "id", "message":
                         f"the document's id is {checked[0][0].id!r} but the URL names {expected_id!r}"}])
    return [_load_one(menu, data, kind, settings, now) for menu, data, kind in checked]


def _load_one(menu: RichMenuDef, data: bytes, kind: str, settings: Settings, now: datetime) -> dict[str, Any]:
    client = line_client(settings, menu.channel)
    with db.read() as session:
        existing = session.get(RichMenu, menu.id)
        linked = list(session.scalars(sa.select(Friend.user_id).join(FriendRichMenu, FriendRichMenu.friend_id ==
                                                                     Friend.id)
                                      .where(FriendRichMenu.rich_menu_id == menu.id)))
    try:
        line_id = client.create_rich_menu(menu.line_object())
        client.upload_rich_menu_image(line_id, data, kind)
        client.set_rich_menu_alias(menu.id, line_id, exists=existing is not None)
        for start in range(0, len(linked), BULK_LINK_MAX):
            client.link_rich_menu_many(linked[start:start + BULK_LINK_MAX], line_id)
        if menu.default:
            client.set_default_rich_menu(line_id)
    except LineApiError as exc:
        raise BadRequest("LINE refused the rich menu", [{"path": menu.id, "message": str(exc),
                                                         "status": exc.status}]) from exc
    with db.transaction() as session:
        row = session.get(RichMenu, menu.id, with_for_update=True)
        action = "updated" if row is not None else "created"
        if row is None:
            row = RichMenu(id=menu.id, channel=menu.channel, name=menu.name, line_id=line_id, version=0,
                           definition={})
            session.add(row)
        row.name, row.channel, row.line_id, row.definition = menu.name, menu.channel, line_id, menu.model_dump()
        row.version, row.updated_at = row.version + 1, now
        if menu.default:
            session.execute(sa.update(RichMenu).where(RichMenu.channel == menu.channel, RichMenu.id != menu.id)
                            .values(is_default=False).execution_options(synchronize_session=False))
            row.is_default = True
        result = {"id": row.id, "line_id": line_id, "action": action, "version": row.version,
                  "default": row.is_default, "moved_friends": len(linked)}
    log.info("rich menu %s loaded as %s (%d friends moved)", menu.id, line_id, len(linked))
    return result


def list_menus() -> list[dict[str, Any]]:
    """Every loaded rich menu with how many friends have it linked."""
    with db.read() as session:
        return menu_summaries(session)


def link_on_line(settings: Settings, channel: str, user_id: str, menu_id: str) -> bool:
    """Make LINE show the friend ``menu_id`` (``default``: unlink, the channel default shows)."""
    client = line_client(settings, channel)
    try:
        if menu_id == DEFAULT:
            client.unlink_rich_menu(user_id)
            return True
        with db.session() as session:
            line_id = session.scalar(sa.select(RichMenu.line_id).where(RichMenu.id == menu_id))
        if line_id is None:
            return False
        client.link_rich_menu(user_id, line_id)
        return True
    except LineApiError as exc:
        log.warning("rich menu %s not linked for a friend on %s: %s", menu_id, channel, exc.status)
        return False


# --- steps with ``rich_menu:`` (linked after they are sent, off the sender's hot path) ----------

def _step_menus(session: Session) -> dict[tuple[str, int, str], str]:
    """``(scenario, version, step) → menu`` for every live scenario version with such a step."""
    from app.models.scenarios import SCENARIO_LIVE, Scenario
    from app.scenarios.store import definition_for

    found: dict[tuple[str, int, str], str] = {}
    for scenario_id, version in session.execute(sa.select(Scenario.id, Scenario.version)
                                                .where(Scenario.status == SCENARIO_LIVE)).all():
        for step in definition_for(session, scenario_id, version).steps:
            if step.rich_menu:
                found[(scenario_id, version, step.id)] = step.rich_menu
    return found


def link_sent_steps(settings: Settings, since: datetime, until: datetime) -> int:
    """Link the menus of steps sent in ``(since, until]`` (idempotent: a friend already linked to
    that menu since the send is skipped). The sender writes nothing more for this: the sweep reads
    the sent deliveries by their send-time index, and only when some live step names a menu."""
    from app.conversations.richmenu_links import link_in_db
    from app.models.delivery import DELIVERY_SENT, Delivery

    with db.session() as session:
        menus = _step_menus(session)
        if not menus:
            return 0
        steps = {(s, st) for s, _v, st in menus}
        rows = session.execute(
            sa.select(Delivery.friend_id, Delivery.scenario_id, Delivery.scenario_version, Delivery.step_id,
                      Delivery.sent_at, Delivery.channel)
            .where(Delivery.sent_at > since, Delivery.sent_at <= until, Delivery.status == DELIVERY_SENT,
                   Delivery.scenario_id.in_({s for s, _ in steps}), Delivery.step_id.in_({st for _, st in steps}))
            .order_by(Delivery.sent_at)).all()
    linked = 0
    for row in rows:
        menu = menus.get((row.scenario_id, row.scenario_version, row.step_id))
        if menu is None:
            continue
        with db.transaction() as session:
            current = session.get(FriendRichMenu, row.friend_id)
            if current is not None and current.rich_menu_id == menu and current.linked_at >= row.sent_at:
                continue
            if not link_in_db(session, row.friend_id, menu, row.sent_at):
                continue
            user_id = session.scalar(sa.select(Friend.user_id).where(Friend.id == row.friend_id))
        if user_id and link_on_line(settings, row.channel, str(user_id), menu):
            linked += 1
    return linked
