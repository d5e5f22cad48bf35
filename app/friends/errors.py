"""Errors of the contact-management domain (the admin API answers them 422 with the details)."""

from __future__ import annotations

from app.errors import SteplineError


class Invalid(SteplineError):
    """Input that parses but does not fit (a filter, a field value, a CSV cell); ``details`` name each problem."""

    def __init__(self, message: str, details: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.details = details
