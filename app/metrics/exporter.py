"""``GET /metrics``: Prometheus text format, unauthenticated (Prometheus scrapes it), no secrets.

A fresh registry per scrape holds only :class:`SteplineCollector`, so every value is read at
scrape time from the database and Redis and is the same whichever web process answers.
"""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from app.current import current_settings
from app.metrics.collector import SteplineCollector
from app.models.base import utcnow
from app.work import current_work

bp = Blueprint("metrics", __name__)


def registry_for(channels: list[str]) -> CollectorRegistry:
    """A registry whose only collector reads Stepline's state when scraped."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SteplineCollector(channels, utcnow, current_work().queues))
    return registry


@bp.get("/metrics")
def metrics() -> Response:
    """Every Stepline family in the Prometheus text exposition format."""
    body = generate_latest(registry_for(sorted(current_settings().channels)))
    return Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0], content_type=CONTENT_TYPE_LATEST)
