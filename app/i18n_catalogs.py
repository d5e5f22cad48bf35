"""Message catalogs: extract ``_()`` strings, merge them into each language's ``.po``, compile ``.mo``.

Babel's own APIs (what ``pybabel extract/update/compile`` do), so one command rebuilds the
catalogs after new templates land: ``./stepline i18n`` or ``flask --app wsgi i18n update``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "app" / "translations"
BABEL_CFG = ROOT / "babel.cfg"
TRANSLATED_LANGUAGES = ("ja",)  # English is the source language
KEYWORDS = {"_": None, "_l": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None}


@dataclass(frozen=True)
class CatalogReport:
    """What an update found for one language."""

    language: str
    messages: int
    untranslated: list[str]


def extract() -> Catalog:
    """Every translatable string of the app (Python and dashboard templates), with locations."""
    with BABEL_CFG.open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle, filename=str(BABEL_CFG))
    catalog = Catalog(project="Stepline", version="1", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def _po_path(language: str) -> Path:
    return TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"


def read_catalog(language: str) -> Catalog:
    """The language's ``.po`` (an empty catalog when there is none yet)."""
    path = _po_path(language)
    if not path.exists():
        return Catalog(locale=language, charset="utf-8")
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def untranslated(template: Catalog, catalog: Catalog) -> list[str]:
    """Template strings the catalog lacks or has empty/fuzzy (so they would show in English)."""
    missing = []
    for message in template:
        if not message.id:
            continue
        found = catalog.get(message.id, context=message.context)
        text = found.string if found is not None else None
        if found is None or found.fuzzy or not text or (isinstance(text, tuple) and not all(text)):
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def update() -> list[CatalogReport]:
    """Re-extract, write ``messages.pot``, merge it into every ``.po`` and compile the ``.mo`` files."""
    template = extract()
    TRANSLATIONS.mkdir(parents=True, exist_ok=True)
    with (TRANSLATIONS / "messages.pot").open("wb") as handle:
        write_po(handle, template, omit_header=False, sort_output=True)
    reports = []
    for language in TRANSLATED_LANGUAGES:
        catalog = read_catalog(language)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.fuzzy = False  # the header is ours, not a guess: keep it in the compiled catalog
        catalog.project, catalog.version = "Stepline", "1"
        path = _po_path(language)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write_po(handle, catalog, sort_output=True, ignore_obsolete=True, include_previous=False)
        reports.append(CatalogReport(language, len(template) - 1, untranslated(template, catalog)))
    compile_all()
    return reports


def compile_all() -> list[Path]:
    """``messages.po`` → ``messages.mo`` for every language (what Flask-Babel loads)."""
    written = []
    for language in TRANSLATED_LANGUAGES:
        catalog = read_catalog(language)
        target = _po_path(language).with_suffix(".mo")
        with target.open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)
        written.append(target)
    return written
