"""What the running Flask app was built with, for views and commands (never for the domain)."""

from __future__ import annotations

from flask import current_app

from app.config import Settings


def current_settings() -> Settings:
    """The settings of the running Flask app."""
    settings: Settings = current_app.extensions["stepline"]
    return settings
