"""Benchmark: contact management on PostgreSQL (SPEC §8).

    python bench/friends.py [--friends 1000000] [--database-url postgresql://postgres@127.0.0.1/stepline_bench_friends]

Creates (drops first) the database, migrates it, inserts N friends with 10 attributes and 3 tags
each server-side, then measures, printing figure, target and ratio for each:

- count of a 3-condition AND/OR filter, p95 over ``--rounds`` runs (≤ 200 ms);
- the first page (100) of a search with that filter, exact total included, p95 (≤ 100 ms);
- CSV import of ``--import-rows`` rows (≥ 20,000 rows/s; peak RSS before/after must stay flat);
- encrypted export of every friend (1,000,000 rows ≤ 60 s, scaled to N; flat RSS);
- bulk tag of 10% of the friends (100,000 at N = 1,000,000: ≤ 10 s, scaled);
- bulk enroll of a segment of 10% of the friends (≥ 20,000 enrollments/s).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import normalize_database_url  # noqa: E402
from app.extensions import db  # noqa: E402
from app.friends.segments import parse_filter  # noqa: E402
from app.services import contacts, friend_export, friend_import  # noqa: E402
from app.services import scenarios as scenario_service  # noqa: E402
from app.services import segments as segment_service  # noqa: E402
from bench.common import percentile, report  # noqa: E402
from bench.enroll import fresh_database  # noqa: E402

NOW = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
FILTER = {"all": [{"attribute": "plan", "eq": "gold"},
                  {"any": [{"tag": "t3"}, {"attribute": "age", "gte": 60}]}]}
TENTH = {"attribute": "score", "lt": 100}  # 10% of the friends (score = i % 1000)
SCENARIO = """\
id: bench-manual
name: bench manual
status: live
timezone: UTC
start: {trigger: manual, from: trigger_time}
steps:
  - id: hello
    at: {after: 1h}
    messages: [{text: "hello {display_name}"}]
