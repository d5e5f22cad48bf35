"""RQ jobs for scenario administration: enrolling an ``audience: all`` scenario's existing friends."""

from __future__ import annotations

import logging

from app.models.base import utcnow
from app.services import scenarios
from workers.runtime import boot

log = logging.getLogger(__name__)


def enroll_audience_job(scenario_id: str) -> int:
    """Enroll every matching friend; batches commit as they go and a re-run skips friends already in."""
    boot()
    enrolled = scenarios.enroll_audience(scenario_id, utcnow())
    log.info("audience job for scenario %s: %d friends enrolled", scenario_id, enrolled)
    return enrolled
