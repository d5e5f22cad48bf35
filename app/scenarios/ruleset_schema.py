"""A rule set document (SPEC §9): account-wide keyword/postback rules in the scenario rule format."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails

from app.scenarios.fields import ERROR_TYPE, StrictModel, fail
from app.scenarios.rule_defs import GoalAction, GotoAction, RuleDef, ScenarioId


class RuleSetDef(StrictModel):
    """Rules that answer every friend of the channel, enrolled in a scenario or not.

    ``goto`` and ``goal`` name a scenario's steps and goals, so they belong in scenarios; ``stop``
    here stops every active enrollment of the friend.
    """

    id: ScenarioId
    name: Annotated[str, Field(min_length=1, max_length=200)]
    status: Literal["live", "paused"] = "live"
    channel: Annotated[str, Field(min_length=1, max_length=64)] = "default"
    priority: int = 0
    rules: Annotated[list[RuleDef], Field(min_length=1)]

    @model_validator(mode="after")
    def _no_scenario_actions(self) -> RuleSetDef:
        errors: list[InitErrorDetails] = []
        for i, rule in enumerate(self.rules):
            for j, action in enumerate(rule.do):
                if isinstance(action, GotoAction | GoalAction):
                    key = "goto" if isinstance(action, GotoAction) else "goal"
                    errors.append(InitErrorDetails(
                        type=fail(f"{key} names a scenario's step or goal: use it in a scenario's rules,"
                                  " not in a rule set"), loc=("rules", i, "do", j, key), input=getattr(action, key)))
        if errors:
            raise ValidationError.from_exception_data(ERROR_TYPE, errors)
        return self

    def definition(self) -> dict[str, Any]:
        """Normalised JSON form for storage; ``RuleSetDef.model_validate`` reads it back."""
        return self.model_dump(mode="json", by_alias=True)
