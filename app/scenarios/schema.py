"""The scenario document (SPEC §2) as pydantic models: every field checked, unknown fields rejected."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Discriminator, Field, Tag, ValidationError, model_validator
from pydantic_core import InitErrorDetails

from app.scenarios.fields import (
    ERROR_TYPE,
    NAME_PATTERN,
    TAGS,
    ClockTime,
    Duration,
    StrictModel,
    fail,
    keyed_union,
)
from app.scenarios.filters import FilterNode
from app.scenarios.messages import Messages
from app.scenarios.rule_defs import (
    ActionDef,
    EnrollAction,
    GoalAction,
    GotoAction,
    HandoffAction,
    Keywords,
    KeywordWhen,
    MatchMode,
    OptInAction,
    OptOutAction,
    PostbackWhen,
    ReplyAction,
    RichMenuAction,
    RichMenuId,
    RuleDef,
    ScenarioId,
    SetAction,
    StepId,
    StopAction,
    TagAction,
    UntagAction,
    WhenDef,
    check_regex_keywords,
)

# rule and action models live in rule_defs.py (size); re-exported so callers import from one place
__all__ = [
    "ClickOn", "EventOn", "GoalOn", "TagOn",
    "ActionDef", "AfterAt", "AtDef", "AtMostEvery", "DayAt", "EnrollAction", "Frequency", "GoalAction", "GoalDef",
    "GotoAction", "HandoffAction", "KeywordWhen", "OptInAction", "OptOutAction", "PostbackWhen", "ReplyAction",
    "RichMenuAction", "RuleDef",
    "ScenarioDef", "SendWindowDef", "SetAction", "StartDef", "StepDef", "StopAction", "TagAction", "UntagAction",
    "WaitAt", "WhenDef", "WindowDef", "WEEKDAYS",
]

TRIGGER_EXPECTED = "expected one of: follow, keyword, manual, event:<name>"
FROM_EXPECTED = "expected one of: followed_at, last_message_at, birthday, trigger_time, attribute:<name>"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _trigger(v: str) -> str:
    if v in ("follow", "keyword", "manual") or (v.startswith("event:") and NAME_PATTERN.fullmatch(v[6:])):
        return v
    raise fail(f"{TRIGGER_EXPECTED}, got {v!r}")


def _start_from(v: str) -> str:
    fixed = ("followed_at", "last_message_at", "birthday", "trigger_time")
    if v in fixed or (v.startswith("attribute:") and NAME_PATTERN.fullmatch(v[10:])):
        return v
    raise fail(f"{FROM_EXPECTED}, got {v!r}")


def _timezone(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(f"expected an IANA time zone such as Asia/Tokyo, got {v!r}") from None
    return v




END_EXPECTED = "expected an ISO 8601 date (2026-12-31) or date-time (2026-12-31T18:00, offset optional)"


def _end(v: Any) -> str:
    """``end:`` kept as the ISO text written (a YAML date or datetime is turned back into it)."""
    if isinstance(v, datetime | date):
        return v.isoformat()
    if not isinstance(v, str):
        raise fail(f"{END_EXPECTED}, got {v!r}")
    try:
        datetime.fromisoformat(v.strip()) if len(v.strip()) > 10 else date.fromisoformat(v.strip())
    except ValueError:
        raise fail(f"{END_EXPECTED}, got {v!r}") from None
    return v.strip()


class WindowDef(StrictModel):
    """Validity period of the start date (inclusive dates)."""

    from_: date | None = Field(None, alias="from")
    until: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> WindowDef:
        if self.from_ and self.until and self.from_ > self.until:
            raise fail("expected from on or before until")
        return self


class StartDef(StrictModel):
    """What starts a friend's cycle and which date the steps count from.

    ``keywords``/``match`` (extension) say which words fire ``trigger: keyword``.
    """

    trigger: Annotated[str, AfterValidator(_trigger)]
    from_: Annotated[str, AfterValidator(_start_from)] = Field("trigger_time", alias="from")
    audience: Literal["new", "all"] = "new"
    on_start_change: Literal["restart", "reschedule", "ignore"] = "restart"
    on_refollow: Literal["resume", "restart", "stop"] = "resume"
    window: WindowDef | None = None
    keywords: Keywords | None = None
    match: MatchMode = "exact"

    @model_validator(mode="after")
    def _keywords_for_keyword_trigger(self) -> StartDef:
        if self.trigger == "keyword" and not self.keywords:
            raise fail("expected keywords: [...] with trigger: keyword")
        check_regex_keywords("StartDef", self.keywords, self.match)
        return self

    @property
    def event_name(self) -> str | None:
        """``purchase`` for ``trigger: event:purchase``."""
        return self.trigger[6:] if self.trigger.startswith("event:") else None

    @property
    def from_attribute(self) -> str | None:
        """``birthday_date`` for ``from: attribute:birthday_date``."""
        return self.from_[10:] if self.from_.startswith("attribute:") else None


class AtMostEvery(StrictModel):
    at_most_every: Duration


class SendWindowDef(StrictModel):
    """Local days and hours when pushes may go out; ``from`` == ``to`` means all day."""

    days: Annotated[list[Weekday], Field(min_length=1)] = Field(default_factory=lambda: list(WEEKDAYS))
    from_: ClockTime = Field(alias="from")
    to: ClockTime


def _window_shape(value: Any) -> str | None:
    if isinstance(value, dict | SendWindowDef):
        return "~window"
    return "~windows" if isinstance(value, list) else None


# one window or a list of them, chosen by shape so errors speak of the shape written
SendWindows = Annotated[
    Annotated[SendWindowDef, Tag("~window")] | Annotated[list[SendWindowDef], Field(min_length=1), Tag("~windows")],
    Discriminator(_window_shape, custom_error_type=ERROR_TYPE,
                  custom_error_message='expected a window {days: [...], from: "HH:MM", to: "HH:MM"} or a list of them'),
]
TAGS["~window"], TAGS["~windows"] = SendWindowDef, list[SendWindowDef]


class AfterAt(StrictModel):
    after: Duration


class DayAt(StrictModel):
    day: Annotated[int, Field(ge=0)]
    time: ClockTime


class WaitAt(StrictModel):
    wait: Duration


class StepDef(StrictModel):
    id: StepId
    at: AtDef
    messages: Messages
    if_: FilterNode | None = Field(None, alias="if")  # checked when the step falls due; no match: skipped
    # link this rich menu to the friend once the step is sent ("default" unlinks); SPEC §9
    rich_menu: RichMenuId | None = None


if TYPE_CHECKING:
    AtDef = AfterAt | DayAt | WaitAt
    Frequency = Literal["once", "every_time"] | AtMostEvery
else:
    AtDef = keyed_union('expected one of: {after: D}, {day: N, time: "HH:MM"}, {wait: D}',
                        ("after", AfterAt), ("day", DayAt), ("wait", WaitAt))
    Frequency = keyed_union("expected one of: once, every_time, {at_most_every: D}",
                            ("*str", Literal["once", "every_time"]), ("at_most_every", AtMostEvery))
StepDef.model_rebuild()


class ClickOn(StrictModel):
    """A click on a tracked link whose original URL contains this substring."""

    click: Annotated[str, Field(min_length=1, max_length=2000)]


class EventOn(StrictModel):
    """A named event (``POST /admin/api/events``)."""

    event: Annotated[str, Field(min_length=1, max_length=100)]


class TagOn(StrictModel):
    """The friend gets this tag (a rule, a route, an operator)."""

    tag: Annotated[str, Field(min_length=1, max_length=100)]


if TYPE_CHECKING:
    GoalOn = ClickOn | EventOn | TagOn
else:
    GoalOn = keyed_union("expected one of: {click: URL substring}, {event: NAME}, {tag: T}",
                         ("click", ClickOn), ("event", EventOn), ("tag", TagOn))


class GoalDef(StrictModel):
    """A conversion: reached by the rule action ``goal: ID`` or by what ``on`` names; counted once
    per enrollment cycle and only within ``within`` of the cycle's start date."""

    id: Annotated[str, Field(min_length=1)]
    within: Duration | None = None
    on: GoalOn | None = None


