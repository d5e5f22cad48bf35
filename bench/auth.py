"""What authentication costs: an argon2id verify (the price of one password guess) and the
per-request lookups of a bearer token and of a server-side session (PostgreSQL by default).

    python -m bench.auth [--rounds 200] [--sqlite]

Prints the median argon2id verify (target ≥ 50 ms: guesses stay expensive, logins stay quick)
and the median token and session lookups (target ≤ 5 ms each: a small share of any request).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta

from app.extensions import db
from app.migrate import upgrade_to_head
from app.services import staff as staff_service
from app.services import staff_sessions
from app.staff.credentials import hash_password, verify_password
from bench.common import drop_database, fresh_postgres_database, report


def _median_ms(action: Callable[[], object], rounds: int) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.auth", description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--sqlite", action="store_true", help="a temporary SQLite file instead of PostgreSQL")
    args = parser.parse_args(argv)
    url = f"sqlite:///{tempfile.mkdtemp()}/auth.db" if args.sqlite else fresh_postgres_database()
    try:
        db.bind(url)
        upgrade_to_head(url)
        stored = hash_password("correct horse battery")
        verify_ms = _median_ms(lambda: verify_password(stored, "correct horse battery"), max(args.rounds // 10, 5))
        staff_service.create_staff("bench@example.com", "operator", None)
        token = staff_service.create_token("bench@example.com", "bench")
        member = staff_service.get_staff("bench@example.com")
        session_id = staff_sessions.create({"csrf_token": "x"}, timedelta(hours=1), member.email, member.id)
        token_ms = _median_ms(lambda: staff_service.identify_token(token), args.rounds)
        session_ms = _median_ms(lambda: (staff_sessions.load(session_id), staff_service.identify_staff(member.id)),
                                args.rounds)
        ok = report("argon2id verify", verify_ms, "ms", 50.0)
        ok &= report("bearer token lookup", token_ms, "ms", 5.0, higher_is_better=False)
        ok &= report("session lookup (row + staff)", session_ms, "ms", 5.0, higher_is_better=False)
        return 0 if ok else 1
    finally:
        db.dispose()
        if not args.sqlite:
            drop_database(url)


if __name__ == "__main__":
    raise SystemExit(main())
