"""``GET /admin/api/openapi.json``: the admin API's OpenAPI document, generated from the code.

Every rule under ``/admin/api`` in ``app.url_map`` is listed (routes added later appear without
editing this file); a view decorated with :func:`api_schema` contributes the JSON schemas of
its pydantic request/query/response models. The fuzz suite (tests/fuzz) drives schemathesis
from this document, so an undeclared body is still fuzzed as "any JSON".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, current_app, jsonify
from pydantic import BaseModel

from app.admin.auth import requires
from app.limits import MAX_DB_INTEGER

F = TypeVar("F", bound=Callable[..., Any])
API_PREFIX = "/admin/api"
_SCHEMA_ATTRIBUTE = "_stepline_api_schema"
_ARGUMENT = re.compile(r"<(?:(?P<converter>[a-zA-Z_]+)(?:\([^)]*\))?:)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")

bp = Blueprint("admin_api_openapi", __name__, url_prefix=API_PREFIX)


def api_schema(*, request: type[BaseModel] | None = None, response: type[BaseModel] | None = None,
               query: type[BaseModel] | None = None) -> Callable[[F], F]:
    """Declare the pydantic models of a view's JSON body, query string and 200 answer for the
    OpenAPI document. Documentation only: the view still validates its own input."""

    def decorate(view: F) -> F:
        setattr(view, _SCHEMA_ATTRIBUTE, {"request": request, "response": response, "query": query})
        return view

    return decorate


def _declared(view: Any) -> dict[str, type[BaseModel] | None]:
    while view is not None:  # decorators built with functools.wraps keep __wrapped__
        declared = getattr(view, _SCHEMA_ATTRIBUTE, None)
        if declared is not None:
            return declared
        view = getattr(view, "__wrapped__", None)
    return {"request": None, "response": None, "query": None}


class _Components:
    """Pydantic model schemas, with their nested definitions moved to ``components/schemas``."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def ref(self, model: type[BaseModel], mode: str) -> dict[str, Any]:
        schema = model.model_json_schema(mode=mode,  # type: ignore[arg-type]
                                         ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            self.schemas.setdefault(name, definition)
        name = f"{model.__name__}{'' if mode == 'validation' else 'Answer'}"
        self.schemas.setdefault(name, schema)
        return {"$ref": f"#/components/schemas/{name}"}


_ERROR = {"type": "object", "properties": {"error": {"type": "string"}, "details": {"type": "array"}},
          "required": ["error"]}


def _path_parameters(rule: str) -> tuple[str, list[dict[str, Any]]]:
    parameters = []

    def replace(match: re.Match[str]) -> str:
        converter, name = match.group("converter") or "default", match.group("name")
        if converter == "int":
            schema: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": MAX_DB_INTEGER}
        else:
            schema = {"type": "string", "pattern": "^[^/]+$", "minLength": 1}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    return _ARGUMENT.sub(replace, rule), parameters


def _operation(endpoint: str, method: str, declared: dict[str, Any], path_parameters: list[dict[str, Any]],
               components: _Components) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": f"{endpoint}.{method}", "parameters": list(path_parameters),
                                 "security": [{"bearer": []}]}
    query = declared["query"]
    if query is not None:
        schema = query.model_json_schema()
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            operation["parameters"].append({"name": name, "in": "query", "required": name in required,
                                            "schema": prop})
    if method in ("post", "put", "patch"):
        body = components.ref(declared["request"], "validation") if declared["request"] else {}
        operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
    answer: dict[str, Any] = components.ref(declared["response"], "serialization") if declared["response"] else {}
    operation["responses"] = {
        "200": {"description": "done", "content": {"application/json": {"schema": answer}}},
        "default": {"description": "an error (4xx)", "content": {"application/json": {"schema": _ERROR}}},
    }
    return operation


def build_openapi(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.0 document of every ``/admin/api`` route registered in ``app``."""
    components = _Components()
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(API_PREFIX + "/"):
            continue
        path, parameters = _path_parameters(rule.rule)
        declared = _declared(app.view_functions.get(rule.endpoint))
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule.endpoint, method.lower(), declared,
                                                                    parameters, components)
    return {
        "openapi": "3.0.3",
        "info": {"title": "Stepline admin API", "version": "1"},
        "paths": paths,
        "components": {"schemas": components.schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


@bp.get("/openapi.json")
@requires("viewer")
def openapi_document() -> Response:
    """The generated document (viewer role: it describes, it changes nothing)."""
    return jsonify(build_openapi(current_app))
