"""Domain errors → JSON ``{"error", "details"}`` with 4xx codes on the admin API."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from app.errors import BadRequest, Conflict, NotFound, SteplineError
from app.limits import DocumentTooLarge

STATUS_BY_ERROR: dict[type[SteplineError], int] = {BadRequest: 400, NotFound: 404, Conflict: 409,
                                                   DocumentTooLarge: 413}


def error_response(status: int, message: str, details: list[object] | None = None) -> tuple[Response, int]:
    return jsonify(error=message, details=details or []), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(SteplineError)
    def _domain_error(exc: SteplineError) -> tuple[Response, int]:
        status = next((code for kind, code in STATUS_BY_ERROR.items() if isinstance(exc, kind)), 422)
        return error_response(status, str(exc), list(getattr(exc, "details", []) or []))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        if request.path.startswith(("/admin/api", "/callback")):
            return error_response(exc.code or 500, exc.description or exc.name)
        return exc.get_response()
