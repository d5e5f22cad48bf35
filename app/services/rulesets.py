"""Rule sets (SPEC §9): upload (atomic, versions), list, publish/pause, delete — one service for the
API, the CLI and the dashboard. Each staff use case owns its transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.conversations import rulesets as cache
from app.conversations.richmenu_links import menu_summaries
from app.errors import NotFound
from app.extensions import db
from app.models.conversations import RULESET_LIVE, RULESET_PAUSED, RuleSet, RuleSetVersion
from app.models.scenarios import Scenario
from app.scenarios.errors import Issue, ScenarioInvalid
from app.scenarios.loader import format_path, parse_documents
from app.scenarios.rule_defs import EnrollAction
from app.scenarios.ruleset_schema import RuleSetDef
from app.scenarios.yamlpos import compose_only, locate

Action = Literal["created", "updated", "unchanged"]


@dataclass
class RuleSetUpload:
    """The outcome for one rule set of an upload (``ruleset`` as :func:`ruleset_dict` shows it)."""

    ruleset: dict[str, Any]
    action: Action
    version: int


def parse(files: list[tuple[str, str]]) -> list[RuleSetDef]:
    """Parse every ``(name, text)`` without the database (the id of a document before anything else)."""
    return parse_documents(files, RuleSetDef, "rule set")


def validate(files: list[tuple[str, str]], channels: set[str] | None = None) -> list[RuleSetDef]:
    """The checks of :func:`upload` without storing anything; raises :class:`ScenarioInvalid`
    listing every problem with its file, line and column."""
    with db.read() as session:
        return _validate(session, files, channels)


def _validate(session: Session, files: list[tuple[str, str]], channels: set[str] | None) -> list[RuleSetDef]:
    defs = parse(files)
    issues: list[Issue] = []
    known = set(session.scalars(sa.select(Scenario.id)))
    for (name, text), ruleset in zip(files, defs, strict=True):
        root = compose_only(text)
        if channels is not None and ruleset.channel not in channels:
            issues.append(_issue(name, root, ["channel"], f"unknown channel {ruleset.channel!r}: expected one of: "
                                 + ", ".join(sorted(channels))))
        for i, rule in enumerate(ruleset.rules):
            for j, action in enumerate(rule.do):
                if isinstance(action, EnrollAction) and action.enroll not in known:
                    issues.append(_issue(name, root, ["rules", i, "do", j, "enroll"],
                                         f"unknown scenario {action.enroll!r}: upload it first"))
    if issues:
        raise ScenarioInvalid(issues)
    return defs


def _issue(name: str, root: Any, path: list[str | int], message: str) -> Issue:
    node = locate(root, path, at_key=False)
    return Issue(name, node.start_mark.line + 1 if node else None, node.start_mark.column + 1 if node else None,
                 format_path(path), message)


def upload(files: list[tuple[str, str]], now: datetime, channels: set[str] | None = None) -> list[RuleSetUpload]:
    """Store every file or none; a changed definition becomes a new version; ``status`` is applied."""
    with db.transaction() as session:
        defs = _validate(session, files, channels)
        return [_store(session, ruleset_def, name, text, now)
                for (name, text), ruleset_def in zip(files, defs, strict=True)]


def upload_impact(files: list[tuple[str, str]], now: datetime, channels: set[str] | None = None) -> dict[str, Any]:
    """``?dry_run=1`` of an upload: the upload's checks, then :func:`_impact` of its channel; nothing stored."""
    with db.read() as session:
        (ruleset_def, *_) = _validate(session, files, channels)
        return _impact(session, ruleset_def.channel, now)