class ScenarioDef(StrictModel):
    """A whole scenario document; cross references (goto, goal, ids) are checked too."""

    id: ScenarioId
    name: Annotated[str, Field(min_length=1, max_length=200)]
    status: Literal["draft", "live", "paused"] = "draft"
    channel: Annotated[str, Field(min_length=1, max_length=64)] = "default"
    timezone: Annotated[str, AfterValidator(_timezone)] = "Asia/Tokyo"
    priority: int = 0
    start: StartDef
    filter: FilterNode | None = None
    frequency: Frequency = "once"
    respect_opt_out: bool = True
    on_quota_exhausted: Literal["hold", "skip"] = "hold"
    send_window: SendWindows | None = None
    skip_holidays: bool = False
    holiday_calendar: Literal["jp"] = "jp"
    holidays: list[date] = Field(default_factory=list)
    end: Annotated[str, BeforeValidator(_end)] | None = None
    steps: Annotated[list[StepDef], Field(min_length=1)]
    rules: list[RuleDef] = Field(default_factory=list)
    goals: list[GoalDef] = Field(default_factory=list)
    track_links: bool = True  # with PUBLIC_URL set, links are sent as PUBLIC_URL/l/<token> (SPEC §10)

    @model_validator(mode="after")
    def _references(self) -> ScenarioDef:
        errors: list[InitErrorDetails] = []

        def err(loc: tuple[str | int, ...], value: Any, message: str) -> None:
            errors.append(InitErrorDetails(type=fail(message), loc=loc, input=value))

        seen_steps = _first_seen([s.id for s in self.steps], ("steps",), err, "step")
        seen_goals = _first_seen([g.id for g in self.goals], ("goals",), err, "goal")
        for i, rule in enumerate(self.rules):
            for j, action in enumerate(rule.do):
                loc = ("rules", i, "do", j)
                if isinstance(action, GotoAction) and action.goto not in seen_steps:
                    err((*loc, "goto"), action.goto, f"unknown step {action.goto!r}: expected one of: "
                        + ", ".join(seen_steps))
                if isinstance(action, GoalAction) and action.goal not in seen_goals:
                    err((*loc, "goal"), action.goal, f"goal {action.goal!r} is not declared under goals:"
                        + (f" expected one of: {', '.join(seen_goals)}" if seen_goals else ""))
        if errors:
            raise ValidationError.from_exception_data(ERROR_TYPE, errors)
        return self

    @property
    def tz(self) -> ZoneInfo:
        """The scenario's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def windows(self) -> tuple[SendWindowDef, ...]:
        """The send windows as a tuple (``send_window`` may be one window or a list); empty = always open."""
        if self.send_window is None:
            return ()
        return tuple(self.send_window) if isinstance(self.send_window, list) else (self.send_window,)

    @property
    def end_at(self) -> datetime | None:
        """``end`` as an aware UTC instant: a date ends at the close of that local day, a date-time
        without offset is local to the scenario."""
        if self.end is None:
            return None
        if len(self.end) <= 10:
            next_day = date.fromisoformat(self.end) + timedelta(days=1)
            return datetime.combine(next_day, time(0, 0), tzinfo=self.tz).astimezone(UTC)
        moment = datetime.fromisoformat(self.end)
        return (moment if moment.tzinfo else moment.replace(tzinfo=self.tz)).astimezone(UTC)

    def step_index(self, step_id: str) -> int:
        """Position of a step by id; KeyError when the step does not exist (e.g. removed in a new version)."""
        for i, step in enumerate(self.steps):
            if step.id == step_id:
                return i
        raise KeyError(step_id)

    def definition(self) -> dict[str, Any]:
        """Normalised JSON form for storage; ``ScenarioDef.model_validate`` reads it back."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _first_seen(ids: list[str], where: tuple[str], err: Any, what: str) -> list[str]:
    seen: list[str] = []
    for i, value in enumerate(ids):
        if value in seen:
            err((*where, i, "id"), value, f"duplicate {what} id {value!r}")
        else:
            seen.append(value)
    return seen

