"""Validation errors for scenario documents, with positions an admin can jump to."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from app.errors import BadRequest


@dataclass(frozen=True)
class Issue:
    """One problem in one file: 1-based line/column (None when unknown), field path, message."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready form for API answers."""
        return asdict(self)

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ScenarioInvalid(BadRequest):
    """One or more scenario documents are invalid; nothing was accepted.

    Subclasses ``BadRequest`` so edges that already map it to 4xx JSON get ``details`` for free.
    """

    def __init__(self, errors: list[Issue]) -> None:
        self.errors = list(errors)
        super().__init__(f"{len(self.errors)} scenario error(s)", details=[e.to_dict() for e in self.errors])

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)