def _store(session: Session, ruleset_def: RuleSetDef, name: str, text: str, now: datetime) -> RuleSetUpload:
    definition = ruleset_def.definition()
    row = session.get(RuleSet, ruleset_def.id, with_for_update=True)
    action: Action
    if row is None:
        row = RuleSet(id=ruleset_def.id, name=ruleset_def.name, channel=ruleset_def.channel,
                      status=ruleset_def.status, priority=ruleset_def.priority, version=1, created_at=now,
                      updated_at=now)
        session.add(row)
        session.flush()
        action = "created"
    else:
        current = session.scalar(sa.select(RuleSetVersion.definition).where(
            RuleSetVersion.ruleset_id == row.id, RuleSetVersion.version == row.version))
        if current is not None and _same(current, definition):
            row.status = ruleset_def.status
            return RuleSetUpload(ruleset_dict(row), "unchanged", row.version)
        row.version += 1
        row.name, row.channel, row.priority, row.status = (ruleset_def.name, ruleset_def.channel,
                                                           ruleset_def.priority, ruleset_def.status)
        row.updated_at = now
        action = "updated"
    session.add(RuleSetVersion(ruleset_id=row.id, version=row.version, definition=definition, source=text,
                               source_name=name, created_at=now))
    cache.forget(row.id)
    return RuleSetUpload(ruleset_dict(row), action, row.version)


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def list_rulesets(channel: str | None = None) -> list[dict[str, Any]]:
    """Every rule set, the ones answering first (live, highest priority)."""
    with db.read() as session:
        return [ruleset_dict(row) for row in _rulesets(session, channel)]


def rulesets_and_menus() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The dashboard's auto-reply page: every rule set, and every rich menu with its friend count."""
    with db.read() as session:
        return [ruleset_dict(row) for row in _rulesets(session, None)], menu_summaries(session)


def _rulesets(session: Session, channel: str | None) -> list[RuleSet]:
    statement = sa.select(RuleSet).order_by(RuleSet.status, RuleSet.priority.desc(), RuleSet.id)
    if channel:
        statement = statement.where(RuleSet.channel == channel)
    return list(session.scalars(statement))


def _get(session: Session, ruleset_id: str, *, lock: bool = False) -> RuleSet:
    row = session.get(RuleSet, ruleset_id, with_for_update=lock)
    if row is None:
        raise NotFound(f"no rule set {ruleset_id!r}")
    return row


def ruleset_detail(ruleset_id: str) -> dict[str, Any]:
    """The rule set with its current definition and source, and every version (oldest first)."""
    with db.read() as session:
        row = _get(session, ruleset_id)
        versions = list(session.scalars(sa.select(RuleSetVersion).where(RuleSetVersion.ruleset_id == ruleset_id)
                                        .order_by(RuleSetVersion.version)))
        current = next(v for v in versions if v.version == row.version)
        return {"ruleset": ruleset_dict(row), "definition": current.definition, "source": current.source,
                "versions": [{"version": v.version, "created_at": v.created_at.isoformat(),
                              "source_name": v.source_name} for v in versions]}


def set_status(ruleset_id: str, live: bool, now: datetime) -> dict[str, Any]:
    """Publish (live: it answers) or pause (it stays quiet, its definition kept)."""
    with db.transaction() as session:
        row = _get(session, ruleset_id, lock=True)
        row.status, row.updated_at = (RULESET_LIVE if live else RULESET_PAUSED), now
        return ruleset_dict(row)


def publish_impact(ruleset_id: str, now: datetime) -> dict[str, Any]:
    """``?dry_run=1`` of a publish: :func:`_impact` of the rule set's channel; NotFound when it does not exist."""
    with db.read() as session:
        return _impact(session, _get(session, ruleset_id).channel, now)


def delete(ruleset_id: str) -> None:
    """Remove the rule set and its versions."""
    with db.transaction() as session:
        session.delete(_get(session, ruleset_id))
        cache.forget(ruleset_id)


def ruleset_dict(row: RuleSet) -> dict[str, Any]:
    """The JSON shape of a rule set row."""
    return {"id": row.id, "name": row.name, "channel": row.channel, "status": row.status,
            "priority": row.priority, "version": row.version, "created_at": row.created_at.isoformat(),
            "updated_at": row.updated_at.isoformat()}


def _impact(session: Session, channel: str, now: datetime) -> dict[str, Any]:
    """``?dry_run=1`` (SPEC §11): a rule set enrolls nobody and pushes nothing when stored or
    published (its rules act when friends write); the quota left is shown for completeness."""
    from app.quota import tracker

    return {"would_enroll": 0, "messages_due_now": 0, "quota_left": tracker.status(session, channel, now).remaining}
