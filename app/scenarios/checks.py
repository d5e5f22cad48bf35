"""Checks that need more than one document: references to other scenarios, channels, segments,
and (as warnings) attributes no field defines. Pure: what exists is passed in.

``validate`` (CLI), upload (API, dashboard) and the dry runs call :func:`cross_check` through
``app.services.scenario_upload.check``, preview through ``known.check_stored``, so validate never
says ok to what upload refuses.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from app.scenarios.errors import Issue
from app.scenarios.filters import AllFilter, AnyFilter, FilterNode, NotFilter, SegmentFilter
from app.scenarios.loader import format_path
from app.scenarios.schema import EnrollAction, ScenarioDef
from app.scenarios.variables import attribute_names
from app.scenarios.yamlpos import compose_only, locate

Path = list[str | int]
SegmentExists = Callable[[str], bool]  # the segments helper plugs its lookup in here
FieldDefined = Callable[[str], bool]  # the friend-fields helper plugs its lookup in here


@dataclass(frozen=True)
class Known:
    """What exists outside the documents being checked. ``channels`` None: not checked (nothing
    configured); ``segment_exists`` None: segments not checked; ``field_defined`` None: no field
    table, so every attribute a text reads is reported (as a warning)."""

    scenarios: Collection[str]
    channels: Collection[str] | None = None
    nearby: Collection[str] = ()  # ids only suggested, never accepted (files beside the ones checked)
    segment_exists: SegmentExists | None = None
    field_defined: FieldDefined | None = None


@dataclass
class CheckResult:
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)


def did_you_mean(value: str, candidates: Collection[str]) -> str:
    """``; did you mean 'x'?`` for the closest candidate, or nothing."""
    close = difflib.get_close_matches(value, sorted(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def enroll_targets(scn: ScenarioDef) -> list[tuple[Path, str]]:
    """``(path, scenario id)`` of every ``enroll:`` action of the scenario's rules."""
    return [(["rules", i, "do", j, "enroll"], action.enroll)
            for i, rule in enumerate(scn.rules) for j, action in enumerate(rule.do)
            if isinstance(action, EnrollAction)]


def segment_references(node: FilterNode | None, path: Path) -> Iterator[tuple[Path, str]]:
    """``(path, segment)`` of every segment condition of a filter tree."""
    if isinstance(node, SegmentFilter):
        yield [*path, "segment"], node.segment
    elif isinstance(node, AllFilter):
        for i, child in enumerate(node.all):
            yield from segment_references(child, [*path, "all", i])
    elif isinstance(node, AnyFilter):
        for i, child in enumerate(node.any):
            yield from segment_references(child, [*path, "any", i])
    elif isinstance(node, NotFilter):
        yield from segment_references(node.not_, [*path, "not"])


def _texts(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(value, str):
        if "{attribute." in value:
            yield path, value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _texts(child, [*path, key])
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _texts(child, [*path, i])


def attribute_uses(scn: ScenarioDef) -> list[tuple[Path, str]]:
    """``(path, attribute)`` for every attribute variable in the messages of steps and rules."""
    document = scn.definition()
    uses: list[tuple[Path, str]] = []
    for key in ("steps", "rules"):
        for path, text in _texts(document.get(key), [key]):
            uses.extend((path, name) for name in attribute_names(text))
    return uses


def cross_check(files: list[tuple[str, str]], defs: list[ScenarioDef], known: Known) -> CheckResult:
    """Every problem of these parsed documents against what exists (and each other)."""
    result = CheckResult()
    scenarios = set(known.scenarios) | {scn.id for scn in defs}
    for (name, text), scn in zip(files, defs, strict=True):
        root = compose_only(text)

        def issue(path: Path, message: str, *, name: str = name, root: Any = root) -> Issue:
            node = locate(root, path, at_key=False)
            return Issue(name, node.start_mark.line + 1 if node else None,
                         node.start_mark.column + 1 if node else None, format_path(path), message)

        for path, target in enroll_targets(scn):
            if target not in scenarios:
                hint = did_you_mean(target, scenarios) or did_you_mean(target, known.nearby)
                result.errors.append(issue(path, f"unknown scenario {target!r}{hint} "
                                                 "(upload it first or in the same set)"))
        if known.channels is not None and scn.channel not in known.channels:
            result.errors.append(issue(["channel"], f"unknown channel {scn.channel!r}"
                                       f"{did_you_mean(scn.channel, known.channels)} expected one of: "
                                       + ", ".join(sorted(known.channels))))
        if known.segment_exists is not None:
            trees: list[tuple[FilterNode | None, Path]] = [(scn.filter, ["filter"])]
            trees += [(step.if_, ["steps", i, "if"]) for i, step in enumerate(scn.steps)]
            for tree, at in trees:
                for path, segment in segment_references(tree, list(at)):
                    if not known.segment_exists(segment):
                        result.errors.append(issue(path, f"unknown segment {segment!r}: define it first "
                                                         f"(PUT /admin/api/segments/{segment} or segments load)"))
        for path, attribute in attribute_uses(scn):
            if known.field_defined is None or not known.field_defined(attribute):
                result.warnings.append(issue(path, f"no friend field defines attribute {attribute!r}: friends "
                                                   "without it get the fallback (or nothing)"))
    return result
