"""Rule definitions of a scenario: ``when`` (keywords or postback data) and ``do`` (actions)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails

from app.scenarios.fields import ID_PATTERN, STEP_ID_PATTERN, StrictModel, check_pattern, fail, keyed_union
from app.scenarios.messages import Messages, PostbackData
from app.scenarios.regex import RegexInvalid, compile_keyword


def _scenario_id(v: str) -> str:
    return check_pattern(v, ID_PATTERN, "a scenario id")


def _step_id(v: str) -> str:
    return check_pattern(v, STEP_ID_PATTERN, "an id")


def _as_list(v: Any) -> Any:
    return [v] if isinstance(v, str | int) else v


ScenarioId = Annotated[str, AfterValidator(_scenario_id), Field(json_schema_extra={"pattern": "^[a-z0-9-]+$"})]
StepId = Annotated[str, AfterValidator(_step_id), Field(json_schema_extra={"pattern": "^[A-Za-z0-9_-]+$"})]
Keywords = Annotated[list[Annotated[str, Field(min_length=1)]], BeforeValidator(_as_list), Field(min_length=1)]
MatchMode = Literal["exact", "contains", "regex"]


def check_regex_keywords(model: str, keywords: list[str] | None, match: str) -> None:
    """With ``match: regex``, each keyword must be RE2 syntax: an error positioned at the keyword."""
    if match != "regex" or not keywords:
        return
    errors = []
    for i, pattern in enumerate(keywords):
        try:
            compile_keyword(pattern)
        except RegexInvalid as exc:
            errors.append(InitErrorDetails(type=fail(str(exc)), loc=("keyword" if model == "KeywordWhen"
                                                                      else "keywords", i), input=pattern))
    if errors:
        raise ValidationError.from_exception_data(model, errors)


class KeywordWhen(StrictModel):
    keyword: Keywords
    match: MatchMode = "exact"

    @model_validator(mode="after")
    def _regex_compiles(self) -> KeywordWhen:
        check_regex_keywords("KeywordWhen", self.keyword, self.match)
        return self


class PostbackWhen(StrictModel):
    postback: PostbackData


class ReplyAction(StrictModel):
    reply: Messages


class GotoAction(StrictModel):
    goto: StepId


class StopAction(StrictModel):
    stop: Literal[True]


class TagAction(StrictModel):
    tag: Annotated[str, Field(min_length=1)]


class UntagAction(StrictModel):
    untag: Annotated[str, Field(min_length=1)]


def _scalars(v: dict[str, Any]) -> dict[str, Any]:
    for key, value in v.items():
        if not isinstance(value, str | int | float | bool | type(None)):
            raise fail(f"expected a text, number, true/false or null value for {key!r}")
    return v


class SetAction(StrictModel):
    set_: Annotated[dict[str, Any], AfterValidator(_scalars), Field(min_length=1)] = Field(alias="set")


class EnrollAction(StrictModel):
    enroll: ScenarioId


class GoalAction(StrictModel):
    goal: Annotated[str, Field(min_length=1)]


class OptOutAction(StrictModel):
    opt_out: Literal[True]


class OptInAction(StrictModel):
    opt_in: Literal[True]


class HandoffOptions(StrictModel):
    note: Annotated[str, Field(max_length=1000)] | None = None
    pause_steps: bool = False


class HandoffAction(StrictModel):
    """Hand the friend to staff: rule replies stop until the handoff is closed (SPEC §9)."""

    handoff: Literal[True] | HandoffOptions

    @property
    def options(self) -> HandoffOptions:
        return self.handoff if isinstance(self.handoff, HandoffOptions) else HandoffOptions()


RICH_MENU_ID_PATTERN = re.compile(r"[a-z0-9_-]{1,32}")


def _rich_menu_id(v: str) -> str:
    return check_pattern(v, RICH_MENU_ID_PATTERN, "a rich menu id ([a-z0-9_-], at most 32) or default")


RichMenuId = Annotated[str, AfterValidator(_rich_menu_id)]


class RichMenuAction(StrictModel):
    """Link a rich menu (by its id) to the friend; ``default`` unlinks (the channel default shows)."""

    rich_menu: RichMenuId


if TYPE_CHECKING:
    WhenDef = KeywordWhen | PostbackWhen
    ActionDef = (ReplyAction | GotoAction | StopAction | TagAction | UntagAction | SetAction | EnrollAction
                 | GoalAction | OptOutAction | OptInAction | HandoffAction | RichMenuAction)
else:
    WhenDef = keyed_union("expected one of: {keyword: [...], match: exact|contains|regex}, {postback: data}",
                          ("keyword", KeywordWhen), ("postback", PostbackWhen))
    ActionDef = keyed_union(
        "expected an action: one of reply, goto, stop, tag, untag, set, enroll, goal, opt_out, opt_in, handoff,"
        " rich_menu",
        ("reply", ReplyAction), ("goto", GotoAction), ("stop", StopAction), ("tag", TagAction),
        ("untag", UntagAction), ("set", SetAction), ("enroll", EnrollAction), ("goal", GoalAction),
        ("opt_out", OptOutAction), ("opt_in", OptInAction), ("handoff", HandoffAction),
        ("rich_menu", RichMenuAction))




class RuleDef(StrictModel):
    """When a friend's text or postback matches, do these actions (first matching rule wins)."""

    when: WhenDef
    do: Annotated[list[ActionDef], Field(min_length=1)]

    @model_validator(mode="after")
    def _one_reply(self) -> RuleDef:
        if sum(isinstance(a, ReplyAction) for a in self.do) > 1:
            raise fail("expected at most one reply action per rule (a reply token is single use)")
        return self


