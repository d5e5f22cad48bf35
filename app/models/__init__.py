"""Typed ORM models, one module per domain; importing this package registers them all."""

from app.models import conversations, delivery, events, friends, quota, scenarios
from app.models.base import Base

__all__ = ["Base", "conversations", "delivery", "events", "friends", "quota", "scenarios"]
