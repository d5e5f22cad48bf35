"""What the cross checks (``checks.py``) know from the database: stored scenarios, segments and
attribute fields; and the same checks run on a stored scenario's current version (preview)."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.models.contacts import FriendField, Segment
from app.models.scenarios import Scenario, ScenarioVersion
from app.scenarios import store as definitions
from app.scenarios.checks import CheckResult, FieldDefined, Known, SegmentExists, cross_check


# Hooks for lookups other areas own: each is called with the session and returns a predicate.
# Segments (SPEC §8) and friend fields plug in here; unset = segments unchecked, no field table.
def _segment_lookup(session: Session) -> SegmentExists:
    """Segments that exist now: a scenario naming another is refused, never matching nobody."""
    return set(session.scalars(sa.select(Segment.id))).__contains__


def _field_lookup(session: Session) -> FieldDefined:
    """Attributes a field defines (archived ones too: their values are kept)."""
    return set(session.scalars(sa.select(FriendField.name))).__contains__


SEGMENT_LOOKUP: Callable[[Session], SegmentExists] | None = _segment_lookup
FIELD_LOOKUP: Callable[[Session], FieldDefined] | None = _field_lookup


def known(session: Session | None, channels: Collection[str] | None, nearby: Collection[str] = ()) -> Known:
    """What exists besides the documents checked; without a session only they do (no database to
    ask: ``validate`` before the first migration)."""
    if session is None:
        return Known(scenarios=(), channels=set(channels) if channels else None, nearby=nearby)
    return Known(scenarios=set(session.scalars(sa.select(Scenario.id))),
                 channels=set(channels) if channels else None, nearby=nearby,
                 segment_exists=SEGMENT_LOOKUP(session) if SEGMENT_LOOKUP else None,
                 field_defined=FIELD_LOOKUP(session) if FIELD_LOOKUP else None)


def check_stored(session: Session, scenario: Scenario, *, channels: Collection[str] | None = None) -> CheckResult:
    """The upload's cross checks on a stored scenario's current version: what changed around it
    since its upload (a deleted ``enroll:`` target, a channel removed)."""
    version = session.scalars(sa.select(ScenarioVersion).where(
        ScenarioVersion.scenario_id == scenario.id, ScenarioVersion.version == scenario.version)).first()
    scn = definitions.definition_for(session, scenario.id, scenario.version)
    text = version.source if version is not None else json.dumps(definitions.dump_definition(scn))
    return cross_check([(version.source_name if version else scenario.id, text)], [scn], known(session, channels))
