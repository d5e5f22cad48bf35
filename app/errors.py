"""Exception types the edges (views, CLI, jobs) translate into answers, exit codes or retries."""

from __future__ import annotations


class SteplineError(Exception):
    """Base of every error a caller can act on."""


class NotFound(SteplineError):
    """The named object does not exist."""


class Conflict(SteplineError):
    """The request does not fit the object's current state."""


class BadRequest(SteplineError):
    """The request itself is malformed."""

    def __init__(self, message: str, details: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.details = details or []
