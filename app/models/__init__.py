"""Typed ORM models, one module per domain; importing this package registers them all."""

from app.models import delivery, events, friends, measure, quota, scenarios, staff
from app.models.base import Base

__all__ = ["Base", "delivery", "events", "friends", "measure", "quota", "scenarios", "staff"]
