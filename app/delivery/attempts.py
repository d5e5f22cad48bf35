"""What a send batch did: each request with LINE's answer, and the batch's counts by outcome."""

from __future__ import annotations

from dataclasses import dataclass

from app.delivery.grouping import Request
from app.line.client import SendResult


@dataclass
class SendSummary:
    """Counts of one batch, by what happened to each delivery."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    held: int = 0
    skipped: int = 0
    requests: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Attempt:
    """One request and LINE's answer to it."""

    request: Request
    result: SendResult
