"""A Prometheus collector evaluated at scrape time from the database and Redis.

Workers and the scheduler are separate processes, so nothing is kept in this process's memory:
counts come from the database (deliveries, webhook events, quota) and from the Redis hashes the
recorder writes (LINE calls, latency, alerts). A failing source drops its families and is
reported in ``stepline_scrape_errors`` instead of failing the scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from app import heartbeat
from app.conversations.handoffs import count_open as count_open_handoffs
from app.extensions import db, redis_handle
from app.metrics.measurement import measurement_metrics
from app.metrics.recorder import INF, LATENCY_BUCKETS, LINE_CALLS_KEY, LINE_LATENCY_KEY, QUOTA_ALERTS_KEY
from app.models.delivery import ENROLLMENT_ACTIVE, Delivery, Enrollment
from app.models.events import WebhookEvent
from app.models.quota import QuotaMonth
from app.models.scenarios import SCENARIO_LIVE, Scenario
from app.quota.forecast import forecast
from app.quota.months import month_key
from app.quota.tracker import status
from app.quota.usage import quota_config
from app.work import QueueState

log = logging.getLogger(__name__)

SCHEDULER_DOWN_AFTER_S = 30.0


class SteplineCollector(Collector):
    """Every Stepline family, read fresh on each scrape."""

    def __init__(self, channels: Sequence[str], now: Callable[[], datetime],
                 queues: Callable[[], list[QueueState]]) -> None:
        self.channels = list(channels)
        self.now = now
        self.queues = queues

    def collect(self) -> Iterator[Metric]:
        errors = GaugeMetricFamily("stepline_scrape_errors", "1 when a metrics source could not be read",
                                   labels=["source"])
        now = self.now()
        sections: list[tuple[str, Callable[[], Iterable[Metric]]]] = [
            ("database", lambda: self._database(now)),
            ("line_calls", self._line_calls),
            ("quota_alerts", self._alert_counts),
            ("scheduler", lambda: self._heartbeat()),
            ("rq", self._queues),
            ("measurement", measurement_metrics),
        ]
        for source, section in sections:
            try:
                metrics = list(section())
            except Exception as exc:  # noqa: BLE001 - one dead source must not hide the others
                log.warning("metrics source %s unavailable: %s", source, type(exc).__name__)
                errors.add_metric([source], 1)
                continue
            errors.add_metric([source], 0)
            yield from metrics
        yield errors

    def _database(self, now: datetime) -> Iterator[Metric]:
        with db.read() as session:
            deliveries = GaugeMetricFamily("stepline_deliveries", "Deliveries (outbox rows) by status",
                                           labels=["status"])
            for state, count in session.execute(sa.select(Delivery.status, sa.func.count())
                                                .group_by(Delivery.status)):
                deliveries.add_metric([state], count)
            yield deliveries

            events = GaugeMetricFamily("stepline_webhook_events", "Webhook events stored in the ledger by type",
                                       labels=["type"])
            for kind, count in session.execute(sa.select(WebhookEvent.type, sa.func.count())
                                               .group_by(WebhookEvent.type)):
                events.add_metric([kind], count)
            yield events

            oldest = session.scalar(
                sa.select(sa.func.min(Enrollment.next_run_at))
                .join(Scenario, Scenario.id == Enrollment.scenario_id)
                .where(Enrollment.status == ENROLLMENT_ACTIVE, Enrollment.next_run_at.is_not(None),
                       Enrollment.next_run_at <= now, Scenario.status == SCENARIO_LIVE)
            )
            lag = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
            yield GaugeMetricFamily("stepline_scheduler_lag_seconds",
                                    "Age of the oldest due enrollment not yet claimed by the scheduler", value=lag)
            yield GaugeMetricFamily("stepline_handoffs_open", "Friends handed to staff and waiting for an answer",
                                    value=count_open_handoffs(session))
            yield from self._quota(session, now)

    def _quota(self, session: sa.orm.Session, now: datetime) -> Iterator[Metric]:
        month = month_key(now, quota_config().timezone)
        known = session.scalars(sa.select(QuotaMonth.channel).where(QuotaMonth.month == month))
        channels = sorted(set(self.channels) | set(known))
        used = GaugeMetricFamily("stepline_quota_used_messages", "Messages counted this month", labels=["channel"])
        limit = GaugeMetricFamily("stepline_quota_limit_messages", "Monthly message limit (absent: unlimited)",
                                  labels=["channel"])
        reserved = GaugeMetricFamily("stepline_quota_reserved_messages", "Messages reserved by our pushes",
                                     labels=["channel"])
        external = GaugeMetricFamily("stepline_quota_external_messages",
                                     "Messages LINE counted beyond ours (e.g. OA Manager)", labels=["channel"])
        exhausted = GaugeMetricFamily("stepline_quota_exhausted", "1 when LINE refused pushes for the monthly limit",
                                      labels=["channel"])
        alert = GaugeMetricFamily("stepline_quota_alert", "1 when the 80 or 100 percent alert fired this month",
                                  labels=["channel", "threshold"])
        at_risk = GaugeMetricFamily("stepline_quota_at_risk",
                                    "1 when this month's forecast passes the limit that is not reached yet",
                                    labels=["channel"])
        for channel in channels:
            quota = status(session, channel, now)
            used.add_metric([channel], quota.used)
            reserved.add_metric([channel], quota.reserved)
            external.add_metric([channel], quota.external)
            exhausted.add_metric([channel], int(quota.exhausted))
            if quota.limit is not None:
                limit.add_metric([channel], quota.limit)
            for threshold in ("80", "100"):
                alert.add_metric([channel, threshold], int(threshold in quota.alerts))
            if quota.limit is not None:
                at_risk.add_metric([channel], int(forecast(session, channel, now).at_risk))
        yield from (used, limit, reserved, external, exhausted, alert, at_risk)

    def _line_calls(self) -> Iterator[Metric]:
        client = redis_handle.client
        pipe = client.pipeline(transaction=False)
        pipe.hgetall(LINE_CALLS_KEY)
        pipe.hgetall(LINE_LATENCY_KEY)
        calls_raw, latency_raw = pipe.execute()
        calls = CounterMetricFamily("stepline_line_api_calls", "LINE API calls by endpoint and outcome",
                                    labels=["endpoint", "outcome"])
        for field, count in sorted(_decoded(calls_raw).items()):
            endpoint, _, outcome = field.partition("|")
            calls.add_metric([endpoint, outcome], float(count))
        yield calls
        latency = HistogramMetricFamily("stepline_line_api_latency_seconds", "LINE API call latency",
                                        labels=["endpoint"])
        fields = _decoded(latency_raw)
        endpoints = sorted({f.rsplit("|", 1)[0] for f in fields})
        for endpoint in endpoints:
            cumulative, buckets = 0.0, []
            for le in [repr(b) for b in LATENCY_BUCKETS] + [INF]:
                cumulative += float(fields.get(f"{endpoint}|{le}", 0))
                buckets.append((le, cumulative))
            latency.add_metric([endpoint], buckets, sum_value=float(fields.get(f"{endpoint}|sum", 0)))
        yield latency

    def _alert_counts(self) -> Iterator[Metric]:
        fired = CounterMetricFamily("stepline_quota_alerts", "Quota alerts fired", labels=["channel", "threshold"])
        for field, count in sorted(_decoded(redis_handle.client.hgetall(QUOTA_ALERTS_KEY)).items()):
            channel, _, threshold = field.partition("|")
            fired.add_metric([channel, threshold], float(count))
        yield fired

    def _heartbeat(self) -> Iterator[Metric]:
        age = heartbeat.age_seconds()
        if age is not None:
            yield GaugeMetricFamily("stepline_scheduler_heartbeat_age_seconds",
                                    "Seconds since the scheduler last completed a tick", value=age)
        yield GaugeMetricFamily("stepline_scheduler_up", "1 when the scheduler ticked recently",
                                value=int(age is not None and age < SCHEDULER_DOWN_AFTER_S))

    def _queues(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("stepline_rq_queue_depth", "Jobs waiting in each RQ queue", labels=["queue"])
        failed = GaugeMetricFamily("stepline_rq_failed_jobs", "Jobs in each queue's failed registry",
                                   labels=["queue"])
        for queue in self.queues():
            depth.add_metric([queue.name], queue.depth)
            failed.add_metric([queue.name], queue.failed)
        yield from (depth, failed)


def _decoded(raw: Any) -> dict[str, str]:
    def text(value: bytes | str) -> str:
        return value.decode() if isinstance(value, bytes) else value

    return {text(key): text(value) for key, value in (raw or {}).items()}
