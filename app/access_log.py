"""Gunicorn's access log without one line per tracked-link click (``--logger-class`` in the Procfile).

A multicast is followed by a burst of clicks; writing an access line for each cost gunicorn
about a third of its CPU per request (``bench.clicks``), and the line would carry the click's
token, which names a delivery. Every click is recorded in ``link_clicks`` anyway (and counted in
``/metrics``), so the redirects are left out; every other request is logged as before.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from app.public.fastlinks import PREFIX


class AccessLog(Logger):
    """The default logger, silent for ``/l/<token>`` redirects."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if environ.get("PATH_INFO", "").startswith(PREFIX):
            return
        super().access(resp, req, environ, request_time)
