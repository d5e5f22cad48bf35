"""Where the claim moves each enrollment it took (shared by the claim and its PostgreSQL bulk path)."""

from __future__ import annotations

from typing import NamedTuple


class Move(NamedTuple):
    """Where a claimed enrollment goes: its status afterwards and the step it waits to time next.

    ``moved``: the claimed step became its last one (False when the step was gone and the
    enrollment stopped where it stood)."""

    status: str
    stop_reason: str | None
    next_step_id: str | None
    moved: bool
