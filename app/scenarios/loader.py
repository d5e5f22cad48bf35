"""Scenario text (YAML or JSON) → :class:`ScenarioDef`, with errors at file:line:column.

Pydantic error locations are mapped onto the YAML node tree composed alongside the data.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import replace
from typing import Any, TypeVar, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import Node

from app.limits import (
    MAX_ALIAS_EXPANSION,
    MAX_DOCUMENT_NESTING,
    MAX_REPORTED_ERRORS,
    check_document_size,
)
from app.scenarios.errors import Issue, ScenarioInvalid
from app.scenarios.fields import ERROR_TYPE, TAGS, UNION_KEYS
from app.scenarios.schema import ScenarioDef
from app.scenarios.yamlpos import (
    Locator,
    ShapeError,
    check_shape,
    compose_and_construct,
    compose_only,
    duplicate_keys,
    locate,
)

M = TypeVar("M", bound=BaseModel)


def parse_scenario(text: str, source_name: str = "<input>") -> ScenarioDef:
    """Parse one document; raise :class:`ScenarioInvalid` listing every problem found."""
    scenario, issues, _ = _parse(text, source_name)
    if issues or scenario is None:
        raise ScenarioInvalid(issues)
    return scenario


def parse_scenarios(files: list[tuple[str, str]]) -> list[ScenarioDef]:
    """Parse ``(name, text)`` pairs all-or-nothing: errors of every file are raised together,
    and two files declaring the same scenario id is an error too."""
    return parse_documents(files, ScenarioDef, "scenario")


def parse_documents(files: list[tuple[str, str]], model: type[M], what: str) -> list[M]:
    """Parse ``(name, text)`` pairs into ``model`` documents (scenarios, rule sets, rich menus)
    all-or-nothing, with positioned errors; two files with the same ``id`` is an error too."""
    issues: list[Issue] = []
    parsed: list[M] = []
    first_file: dict[str, str] = {}
    for name, text in files:
        scenario, file_issues, root = _parse(text, name, model)
        issues.extend(file_issues)
        if scenario is None:
            continue
        if scenario.id in first_file:  # type: ignore[attr-defined]
            issues.append(_issue(name, locate(root, ["id"], at_key=False), ["id"],
                                 f"duplicate {what} id {scenario.id!r} (also in {first_file[scenario.id]})"))
        else:
            first_file[scenario.id] = name
            parsed.append(scenario)
    if issues:
        raise ScenarioInvalid(issues)
    return parsed


def _parse(text: str, name: str, model: type[Any] = ScenarioDef) -> tuple[Any, list[Issue], Node | None]:
    """(scenario or None, issues sorted by position, node tree for positions).

    Bounded work whatever the text (SPEC §12): :class:`app.limits.DocumentTooLarge` past the size
    limit, an issue for nesting or alias expansion past the limits, at most
    ``MAX_REPORTED_ERRORS`` issues located (in one pass) and reported.
    """
    check_document_size(name, text)
    try:
        root, data = _read(text)
        check_shape(root, max_depth=MAX_DOCUMENT_NESTING, max_alias_expansion=MAX_ALIAS_EXPANSION)
        if root is None:
            _check_data_depth(data, MAX_DOCUMENT_NESTING)
    except ShapeError as exc:
        mark = exc.mark
        return None, [Issue(name, mark.line + 1 if mark else None, mark.column + 1 if mark else None, "",
                            str(exc))], None
    except RecursionError:
        return None, [Issue(name, None, None, "", f"nesting deeper than {MAX_DOCUMENT_NESTING} levels")], None
    except json.JSONDecodeError as exc:
        return None, [Issue(name, exc.lineno, exc.colno, "", f"invalid JSON: {exc.msg}")], None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return None, [Issue(name, mark.line + 1 if mark else None, mark.column + 1 if mark else None, "",
                            yaml_problem(exc))], None
    except yaml.YAMLError as exc:
        return None, [Issue(name, None, None, "", f"invalid YAML: {exc}")], None
    issues = [_issue(name, key, [], f"duplicate key {key_name!r} in one mapping") for key, key_name in
              duplicate_keys(root)]
    if data is None:
        what = "scenario" if model is ScenarioDef else "document"
        return None, [Issue(name, 1, 1, "", f"empty document: expected a {what} mapping")], root
    try:
        scenario = model.model_validate(data)
    except ValidationError as exc:
        scenario = None
        issues.extend(_from_pydantic(name, Locator(root), exc.errors(), model))
    issues.sort(key=lambda i: (i.line or 0, i.column or 0, i.path))
    if len(issues) > MAX_REPORTED_ERRORS:
        left = len(issues) - MAX_REPORTED_ERRORS
        issues = issues[:MAX_REPORTED_ERRORS] + [Issue(name, None, None, "", f"{left} more error(s) not listed")]
    return (scenario if not issues else None), issues, root


_YAML_HINTS = {
    "mapping values are not allowed here": (
        "a key: value where none can start — usually an indentation mistake (a line indented more or less "
        "than the keys beside it), or a value containing ': ' that needs quotes"),
    "could not find expected ':'": "a key without ':' — or a line indented differently from the keys beside it",
    "expected ',' or '}'": "an inline {...} mapping not closed: a missing '}' or ',' (or a value with ': ' to quote)",
    "expected ',' or ']'": "an inline [...] list not closed: a missing ']' or ','",
    "found character '\\t' that cannot start any token": "a tab: indent YAML with spaces only",
}


def yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's message in the admin's terms: where and the likely cause (the position is the Issue's)."""
    problem = " ".join(p for p in (exc.context, exc.problem) if p)
    for raw, hint in _YAML_HINTS.items():
        if raw in problem:
            mark = exc.problem_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            return f"invalid YAML{where}: {hint}"
    return f"invalid YAML: {problem}"


