"""A real HTTP server for the app (werkzeug, in a thread) and a headless Chromium page."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture()
def live_server(app: Flask) -> Iterator[str]:
    """The app on 127.0.0.1 with a free port; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture()
def page(live_server: str) -> Iterator[object]:
    """A fresh Chromium page at laptop size (skipped only when Chromium is not installed)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="ja-JP",
                                      timezone_id="Asia/Tokyo", base_url=live_server)
        context.set_default_timeout(10_000)
        yield context.new_page()
        context.close()
        browser.close()


@pytest.fixture()
def screenshot() -> object:
    """``screenshot(page, name)`` saves docs/screenshots/<name>.png when STEPLINE_SCREENSHOTS=1
    (``./stepline screenshots``); with ``element`` (a locator) only that part of the page."""

    def _save(page: object, name: str, element: object | None = None) -> None:
        if os.environ.get("STEPLINE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            path = str(SCREENSHOTS / f"{name}.png")
            if element is not None:
                element.screenshot(path=path)  # type: ignore[attr-defined]
            else:
                page.screenshot(path=path, full_page=True)  # type: ignore[attr-defined]

    return _save
