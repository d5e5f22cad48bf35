"""The web process's access log: tracked-link redirects leave no line, everything else does."""

from __future__ import annotations

import datetime
from pathlib import Path
from types import SimpleNamespace

from gunicorn.config import Config

from app.access_log import AccessLog


def _request(log: AccessLog, path: str) -> None:
    environ = {"PATH_INFO": path, "RAW_URI": path, "REQUEST_METHOD": "GET", "QUERY_STRING": "",
               "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": "127.0.0.1"}
    response = SimpleNamespace(status="302 Found", status_code=302, sent=0, headers=[], response_length=0)
    request = SimpleNamespace(headers=[], uri=path, method="GET", path=path, query="", version=(1, 1))
    log.access(response, request, environ, datetime.timedelta(milliseconds=1))


def test_clicks_leave_no_access_line_and_other_requests_do(tmp_path: Path) -> None:
    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    log = AccessLog(config)
    _request(log, "/l/AbCdEf.signed-token")
    _request(log, "/admin/scenarios")
    _request(log, "/callback")
    for handler in log.access_log.handlers:
        handler.flush()
    lines = (tmp_path / "access.log").read_text().splitlines()
    assert len(lines) == 2
    assert "/admin/scenarios" in lines[0] and "/callback" in lines[1]
    assert not any("/l/" in line for line in lines)


def test_the_procfile_web_command_uses_it() -> None:
    procfile = (Path(__file__).resolve().parents[2] / "Procfile").read_text()
    web = next(line for line in procfile.splitlines() if line.startswith("web:"))
    assert "--logger-class app.access_log.AccessLog" in web