def _check_data_depth(data: Any, limit: int) -> None:
    """Depth of plain data (JSON the YAML composer could not read for positions), iteratively."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            raise ShapeError(f"nesting deeper than {limit} levels", None)
        stack.extend((child, depth + 1) for child in children)


def _read(text: str) -> tuple[Node | None, Any]:
    if text.lstrip().startswith(("{", "[")):  # JSON: exact JSON semantics, YAML only for positions
        data = json.loads(text)
        return compose_only(text), data
    return compose_and_construct(text)


def _issue(name: str, node: Node | None, path: list[str | int], message: str) -> Issue:
    line = node.start_mark.line + 1 if node is not None else None
    column = node.start_mark.column + 1 if node is not None else None
    return Issue(name, line, column, format_path(path), message)


def format_path(path: list[str | int]) -> str:
    """``["steps", 1, "at"]`` → ``steps[1].at``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _from_pydantic(name: str, locator: Locator, errors: list[ErrorDetails],
                   model: type[Any] = ScenarioDef) -> list[Issue]:
    """Issues for pydantic's errors: every one located (cheap), the messages (difflib hints)
    written only for the first ``MAX_REPORTED_ERRORS`` by position; the rest are only counted."""
    located: list[tuple[Issue, ErrorDetails | None, list[Any]]] = []
    for err in errors:
        loc = list(err["loc"])
        path = [p for p in loc if not (isinstance(p, str) and p.startswith("~"))]
        wrong_key = _unknown_union_key(err)
        if wrong_key is not None:  # name the key itself, with its did-you-mean
            key, message = wrong_key
            located.append((_issue(name, locator.locate([*path, key], at_key=True), [*path, key], message), None, loc))
            continue
        node = locator.locate(path, at_key=err["type"] == "extra_forbidden")
        located.append((_issue(name, node, path, ""), err, loc))
    located.sort(key=lambda item: (item[0].line or 0, item[0].column or 0, item[0].path))
    return [issue if err is None
            else replace(issue, message=_message(err, loc, model) if index < MAX_REPORTED_ERRORS else "")
            for index, (issue, err, loc) in enumerate(located)]


def _unknown_union_key(err: ErrorDetails) -> tuple[str, str] | None:
    """``at: {wiat: 5d}``: name the key no shape has, with the closest one (``wait``)."""
    keys = UNION_KEYS.get(err["msg"]) if err["type"] == ERROR_TYPE else None
    value = err.get("input")
    if not keys or not isinstance(value, dict):
        return None
    unknown = [str(k) for k in value if k not in keys]
    if not unknown:
        return None
    close = difflib.get_close_matches(unknown[0], keys, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return unknown[0], f"unknown key {unknown[0]!r}{hint} {err['msg']}"


def _message(err: ErrorDetails, loc: list[str | int], model: type[Any] = ScenarioDef) -> str:
    """What was expected, in the admin's terms."""
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == ERROR_TYPE:
        return err["msg"]
    if kind == "missing":
        return f"missing required field {loc[-1]!r}"
    if kind == "extra_forbidden":
        known = _fields_at(loc[:-1], model)
        hint = ""
        close = difflib.get_close_matches(str(loc[-1]), known or [], n=1)
        if close:
            hint = f"; did you mean {close[0]!r}?"
        return f"unknown field {loc[-1]!r}{hint}" + (f" expected one of: {', '.join(known)}" if known else "")
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"expected one of: {expected}, got {value!r}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping (key: value), got {value!r}"
    if kind == "list_type":
        return f"expected a list, got {value!r}"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length')} item(s), got {ctx.get('actual_length')}"
    if kind == "too_long":
        return f"expected at most {ctx.get('max_length')} item(s), got {ctx.get('actual_length')}"
    if kind == "string_too_short":
        return "expected a non-empty text"
    if kind == "string_too_long":
        return f"expected at most {ctx.get('max_length')} characters, got {len(str(value))}"
    msg = err["msg"].removeprefix("Value error, ")
    if msg.startswith("Input should be "):
        msg = "expected " + msg.removeprefix("Input should be ") + f", got {value!r}"
    return msg


def _fields_at(loc: list[str | int], root_model: type[Any] = ScenarioDef) -> list[str] | None:
    """Field names (as written in documents) of the model at a pydantic error location."""
    tp: Any = root_model
    for part in loc:
        tp = _child(tp, part)
        if tp is None:
            return None
    model = _unwrap(tp)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    document_fields = getattr(model, "document_fields", None)
    if document_fields:
        return list(document_fields)
    return [f.alias or n for n, f in model.model_fields.items()]


def _unwrap(tp: Any) -> Any:
    while True:
        args = [a for a in get_args(tp) if a is not type(None)]
        if hasattr(tp, "__metadata__"):  # Annotated[X, ...]
            tp = args[0]
        elif get_origin(tp) is not None and len(args) == 1 and get_origin(tp) not in (list, dict):
            tp = args[0]  # Optional[X]
        else:
            return tp


def _child(tp: Any, part: str | int) -> Any:
    if isinstance(part, str) and part.startswith("~"):
        return TAGS.get(part)
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
        for n, f in tp.model_fields.items():
            if part in (n, f.alias):
                return f.annotation
        return None
    args = get_args(tp)
    if get_origin(tp) is list and isinstance(part, int):
        return args[0]
    if get_origin(tp) is dict:
        return args[1]
    return None
