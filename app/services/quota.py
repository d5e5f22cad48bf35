"""Quota use cases: reconcile a channel's month with what LINE says."""

from __future__ import annotations

from datetime import datetime

from app.extensions import db
from app.quota import tracker
from app.quota.tracker import QuotaSource, QuotaStatus


def sync_channel(channel: str, client: QuotaSource, now: datetime) -> QuotaStatus:
    """Ask LINE first (nothing locked while it answers), then reconcile in one transaction."""
    answer = tracker.ask_line(channel, client)
    with db.transaction() as session:
        return tracker.reconcile(session, channel, answer, now)
