"""``/metrics`` parses as Prometheus text and carries every family, read across processes."""

from __future__ import annotations

import time
from datetime import timedelta

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from app.extensions import db, redis_handle
from app.heartbeat import SCHEDULER_HEARTBEAT_KEY as HEARTBEAT_KEY
from app.metrics import flush_line_calls, record_line_call
from app.models.base import utcnow
from app.models.delivery import DELIVERY_HELD, DELIVERY_SENT
from app.quota import tracker
from tests.factories import in_tx
from tests.integration.quota.quota_rows import Rows
from workers.queues import DELIVERIES, get_queue

FAMILIES = {
    "stepline_deliveries", "stepline_webhook_events", "stepline_scheduler_lag_seconds",
    "stepline_quota_used_messages", "stepline_quota_limit_messages", "stepline_quota_reserved_messages",
    "stepline_quota_external_messages", "stepline_quota_exhausted", "stepline_quota_alert",
    "stepline_line_api_calls", "stepline_line_api_latency_seconds", "stepline_quota_alerts",
    "stepline_scheduler_heartbeat_age_seconds", "stepline_scheduler_up", "stepline_rq_queue_depth",
    "stepline_rq_failed_jobs", "stepline_scrape_errors",
}


def _scrape(client: FlaskClient) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    families = text_string_to_metric_families(response.get_data(as_text=True))
    return {f.name: [(s.name, s.labels, s.value) for s in f.samples] for f in families}


def _value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return next(v for n, lab, v in samples if n == name and all(lab.get(k) == x for k, x in labels.items()))


def test_metrics_parse_and_carry_every_family(client: FlaskClient, rows: Rows) -> None:
    now = utcnow()
    rows.delivery(due_at=now, status=DELIVERY_HELD)
    rows.delivery(due_at=now, status=DELIVERY_SENT)
    assert in_tx(tracker.reserve, "default", 4, now)  # 80 % of the plan's 5: the alert fires
    record_line_call("push", "accepted", 0.03)
    record_line_call("push", "accepted", 0.2)
    record_line_call("push", "rate_limited", 12.0)
    flush_line_calls()
    redis_handle.client.set(HEARTBEAT_KEY, f"{time.time() - 2:.3f}")
    get_queue(DELIVERIES).enqueue(print, "x")

    metrics = _scrape(client)
    assert FAMILIES <= set(metrics), FAMILIES - set(metrics)
    assert _value(metrics["stepline_deliveries"], "stepline_deliveries", status="held") == 1
    assert _value(metrics["stepline_quota_used_messages"], "stepline_quota_used_messages", channel="default") == 4
    assert _value(metrics["stepline_quota_limit_messages"], "stepline_quota_limit_messages", channel="default") == 5
    assert _value(metrics["stepline_quota_alert"], "stepline_quota_alert", channel="default", threshold="80") == 1
    assert _value(metrics["stepline_quota_alert"], "stepline_quota_alert", channel="default", threshold="100") == 0
    calls = metrics["stepline_line_api_calls"]
    assert _value(calls, "stepline_line_api_calls_total", endpoint="push", outcome="accepted") == 2
    latency = metrics["stepline_line_api_latency_seconds"]
    assert _value(latency, "stepline_line_api_latency_seconds_bucket", endpoint="push", le="0.05") == 1
    assert _value(latency, "stepline_line_api_latency_seconds_bucket", endpoint="push", le="0.25") == 2
    assert _value(latency, "stepline_line_api_latency_seconds_bucket", endpoint="push", le="+Inf") == 3
    assert _value(latency, "stepline_line_api_latency_seconds_count", endpoint="push") == 3
    assert 1.5 < _value(metrics["stepline_scheduler_heartbeat_age_seconds"],
                        "stepline_scheduler_heartbeat_age_seconds") < 30
    assert _value(metrics["stepline_scheduler_up"], "stepline_scheduler_up") == 1
    assert _value(metrics["stepline_rq_queue_depth"], "stepline_rq_queue_depth", queue=DELIVERIES) == 1
    assert all(v == 0 for _, _, v in metrics["stepline_scrape_errors"])


def test_scheduler_lag_is_the_oldest_due_enrollment(client: FlaskClient, rows: Rows) -> None:
    from app.models.delivery import Enrollment
    from app.models.scenarios import Scenario

    now = utcnow()
    friend_id = rows.friend()
    with db.transaction() as session:
        session.add(Scenario(id="lagging", name="lagging", status="live"))
        session.flush()
        session.add(Enrollment(friend_id=friend_id, scenario_id="lagging", start_at=now - timedelta(hours=1),
                               next_step_id="s1", next_run_at=now - timedelta(seconds=90)))
    lag = _value(_scrape(client)["stepline_scheduler_lag_seconds"], "stepline_scheduler_lag_seconds")
    assert 89 <= lag < 120


def test_metrics_need_no_login_and_show_no_secrets(client: FlaskClient) -> None:
    body = client.get("/metrics").get_data(as_text=True)
    assert "test-token" not in body and "test-channel-secret" not in body and "test-admin" not in body
    assert "stepline_scheduler_up 0.0" in body  # no heartbeat yet


def test_a_dead_redis_is_reported_not_fatal(client: FlaskClient, monkeypatch: object) -> None:
    redis_handle.bind("redis://127.0.0.1:9/0")
    metrics = _scrape(client)
    errors = {lab["source"]: v for _, lab, v in metrics["stepline_scrape_errors"]}
    assert errors == {"database": 0, "line_calls": 1, "quota_alerts": 1, "scheduler": 1, "rq": 1, "measurement": 0}
    assert "stepline_deliveries" in metrics
