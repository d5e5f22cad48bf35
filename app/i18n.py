"""Dashboard language (Flask-Babel): Japanese for ``ja`` browsers, English otherwise, and a switch.

Templates use ``{{ _('English text') }}``; catalogs live in ``app/translations/<lang>/LC_MESSAGES``
and are rebuilt with ``./stepline i18n`` (``flask --app wsgi i18n update``, see ``app.i18n_catalogs``).
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask, request
from flask_babel import Babel, get_locale
from werkzeug.wrappers import Response

LANGUAGES = ("ja", "en")
LANGUAGE_COOKIE = "stepline_lang"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
# the zone the dashboard shows times in is labelled with this short name where it has one
ZONE_LABELS = {"Asia/Tokyo": "JST", "UTC": "UTC", "Etc/UTC": "UTC"}


def select_locale() -> str:
    """The ``?lang=`` switch (kept in a cookie), else the browser's preference; English by default."""
    chosen = request.args.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES, default="en") or "en"


def current_language() -> str:
    """``ja`` or ``en``: what this response is rendered in (for ``<html lang>`` and the switch)."""
    locale = get_locale()
    return locale.language if locale is not None else "en"


def language_url(language: str) -> str:
    """This page again in ``language``: the same path and query with ``lang`` replaced."""
    args = request.args.to_dict(flat=False)
    args["lang"] = [language]
    query = urlencode(args, doseq=True)
    return f"{request.path}?{query}"


def _remember_choice(response: Response) -> Response:
    """``?lang=ja|en`` sticks: the choice goes into a long-lived cookie on the same response."""
    chosen = request.args.get("lang")
    if chosen in LANGUAGES and request.cookies.get(LANGUAGE_COOKIE) != chosen:
        response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=LANGUAGE_COOKIE_AGE, samesite="Lax", httponly=True,
                            secure=request.is_secure)
    return response


def init_app(app: Flask) -> None:
    """Install ``_``/``gettext`` in Jinja, pick each request's language and remember a switch."""
    Babel(app, locale_selector=select_locale, default_translation_directories="translations")
    app.add_template_global(current_language, "current_language")
    app.add_template_global(language_url, "language_url")
    app.after_request(_remember_choice)
