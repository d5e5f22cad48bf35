"""Staff logins against real gunicorn workers: the instance key and the server-side sessions are
shared by every worker, and a logout ends the session for every copy of the cookie (SPEC §7)."""

from __future__ import annotations

import re
import stat
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

from demo.staff import create_demo_staff
from devstack.processes import Stack


class Browser:
    """A cookie-keeping HTTP client that does not follow redirects (we assert on them)."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    def __init__(self, base_url: str, cookie: str | None = None) -> None:
        self.base_url, self.cookie = base_url, cookie

    def request(self, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        jar = CookieJar()
        opener = urllib.request.build_opener(self._NoRedirect(), urllib.request.HTTPCookieProcessor(jar))
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.base_url + path, data=data)
        if self.cookie:
            request.add_header("Cookie", f"session={self.cookie}")
        try:
            with opener.open(request, timeout=30) as response:
                status, body = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read().decode()
        for cookie in jar:
            if cookie.name == "session":
                self.cookie = cookie.value
        return status, body

    def csrf(self, path: str = "/admin/login") -> str:
        match = re.search(r'name="csrf_token" value="([^"]+)"', self.request(path)[1])
        assert match
        return match.group(1)


def test_staff_sessions_span_gunicorn_workers_and_end_at_logout(stack: Stack, tmp_path: Path) -> None:
    stack.env.pop("SECRET_KEY", None)
    stack.env["STEPLINE_INSTANCE_PATH"] = str(tmp_path / "instance")
    (owner_email, _, owner_password), _ = create_demo_staff(stack)
    stack.start_web(workers=3, threads=1)
    browser = Browser(stack.base_url)
    status, _ = browser.request("/admin/login", {"email": owner_email, "password": owner_password,
                                                 "csrf_token": browser.csrf()})
    assert status == 302
    assert all(browser.request("/admin/staff")[0] == 200 for _ in range(12))  # whichever worker answers
    key_file = tmp_path / "instance" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    copy = Browser(stack.base_url, browser.cookie)
    assert copy.request("/admin/friends")[0] == 200
    assert browser.request("/admin/logout", {"csrf_token": browser.csrf("/admin/account")})[0] == 302
    assert all(copy.request("/admin/friends")[0] == 302 for _ in range(6))
