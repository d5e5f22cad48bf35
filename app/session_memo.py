"""Values computed once per transaction: a worker's batch transaction asks the same question for
every friend's message (the channel's live rule sets, its keyword-started scenarios, what the
batch read ahead), and the answer cannot change inside it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")
_KEY = "stepline_memo"


def memo(session: Session, key: Any, compute: Callable[[], T]) -> T:
    """``compute()`` the first time this transaction asks for ``key``, the same value after. Outside
    a transaction (the read begins one) nothing is kept: there is nothing to share yet."""
    memos = _memos(session)
    if memos is None:
        return compute()
    if key not in memos:
        memos[key] = compute()
    return memos[key]  # type: ignore[no-any-return]


def put(session: Session, key: Any, value: Any) -> None:
    """Keep ``value`` for ``key`` for the rest of this transaction (no transaction: not kept)."""
    memos = _memos(session)
    if memos is not None:
        memos[key] = value


def peek(session: Session, key: Any) -> Any:
    """What this transaction keeps for ``key``, or None."""
    memos = _memos(session)
    return None if memos is None else memos.get(key)


def _memos(session: Session) -> dict[Any, Any] | None:
    transaction = session.get_transaction()
    if transaction is None:
        return None
    owner, memos = session.info.get(_KEY, (None, None))
    if owner is not transaction or memos is None:
        memos = {}
        session.info[_KEY] = (transaction, memos)
    return memos  # type: ignore[no-any-return]
