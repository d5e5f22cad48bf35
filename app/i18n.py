"""Dashboard language (Flask-Babel): Japanese for ``ja`` browsers, English otherwise, and a switch.

Templates use ``{{ _('English text') }}``; catalogs live in ``app/translations/<lang>/LC_MESSAGES``.
"""

from __future__ import annotations

from flask import Flask, request
from flask_babel import Babel

LANGUAGES = ("ja", "en")
LANGUAGE_COOKIE = "stepline_lang"


def select_locale() -> str:
    """The ``?lang=`` switch (kept in a cookie), else the browser's preference; English by default."""
    chosen = request.args.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES, default="en") or "en"


def init_app(app: Flask) -> None:
    """Install ``_``/``gettext`` in Jinja and pick each request's language."""
    Babel(app, locale_selector=select_locale, default_translation_directories="translations")
