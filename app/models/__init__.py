"""Typed ORM models, one module per domain; importing this package registers them all."""

from app.models import contacts, conversations, delivery, events, friends, measure, quota, scenarios, staff
from app.models.base import Base

__all__ = ["Base", "contacts", "conversations", "delivery", "events", "friends", "measure", "quota", "scenarios",
           "staff"]
