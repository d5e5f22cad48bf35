"""Delivery engine: enrollment, scheduling, sending, rules — plain Python over the database."""
