"""Shared benchmark plumbing: fresh databases, percentiles and the figure/target/ratio line."""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Sequence

import sqlalchemy as sa

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def fresh_postgres_database(prefix: str = "stepline_bench") -> str:
    """Create an empty database and return its URL (the caller drops it with drop_database)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) by nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def report(label: str, figure: float, unit: str, target: float, *, higher_is_better: bool = True) -> bool:
    """Print ``label: figure unit (target ..., ratio ...)`` and whether the target is met."""
    ratio = figure / target if higher_is_better else target / figure if figure else float("inf")
    met = ratio >= 1.0
    sign = "≥" if higher_is_better else "≤"
    print(f"{label}: {figure:,.1f} {unit} (target {sign} {target:,.0f} {unit}, ratio {ratio:.2f}) "
          f"{'OK' if met else 'BELOW TARGET'}")
    return met


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else float("nan")