"""


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def seed(count: int) -> float:
    """N friends, 10 attributes and 3 tags each, in three server-side statements."""
    started = time.perf_counter()
    with db.transaction() as session:
        session.execute(sa.text("""
            INSERT INTO friends (channel, user_id, display_name, status, opted_out, attributes, followed_at,
                                 created_at, updated_at)
            SELECT 'default', 'U' || lpad(g::text, 32, '0'), 'friend ' || g, 'active', g % 17 = 0,
                   jsonb_build_object('plan', (ARRAY['gold', 'silver', 'free'])[g % 3 + 1], 'age', g % 80,
                                      'score', g % 1000, 'city', 'city-' || (g % 50), 'member', g % 2 = 0,
                                      'joined', to_char(date '2020-01-01' + (g % 2000), 'YYYY-MM-DD'),
                                      'visits', (g % 37)::text, 'rank', (ARRAY['a', 'b', 'c', 'd'])[g % 4 + 1],
                                      'note', 'note ' || (g % 101), 'ltv', (g % 5000) * 1.5),
                   :now - make_interval(mins => g % 100000), :now, :now
            FROM generate_series(1, :n) AS g"""), {"n": count, "now": NOW})
        for k in range(3):
            session.execute(sa.text(
                "INSERT INTO friend_tags (friend_id, tag, created_at) "
                "SELECT id, 't' || ((id * 7 + :k * 5) % 20), :now FROM friends ON CONFLICT DO NOTHING"),
                {"k": k, "now": NOW})
    with db.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.execute(sa.text("VACUUM ANALYZE friends"))
        connection.execute(sa.text("VACUUM ANALYZE friend_tags"))
    return time.perf_counter() - started


def timed(rounds: int, work: object) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def bench_count_and_page(rounds: int) -> tuple[bool, bool]:
    node = parse_filter(FILTER)
    with db.session() as session:
        criteria = contacts.Criteria([], filter=node)
        condition = criteria.condition(session, NOW)
        matched = contacts._count(session, condition)  # the use cases' cores, in one session
        counts = timed(rounds, lambda: contacts._count(session, criteria.condition(session, NOW)))
        pages = timed(rounds, lambda: contacts._search(session, criteria, 1, 100, NOW))
    print(f"filter {FILTER} matches {matched:,}")
    ok_count = report("count, 3-condition AND/OR filter, p95", percentile(counts, 95), "ms", 200,
                      higher_is_better=False)
    ok_page = report("first page of a search (total included), p95", percentile(pages, 95), "ms", 100,
                     higher_is_better=False)
    return ok_count, ok_page


def bench_import(rows: int) -> bool:
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8") as handle:
        handle.write("\ufeffuser_id,plan,age,city,tags,opted_out\n")
        for i in range(rows):  # half update existing friends, half are new
            user = f"U{i * 2 + 1:032d}" if i % 2 else f"Unew{i:029d}"
            handle.write(f"{user},{'gold' if i % 3 else 'free'},{i % 90},imported-{i % 7},imp;t{i % 5},false\n")
        path = handle.name
    rss = peak_rss_mib()
    started = time.perf_counter()
    with open(path, "rb") as stream:
        result = friend_import.import_csv(friend_import.text_lines(stream), NOW)
    seconds = time.perf_counter() - started
    Path(path).unlink()
    print(f"import: {result.to_dict()} in {seconds:.1f} s; peak RSS {rss:.1f} MiB before, {peak_rss_mib():.1f} after")
    return report("import", rows / seconds, "rows/s", 20_000)


def bench_export(count: int) -> bool:
    rss = peak_rss_mib()
    started = time.perf_counter()
    with tempfile.TemporaryFile() as target:
        criteria, columns = friend_export.check_export(None, None)
        rows = friend_export.write_export(criteria, columns, "bench-password", target, NOW)
        size = target.tell()
    seconds = time.perf_counter() - started
    print(f"export: {rows:,} rows, {len(columns)} columns, {size / 1e6:.1f} MB zip in {seconds:.1f} s; "
          f"peak RSS {rss:.1f} MiB before, {peak_rss_mib():.1f} after")
    return report("export, seconds per 1,000,000 rows", seconds * 1_000_000 / rows, "s", 60, higher_is_better=False)


def bench_bulk_tag() -> bool:
    started = time.perf_counter()
    result = contacts.bulk({"select": {"filter": TENTH}, "action": "add_tag", "value": "bulk"}, NOW)
    seconds = time.perf_counter() - started
    print(f"bulk tag: {result} in {seconds:.2f} s")
    return report("bulk tag, seconds per 100,000 friends", seconds * 100_000 / result["changed"], "s", 10,
                  higher_is_better=False)


def bench_enroll_segment() -> bool:
    segment_service.put_segment("tenth", {"name": "a tenth", "filter": TENTH}, NOW, with_count=False)
    scenario_service.upload([("bench-manual.yaml", SCENARIO)], NOW)
    started = time.perf_counter()
    result = contacts.bulk({"select": {"segment": "tenth"}, "action": "enroll", "value": "bench-manual"}, NOW)
    seconds = time.perf_counter() - started
    print(f"enroll segment: {result} in {seconds:.2f} s")
    return report("enrolling a segment", result["changed"] / seconds, "enrollments/s", 20_000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/stepline_bench_friends")
    parser.add_argument("--friends", type=int, default=1_000_000)
    parser.add_argument("--import-rows", type=int, default=0, help="default: as many as --friends")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    url = normalize_database_url(args.database_url)
    if not url.startswith("postgresql"):
        raise SystemExit("this benchmark targets PostgreSQL")
    fresh_database(url)
    db.bind(url)
    print(f"{args.friends:,} friends (10 attributes, 3 tags each) seeded in {seed(args.friends):.1f} s")
    results = [*bench_count_and_page(args.rounds), bench_bulk_tag(), bench_enroll_segment(),
               bench_export(args.friends), bench_import(args.import_rows or args.friends)]
    db.dispose()
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
